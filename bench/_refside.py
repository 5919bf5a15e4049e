"""The reference side of the collector benchmark: azureml-ai-monitoring==1.0.0.

Run by ``bench/collector.py`` with the python of the benchmark's own reference venv, one process
per measurement. The SDK is configured by the environment the parent sets (sidecar host and port,
and either a collections config file or the legacy switches) and posts to the local sink.
Usage: ``_refside.py --spec JSON --out RESULT.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

from azureml.ai.monitoring import Collector
from azureml.ai.monitoring.init import teardown

from _refsink import read_stats
from _workload import (
    COLLECTION,
    WARMUP_COLLECTION,
    FullGcWatch,
    burst,
    freeze_heap,
    lead_in,
    make_frame,
    paced,
    summarize_ns,
    tight_loop,
    write_result,
)


class DropCounter:
    """The on_error handler: the SDK reports a full queue through it."""

    def __init__(self) -> None:
        self.count = 0
        self.last = ""

    def __call__(self, error: Exception) -> None:
        self.count += 1
        self.last = str(error)


def _sink() -> tuple[str, int]:
    return os.environ["AZUREML_MDC_HOST"], int(os.environ["AZUREML_MDC_PORT"])


def _warm_up(rows: int) -> None:
    """Start the SDK and its worker, and wait (bounded) until the sink has seen a post."""
    host, port = _sink()
    before = read_stats(host, port)["requests"]
    warm = Collector(name=WARMUP_COLLECTION, on_error=DropCounter())
    frame = make_frame(rows, seed=1)
    for _ in range(3):
        warm.collect(frame)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and read_stats(host, port)["requests"] < before + 3:
        time.sleep(0.02)


def _flush(max_wait: float) -> tuple[bool, float]:
    """The SDK's own flush: ``teardown(wait_for_flush=True)`` joins its worker once the queue is
    drained. Run on a helper thread so the wait is bounded. Returns (finished, monotonic end)."""
    done = threading.Thread(target=teardown, kwargs={"wait_for_flush": True}, daemon=True)
    done.start()
    done.join(max_wait)
    return not done.is_alive(), time.monotonic()


def run_burst(spec: dict[str, Any]) -> dict[str, Any]:
    """Caller cost of collect() over a burst (big queue: nothing should drop), with the full
    collections that ran meanwhile; ``spec["freeze"]`` freezes the heap first."""
    _warm_up(spec["rows"])
    drops = DropCounter()
    collector = Collector(name=COLLECTION, on_error=drops)
    frame = make_frame(spec["rows"])
    frozen = freeze_heap(spec)  # after imports and warm-up, before the lead-in
    host, port = _sink()
    posted_before = read_stats(host, port)["requests"]
    busy = lead_in(
        collector.collect,
        frame,
        spec["lead_in"],
        lambda: read_stats(host, port)["requests"] > posted_before,
        timeout=5.0,
    )
    with FullGcWatch() as gcs:
        samples = burst(collector.collect, frame, spec["count"])
    return {
        "samples_ns": samples,
        "dropped": drops.count,
        "writer_busy_at_start": busy,
        "frozen_objects": frozen,
        **gcs.result(),
        **summarize_ns(samples),
    }


def _delivery(
    spec: dict[str, Any], sent: int, start: float, end: float, drops: DropCounter,
    before: dict[str, Any],
) -> dict[str, Any]:
    finished, flushed_at = _flush(spec["max_flush"])
    host, port = _sink()
    # the sink counts after replying: wait (bounded) until every accepted post is counted
    expected = before["requests"] + sent - drops.count
    deadline = time.monotonic() + 10.0
    after = read_stats(host, port)
    while after["requests"] < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        after = read_stats(host, port)
    delivered_rows = after["rows"] - before["rows"]
    delivered_events = after["requests"] - before["requests"]
    elapsed = flushed_at - start
    return {
        "sent": sent,
        "loop_seconds": end - start,
        "dropped": drops.count,
        "drop_message": drops.last,
        "flushed": finished,
        "elapsed": elapsed,
        "committed_events": delivered_events,
        "committed_rows": delivered_rows,
        "events_per_s": delivered_events / elapsed,
        "rows_per_s": delivered_rows / elapsed,
    }


def run_tight(spec: dict[str, Any]) -> dict[str, Any]:
    """Throughput: a tight loop of collect() calls, then the SDK's flush (bounded)."""
    _warm_up(spec["rows"])
    host, port = _sink()
    before = read_stats(host, port)
    drops = DropCounter()
    collector = Collector(name=COLLECTION, on_error=drops)
    frame = make_frame(spec["rows"])
    sent, start, end = tight_loop(collector.collect, frame, spec["max_frames"], spec["max_seconds"])
    return _delivery(spec, sent, start, end, drops, before)


def run_paced(spec: dict[str, Any]) -> dict[str, Any]:
    """Zero-drop check: 1-row frames paced from one thread, then the SDK's flush (bounded)."""
    _warm_up(spec["rows"])
    host, port = _sink()
    before = read_stats(host, port)
    drops = DropCounter()
    collector = Collector(name=COLLECTION, on_error=drops)
    frame = make_frame(spec["rows"])
    sent, start, end = paced(collector.collect, frame, spec["rate"], spec["seconds"])
    result = _delivery(spec, sent, start, end, drops, before)
    result["send_rate"] = sent / (end - start)
    return result


SCENARIOS = {"burst": run_burst, "tight": run_tight, "paced": run_paced}


def main() -> None:
    """Run one measurement, write its result, and leave without waiting for the SDK's threads."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    result = SCENARIOS[spec["scenario"]](spec)
    write_result(args.out, result)
    os._exit(0)  # a burst leaves the SDK's daemon worker mid-post: do not wait for it


if __name__ == "__main__":
    main()
