"""Prometheus metrics: HTTP requests and latency, and every ``modeltap.stats()`` counter.

Each worker process answers /metrics with its own numbers (label ``pid``), so a scraper that
reaches every worker, or sums over ``pid``, sees the whole server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from modeltap.pipeline.runtime import stats

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = (
    ("collected", "Events accepted into the queue"),
    ("sampled_out", "Events skipped by sampling"),
    ("events_written", "Events appended to spool segments"),
    ("rows_written", "Rows appended to spool segments"),
    ("bytes_written", "Bytes appended to spool segments"),
    ("files_committed", "Files made visible at the destination"),
)


class _PipelineCollector(PromCollector):
    """Reads ``modeltap.stats()`` at scrape time."""

    def collect(self) -> Iterator[Metric]:
        current = stats()
        pid = str(os.getpid())
        for name, help_text in _COUNTERS:
            family = CounterMetricFamily(
                f"modeltap_{name}", f"{help_text}, per collection", labels=["collection", "pid"]
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
        for name, help_text, value in (
            ("commit_failures", "Failed commits to the destination", current.commit_failures),
            ("commit_retries", "Retried commits to the destination", current.commit_retries),
        ):
            family = CounterMetricFamily(f"modeltap_{name}", help_text, labels=["pid"])
            family.add_metric([pid], float(value))
            yield family
        for name, help_text, gauge in (
            ("queue_depth", "Events waiting in the in-memory queue", current.queue_depth),
            ("queue_bytes", "Approximate bytes waiting in the queue", current.queue_bytes),
            ("spool_bytes", "Bytes in the local spool", current.spool_bytes),
            ("spool_segments", "Segments in the local spool", current.spool_segments),
            (
                "oldest_waiting_age_seconds",
                "Age of the oldest segment waiting for the destination",
                current.oldest_waiting_age,
            ),
        ):
            gauge_family = GaugeMetricFamily(f"modeltap_{name}", help_text, labels=["pid"])
            gauge_family.add_metric([pid], float(gauge))
            yield gauge_family


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
