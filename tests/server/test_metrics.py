"""Metrics of several workers merged into one exposition, and the files workers publish."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter as Tally
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from modeltap.server import metrics as metrics_module
from modeltap.server.metrics import STALE_AFTER, ServerMetrics, merge_expositions


def _worker_exposition(pid: str, requests: int, depth: float, latencies: list[float]) -> str:
    """What one worker renders: a counter, a gauge and a histogram labelled with its pid."""
    registry = CollectorRegistry()
    counter = Counter("app_requests", "Requests answered", ["route", "pid"], registry=registry)
    gauge = Gauge("app_queue_depth", "Events waiting", ["pid"], registry=registry)
    histogram = Histogram("app_latency_seconds", "Latency", ["pid"], registry=registry,
                          buckets=(0.1, 1.0))
    counter.labels("/score", pid).inc(requests)
    gauge.labels(pid).set(depth)
    for seconds in latencies:
        histogram.labels(pid).observe(seconds)
    return generate_latest(registry).decode("utf-8")


def _families(text: str) -> dict[str, Metric]:
    """Parse an exposition; fails if a family appears twice."""
    parsed = list(text_string_to_metric_families(text))
    names = Tally(family.name for family in parsed)
    assert all(count == 1 for count in names.values()), names
    return {family.name: family for family in parsed}


def _values(family: Metric, sample_name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if sample.name == sample_name
    }


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def peers() -> Iterator[tuple[int, int]]:
    """Two live processes standing in for other workers."""
    processes = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(2)
    ]
    try:
        yield processes[0].pid, processes[1].pid
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_merge_keeps_one_family_with_every_workers_samples() -> None:
    """Counter, gauge and histogram of two workers: one HELP/TYPE block each, both pids' samples."""
    first = _worker_exposition("101", 3, 5.0, [0.05, 0.5])
    second = _worker_exposition("202", 4, 7.0, [2.0])
    text = merge_expositions([first, second]).decode("utf-8")
    families = _families(text)

    assert families["app_requests"].type == "counter"
    assert _values(families["app_requests"], "app_requests_total") == {
        (("pid", "101"), ("route", "/score")): 3.0,
        (("pid", "202"), ("route", "/score")): 4.0,
    }
    assert families["app_queue_depth"].type == "gauge"
    assert _values(families["app_queue_depth"], "app_queue_depth") == {
        (("pid", "101"),): 5.0,
        (("pid", "202"),): 7.0,
    }
    latency = families["app_latency_seconds"]
    assert latency.type == "histogram"
    assert _values(latency, "app_latency_seconds_bucket") == {
        (("le", "0.1"), ("pid", "101")): 1.0,
        (("le", "1.0"), ("pid", "101")): 2.0,
        (("le", "+Inf"), ("pid", "101")): 2.0,
        (("le", "0.1"), ("pid", "202")): 0.0,
        (("le", "1.0"), ("pid", "202")): 0.0,
        (("le", "+Inf"), ("pid", "202")): 1.0,
    }
    assert _values(latency, "app_latency_seconds_count") == {
        (("pid", "101"),): 2.0, (("pid", "202"),): 1.0,
    }
    assert _values(latency, "app_latency_seconds_sum") == {
        (("pid", "101"),): 0.55, (("pid", "202"),): 2.0,
    }
    assert set(_values(families["app_requests_created"], "app_requests_created")) == {
        (("pid", "101"), ("route", "/score")), (("pid", "202"), ("route", "/score")),
    }
    lines = text.splitlines()
    for name in ("app_requests_total", "app_queue_depth", "app_latency_seconds"):
        assert lines.count(f"# HELP {name} " + families[name.removesuffix("_total")]
                           .documentation) == 1, name
        assert sum(line.startswith(f"# TYPE {name} ") for line in lines) == 1, name


def test_merge_keeps_the_first_copy_of_a_series_and_skips_unparsable_text() -> None:
    """A series seen twice keeps its first value; text that does not parse is left out."""
    fresh = _worker_exposition("101", 9, 1.0, [])
    old = _worker_exposition("101", 2, 0.0, [])
    families = _families(
        merge_expositions([fresh, "app_requests_total{pid=101 1\n", old]).decode("utf-8")
    )
    assert _values(families["app_requests"], "app_requests_total") == {
        (("pid", "101"), ("route", "/score")): 9.0,
    }


def test_without_run_dir_render_is_this_process_alone(tmp_path: Path) -> None:
    """No run directory: render() is the process's own exposition, and nothing is published."""
    metrics = ServerMetrics()
    metrics.observe("/score", "POST", 200, 0.01)
    metrics.start_publishing()
    metrics.stop_publishing()
    families = _families(metrics.render().decode("utf-8"))
    assert _values(families["modeltap_http_requests"], "modeltap_http_requests_total") == {
        (("method", "POST"), ("pid", str(os.getpid())), ("route", "/score"),
         ("status", "200")): 1.0,
    }


def _as_worker(metrics: ServerMetrics, pid: int, requests: int) -> str:
    """What a worker with ``pid`` that answered ``requests`` POST /score would publish."""
    text = metrics.render_own().decode("utf-8").replace(f'pid="{os.getpid()}"', f'pid="{pid}"')
    return text.replace(
        f'{{method="POST",pid="{pid}",route="/score",status="200"}} 1.0',
        f'{{method="POST",pid="{pid}",route="/score",status="200"}} {requests}.0',
    )


def test_render_merges_live_peers_and_drops_dead_and_stale_files(
    tmp_path: Path, peers: tuple[int, int]
) -> None:
    """The answer holds this process fresh plus live peers' files, one block per family; dead
    pids' files are removed, stale ones left out, and this process's own old file is not read."""
    (live, stale), dead = peers, _dead_pid()
    own = os.getpid()
    metrics = ServerMetrics(tmp_path)
    metrics.observe("/score", "POST", 200, 0.01)
    for pid, requests in ((live, 4), (dead, 5), (stale, 6), (own, 99)):
        (tmp_path / f"{pid}.prom").write_text(_as_worker(metrics, pid, requests))
    old = time.time() - STALE_AFTER - 5
    os.utime(tmp_path / f"{stale}.prom", (old, old))
    (tmp_path / "notes.prom").write_text("not a worker")

    metrics.observe("/score", "POST", 200, 0.01)
    families = _families(metrics.render().decode("utf-8"))

    def key(pid: int) -> tuple[tuple[str, str], ...]:
        return (("method", "POST"), ("pid", str(pid)), ("route", "/score"), ("status", "200"))

    assert _values(families["modeltap_http_requests"], "modeltap_http_requests_total") == {
        key(own): 2.0, key(live): 4.0,
    }
    assert {s.labels["pid"] for s in families["modeltap_queue_depth"].samples} == {
        str(own), str(live),
    }
    assert not (tmp_path / f"{dead}.prom").exists()
    assert (tmp_path / f"{stale}.prom").exists()


def test_publishing_writes_this_process_file_and_removes_it_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_publishing writes {pid}.prom at once and keeps it current; stop removes it, and no
    temporary file is left behind."""
    monkeypatch.setattr(metrics_module, "PUBLISH_INTERVAL", 0.05)
    metrics = ServerMetrics(tmp_path)
    own_file = tmp_path / f"{os.getpid()}.prom"
    metrics.start_publishing()
    try:
        assert own_file.exists()
        metrics.observe("/score", "POST", 200, 0.01)
        deadline = time.monotonic() + 10
        while 'route="/score"' not in own_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        families = _families(own_file.read_text())
        assert sum(_values(families["modeltap_http_requests"],
                           "modeltap_http_requests_total").values()) == 1.0
    finally:
        metrics.stop_publishing()
    assert list(tmp_path.iterdir()) == []
