"""The modeltap side of the collector benchmark, one process per measurement.

Run by ``bench/collector.py`` with the project's python. Writes to a fresh local destination and
verifies what it reports by reading the committed files back.
Usage: ``_tapside.py --spec JSON --out RESULT.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import orjson

import modeltap
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


def _configure(spec: dict[str, Any], **overrides: Any) -> None:
    """Point modeltap at the spec's destination with the given data_collector keys."""
    modeltap.configure({"destination": spec["destination"], **overrides})


def _counters() -> modeltap.CollectionStats:
    return modeltap.stats().collections.get(COLLECTION, modeltap.CollectionStats())


def _warm_up(rows: int) -> None:
    """Start the pipeline and load the writer's encoders before anything is timed."""
    warm = modeltap.Collector(name=WARMUP_COLLECTION)
    frame = make_frame(rows, seed=1)
    for _ in range(3):
        warm.collect(frame)
    modeltap.flush(60.0)


def count_committed(destination: str) -> tuple[int, int, int]:
    """(files, records, rows) committed for the measured collection, read back from disk."""
    root = Path(destination) / "local" / "default" / COLLECTION
    files = records = rows = 0
    for path in sorted(root.rglob("*.jsonl")):
        files += 1
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    records += 1
                    rows += len(orjson.loads(line)["data"])
    return files, records, rows


def run_burst(spec: dict[str, Any]) -> dict[str, Any]:
    """Caller cost of collect() over a burst, default drop_newest policy with a big queue, with
    the full collections that ran meanwhile; ``spec["freeze"]`` freezes the heap first."""
    _configure(spec, queue_max_events=10_000_000, queue_max_bytes=2**40)
    _warm_up(spec["rows"])
    collector = modeltap.Collector(name=COLLECTION)
    frame = make_frame(spec["rows"])
    frozen = freeze_heap(spec)  # after imports and warm-up, before the lead-in
    written_before = _counters().events_written
    busy = lead_in(
        collector.collect,
        frame,
        spec["lead_in"],
        lambda: _counters().events_written > written_before,
        timeout=5.0,
    )
    written_at_start = _counters().events_written
    with FullGcWatch() as gcs:
        samples = burst(collector.collect, frame, spec["count"])
    after = _counters()
    return {
        "samples_ns": samples,
        "dropped": after.dropped_total,
        "written_during_burst": after.events_written - written_at_start,
        "writer_busy_at_start": busy,
        "frozen_objects": frozen,
        **gcs.result(),
        **summarize_ns(samples),
    }


def _delivery(spec: dict[str, Any], sent: int, start: float, end: float) -> dict[str, Any]:
    """Flush (bounded), then read the counters and verify them against the committed files."""
    flushed = modeltap.flush(spec["max_flush"])
    flushed_at = time.monotonic()
    counters = _counters()
    files, records, rows = count_committed(spec["destination"])
    elapsed = flushed_at - start
    return {
        "sent": sent,
        "loop_seconds": end - start,
        "dropped": counters.dropped_total,
        "dropped_by_reason": counters.dropped,
        "flushed": flushed,
        "elapsed": elapsed,
        "collected": counters.collected,
        "events_written": counters.events_written,
        "rows_written": counters.rows_written,
        "files_committed": counters.files_committed,
        "verified_files": files,
        "committed_events": records,
        "committed_rows": rows,
        "events_per_s": records / elapsed,
        "rows_per_s": rows / elapsed,
    }


def run_tight(spec: dict[str, Any]) -> dict[str, Any]:
    """Throughput: a tight loop of collect() calls with policy block, then flush."""
    _configure(spec, full_policy="block", block_timeout=60.0,
               queue_max_events=spec["queue_max_events"])
    _warm_up(spec["rows"])
    collector = modeltap.Collector(name=COLLECTION)
    frame = make_frame(spec["rows"])
    sent, start, end = tight_loop(collector.collect, frame, spec["max_frames"], spec["max_seconds"])
    return _delivery(spec, sent, start, end)


def run_paced(spec: dict[str, Any]) -> dict[str, Any]:
    """Zero-drop check: 1-row frames paced from one thread (default policy), then flush."""
    _configure(spec)
    _warm_up(spec["rows"])
    collector = modeltap.Collector(name=COLLECTION)
    frame = make_frame(spec["rows"])
    sent, start, end = paced(collector.collect, frame, spec["rate"], spec["seconds"])
    result = _delivery(spec, sent, start, end)
    result["send_rate"] = sent / (end - start)
    return result


SCENARIOS = {"burst": run_burst, "tight": run_tight, "paced": run_paced}


def main() -> None:
    """Run one measurement, write its result, and leave without draining what is left."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    result = SCENARIOS[spec["scenario"]](spec)
    write_result(args.out, result)
    os._exit(0)  # a burst or a timed-out flush leaves a backlog: do not drain it at exit


if __name__ == "__main__":
    main()
