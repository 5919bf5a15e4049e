"""Prometheus metrics: HTTP requests and latency, and every ``modeltap.stats()`` counter.

Each worker process answers /metrics with its own numbers (label ``pid``), so a scraper that
reaches every worker, or sums over ``pid``, sees the whole server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import fields

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from modeltap.pipeline.runtime import stats
from modeltap.stats import CollectionStats, PipelineStats

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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


class ServerMetrics:
    """The registry of one server process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "modeltap_http_requests",
            "HTTP requests answered, by route, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modeltap_http_request_duration_seconds",
            "Time from request start to response, by route",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(_PipelineCollector())

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
