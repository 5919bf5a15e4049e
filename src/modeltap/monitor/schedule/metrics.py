"""Prometheus metrics of the scheduler (``/metrics`` on ``--metrics-port``).

Per monitor, signal, feature and metric (one series per row of the latest run: label values are
the configured features and metric names, never data values; a series whose row disappears from
the latest run is removed):

- ``modeltap_monitor_metric_value``, ``modeltap_monitor_metric_threshold``,
  ``modeltap_monitor_metric_breached`` (1 or 0);
- ``modeltap_monitor_breached{monitor}``: whether the latest run breached.

The scheduler's health:

- ``modeltap_monitor_runs_total{monitor,status}`` (``succeeded`` | ``failed``),
  ``modeltap_monitor_run_duration_seconds{monitor}`` (histogram),
  ``modeltap_monitor_last_success_timestamp_seconds{monitor}``,
  ``modeltap_monitor_windows_caught_up_total{monitor}``,
  ``modeltap_monitor_windows_recomputed_total{monitor}``,
  ``modeltap_monitor_notifications_total{monitor,channel,result}`` (``sent`` | ``failed``).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING, Any

from modeltap.monitor.schedule.dependencies import optional_module

if TYPE_CHECKING:
    from modeltap.monitor.schedule.scheduler import RunReport

__all__ = ["MAX_SERIES_PER_MONITOR", "SchedulerMetrics"]

MAX_SERIES_PER_MONITOR = 5_000
"""Rows of one run beyond this are not exported (and a warning says so)."""

_log = logging.getLogger("modeltap.monitor.schedule")
_ROW_LABELS = ("monitor", "signal", "feature", "metric")


class SchedulerMetrics:
    """The scheduler's metrics in a registry of their own; a :class:`SchedulerListener`."""

    def __init__(self) -> None:
        client = optional_module("prometheus_client")
        self.registry = client.CollectorRegistry()
        registry = self.registry
        self.value = client.Gauge(
            "modeltap_monitor_metric_value",
            "The metric's value in the latest run",
            _ROW_LABELS,
            registry=registry,
        )
        self.threshold = client.Gauge(
            "modeltap_monitor_metric_threshold",
            "The metric's threshold in the latest run",
            _ROW_LABELS,
            registry=registry,
        )
        self.breached = client.Gauge(
            "modeltap_monitor_metric_breached",
            "1 when the metric breached its threshold in the latest run",
            _ROW_LABELS,
            registry=registry,
        )
        self.monitor_breached = client.Gauge(
            "modeltap_monitor_breached",
            "1 when the latest run of the monitor breached",
            ("monitor",),
            registry=registry,
        )
        self.runs = client.Counter(
            "modeltap_monitor_runs", "Runs by status", ("monitor", "status"), registry=registry
        )
        self.duration = client.Histogram(
            "modeltap_monitor_run_duration_seconds",
            "How long a run took",
            ("monitor",),
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, math.inf),
            registry=registry,
        )
        self.last_success = client.Gauge(
            "modeltap_monitor_last_success_timestamp_seconds",
            "When the monitor's last successful run ended (Unix time)",
            ("monitor",),
            registry=registry,
        )
        self.caught_up = client.Counter(
            "modeltap_monitor_windows_caught_up",
            "Missed windows run late",
            ("monitor",),
            registry=registry,
        )
        self.recomputed = client.Counter(
            "modeltap_monitor_windows_recomputed",
            "Windows run again because late rows arrived",
            ("monitor",),
            registry=registry,
        )
        self.notifications = client.Counter(
            "modeltap_monitor_notifications",
            "Alert notifications by channel and result",
            ("monitor", "channel", "result"),
            registry=registry,
        )
        self._series: dict[str, set[tuple[str, str, str, str]]] = {}
        self._lock = threading.Lock()
        self._server: Any = None

    def serve(self, port: int, address: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` on ``address:port`` in a background thread; returns the port."""
        client = optional_module("prometheus_client")
        server, _ = client.start_http_server(port, address, registry=self.registry)
        self._server = server
        bound: int = server.server_address[1]
        return bound

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def notification(self, monitor: str, channel: str, sent: bool) -> None:
        """Count one notification (``channel``: ``email`` or ``webhook``)."""
        self.notifications.labels(monitor, channel, "sent" if sent else "failed").inc()

    def on_run(self, report: RunReport) -> None:
        """Record an attempt, and the latest run's metric rows when it produced any."""
        monitor = report.monitor
        self.runs.labels(monitor, report.status).inc()
        self.duration.labels(monitor).observe(report.seconds)
        if report.caught_up:
            self.caught_up.labels(monitor).inc()
        if report.recomputed:
            self.recomputed.labels(monitor).inc()
        if report.status == "succeeded":
            self.last_success.labels(monitor).set_to_current_time()
        if report.run is None:
            return
        self.monitor_breached.labels(monitor).set(1 if report.run.breached else 0)
        self._rows(monitor, report.run.metrics)

    def _rows(self, monitor: str, metrics: Any) -> None:
        seen: set[tuple[str, str, str, str]] = set()
        columns = ("signal_name", "feature_name", "metric_name")
        if len(metrics) and all(c in metrics.columns for c in columns):
            for row in metrics.itertuples(index=False):
                labels = (
                    monitor,
                    str(row.signal_name),
                    str(row.feature_name),
                    str(row.metric_name),
                )
                if labels in seen:
                    continue
                if len(seen) >= MAX_SERIES_PER_MONITOR:
                    _log.warning(
                        "monitor %s: more than %d metric rows; the rest are not exported",
                        monitor,
                        MAX_SERIES_PER_MONITOR,
                    )
                    break
                seen.add(labels)
                self.value.labels(*labels).set(_number(row.metric_value))
                self.threshold.labels(*labels).set(_number(row.threshold_value))
                self.breached.labels(*labels).set(1 if bool(row.breached) else 0)
        with self._lock:
            for labels in self._series.get(monitor, set()) - seen:
                for gauge in (self.value, self.threshold, self.breached):
                    gauge.remove(*labels)
            self._series[monitor] = seen


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number
