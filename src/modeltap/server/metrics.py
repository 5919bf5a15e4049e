"""Prometheus metrics: HTTP requests and latency, connections the HTTP layer refused, and
every ``modeltap.stats()`` counter.

Every series carries the label ``pid`` of the worker process it comes from, and /metrics shows
the whole server whichever worker answers. With several workers the supervisor gives them a
private run directory (``AppOptions.metrics_dir``, removed when the server exits): each worker
writes its own exposition there as ``{pid}.prom`` once a second (a temporary file moved into
place, so a reader never sees half a file) and removes it when it stops. The worker answering
a scrape renders its own numbers fresh, reads the other workers' files, ignores those of
processes that no longer exist or not rewritten for ``STALE_AFTER`` seconds, and merges them
family by family: one ``# HELP``/``# TYPE`` block per metric holding the samples of every
worker, each worker's series once. Another worker's numbers are thus at most about a second
old. Sum over ``pid`` for the server's totals; a restarted worker starts its counters again
from zero under its new pid. Without a run directory (a single worker, an app built
in-process) /metrics is the process's own numbers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector as PromCollector

from modeltap.pipeline.runtime import stats
from modeltap.server.limits import REFUSALS, Refusals
from modeltap.server.runner import Runner
from modeltap.stats import CollectionStats, PipelineStats

__all__ = ["CONTENT_TYPE", "PUBLISH_INTERVAL", "STALE_AFTER", "ServerMetrics", "merge_expositions"]

logger = logging.getLogger("modeltap.server")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PUBLISH_INTERVAL = 1.0
"""Seconds between two writes of a worker's exposition file."""
STALE_AFTER = 5 * PUBLISH_INTERVAL
"""A worker's file not rewritten for this long is left out (the worker hangs, or its pid was
reused by another process)."""
_SUFFIX = ".prom"

_HELP = {
    "collected": "Events accepted into the queue",
    "sampled_out": "Events skipped by sampling",
    "events_written": "Events appended to spool segments",
    "rows_written": "Rows appended to spool segments",
    "bytes_written": "Bytes appended to spool segments",
    "files_committed": "Files made visible at the destination",
    "commit_failures": "Failed commits to the destination",
    "commit_retries": "Retried commits to the destination",
    "queue_depth": "Events waiting in the in-memory queue",
    "queue_bytes": "Approximate bytes waiting in the queue",
    "spool_bytes": "Bytes in the local spool",
    "spool_segments": "Segments in the local spool",
    "oldest_waiting_age": "Age in seconds of the oldest segment waiting for the destination",
    "spool_write_failing": "1 while the writer cannot write to the local spool (see write_error)",
}
_RENAME = {"oldest_waiting_age": "oldest_waiting_age_seconds"}
_NOT_METRICS = frozenset({"collections", "last_error", "last_error_time"})


def _numeric_fields(cls: type) -> list[str]:
    """The int/float fields of a stats dataclass: every one becomes a metric, so a counter
    added to stats() later is exported without touching this module."""
    return [f.name for f in fields(cls) if f.type in ("int", "float", int, float)]


class _PipelineCollector(PromCollector):
    """Reads ``modeltap.stats()`` at scrape time."""

    def collect(self) -> Iterator[Metric]:
        current = stats()
        pid = str(os.getpid())
        for name in _numeric_fields(CollectionStats):
            family = CounterMetricFamily(
                f"modeltap_{name}",
                f"{_HELP.get(name, name.replace('_', ' '))}, per collection",
                labels=["collection", "pid"],
            )
            for collection, counters in current.collections.items():
                family.add_metric([collection, pid], float(getattr(counters, name)))
            yield family
        dropped = CounterMetricFamily(
            "modeltap_dropped", "Events lost, per collection and reason",
            labels=["collection", "reason", "pid"],
        )
        for collection, counters in current.collections.items():
            for reason, count in sorted(counters.dropped.items()):
                dropped.add_metric([collection, reason, pid], float(count))
        yield dropped
        for name in _numeric_fields(PipelineStats):
            if name in _NOT_METRICS:
                continue
            help_text = _HELP.get(name, name.replace("_", " "))
            value = float(getattr(current, name))
            if name.startswith("commit_"):
                counter = CounterMetricFamily(f"modeltap_{name}", help_text, labels=["pid"])
                counter.add_metric([pid], value)
                yield counter
            else:
                gauge = GaugeMetricFamily(
                    f"modeltap_{_RENAME.get(name, name)}", help_text, labels=["pid"]
                )
                gauge.add_metric([pid], value)
                yield gauge


class _RunnerCollector(PromCollector):
    """Where run() was called and how long it typically takes (``Runner``)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        pid = str(os.getpid())
        calls = CounterMetricFamily(
            "modeltap_run_calls", "run() calls, by the thread they ran on",
            labels=["thread", "pid"],
        )
        calls.add_metric(["event_loop", pid], float(self.runner.calls_on_loop))
        calls.add_metric(["pool", pid], float(self.runner.calls_on_pool))
        yield calls
        typical = GaugeMetricFamily(
            "modeltap_run_typical_seconds",
            "Running mean of run()'s wall time on the event loop's thread, which decides "
            "where it is called",
            labels=["pid"],
        )
        typical.add_metric([pid], self.runner.typical_seconds)
        yield typical


class _RefusalCollector(PromCollector):
    """Connections the HTTP layer refused or cut (``modeltap.server.limits``), every reason
    shown from zero so an alert needs no series to appear first."""

    def __init__(self, refusals: Refusals) -> None:
        self.refusals = refusals

    def collect(self) -> Iterator[Metric]:
        pid = str(os.getpid())
        refused = CounterMetricFamily(
            "modeltap_http_refused",
            "Connections the HTTP layer refused or closed before the application answered "
            "(request head limits and timeouts, the connection limit), by reason and the "
            "status answered (none: closed without an answer)",
            labels=["reason", "status", "pid"],
        )
        for reason, count in self.refusals.snapshot().items():
            refused.add_metric([reason, REFUSALS[reason], pid], float(count))
        yield refused


class ServerMetrics:
    """The registry of one server process and, with ``run_dir``, its view of the other workers."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.pid = os.getpid()
        self._pid_label = str(self.pid)
        self.run_dir = run_dir
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "modeltap_http_requests",
            "HTTP requests answered, by route, method and status code",
            ["route", "method", "status", "pid"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modeltap_http_request_duration_seconds",
            "Time from request start to response, by route",
            ["route", "pid"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(_PipelineCollector())
        self.refusals = Refusals()
        """What the HTTP layer refuses (``limited_protocol`` counts into it)."""
        self.registry.register(_RefusalCollector(self.refusals))
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    def watch(self, runner: Runner) -> None:
        """Export where ``runner`` called run() (``modeltap_run_calls``) and its typical
        duration."""
        self.registry.register(_RunnerCollector(runner))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (route, method, status)  # a few routes and statuses: the lookups are kept
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(route, method, str(status), self._pid_label),
                self.latency.labels(route, self._pid_label),
            )
        series[0].inc()
        series[1].observe(seconds)

    def render_own(self) -> bytes:
        """This process's numbers alone, as Prometheus text."""
        return generate_latest(self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of the whole server: this process's numbers, fresh,
        merged with every live worker's published ones."""
        own = self.render_own()
        if self.run_dir is None:
            return own
        return merge_expositions([own.decode("utf-8"), *self._peer_expositions()])

    def publish(self) -> None:
        """Write this process's exposition to ``{run_dir}/{pid}.prom``, atomically."""
        if self.run_dir is None:
            return
        temporary = self.run_dir / f".{self.pid}.tmp"
        temporary.write_bytes(self.render_own())
        os.replace(temporary, self._own_file())

    def start_publishing(self) -> None:
        """Publish now, then every PUBLISH_INTERVAL seconds from a daemon thread (after the
        fork: call it in the worker)."""
        if self.run_dir is None or self._publisher is not None:
            return
        self._stop.clear()
        self._publish_logged()
        self._publisher = threading.Thread(
            target=self._publish_loop, name="modeltap-metrics", daemon=True
        )
        self._publisher.start()

    def stop_publishing(self) -> None:
        """Stop the thread and remove this process's file: its series leave the answer."""
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join(timeout=5.0)
            self._publisher = None
        if self.run_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                self._own_file().unlink()

    def _own_file(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / f"{self.pid}{_SUFFIX}"

    def _publish_loop(self) -> None:
        while not self._stop.wait(PUBLISH_INTERVAL):
            self._publish_logged()

    def _publish_logged(self) -> None:
        try:
            self.publish()
        except Exception:
            logger.exception("cannot publish this worker's metrics to %s", self.run_dir)

    def _peer_expositions(self) -> list[str]:
        """The published expositions of the other live workers."""
        assert self.run_dir is not None
        texts: list[str] = []
        try:
            paths = sorted(self.run_dir.glob(f"*{_SUFFIX}"))
        except OSError:
            return texts
        now = time.time()
        for path in paths:
            try:
                pid = int(path.name.removesuffix(_SUFFIX))
            except ValueError:
                continue
            if pid == self.pid:
                continue  # rendered fresh instead
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            try:
                if now - path.stat().st_mtime > STALE_AFTER:
                    continue
                texts.append(path.read_text(encoding="utf-8"))
            except OSError:
                continue  # removed by its worker meanwhile
        return texts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Families(PromCollector):
    """Already collected metric families, for ``generate_latest``."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def merge_expositions(texts: Iterable[str]) -> bytes:
    """Merge Prometheus text expositions into one: a family (same name) appears once with the
    samples of all of them, in the order first seen. A sample already seen (same name and
    labels: the series of a worker twice) keeps its first value, as does a family's help and
    type; an exposition that does not parse is left out."""
    merged: dict[str, Metric] = {}
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for text in texts:
        try:
            families = list(text_string_to_metric_families(text))
        except Exception:
            logger.warning("left out a worker's metrics that do not parse")
            continue
        for family in families:
            target = merged.get(family.name)
            if target is None:
                target = Metric(family.name, family.documentation, family.type)
                merged[family.name] = target
            elif target.type != family.type:
                continue
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                if key not in seen:
                    seen.add(key)
                    target.samples.append(sample)
    return generate_latest(_Families(merged.values()))
