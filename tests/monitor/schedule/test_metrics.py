"""Prometheus metrics of the scheduler, scraped over HTTP and parsed with prometheus-client."""

from __future__ import annotations

import urllib.request

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modeltap.monitor.schedule.metrics import SchedulerMetrics
from modeltap.monitor.schedule.scheduler import RunReport

from .fakes import definition, fake_run, utc

pytestmark = pytest.mark.integration


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _report(features: list[str], status: str = "succeeded", **flags: bool) -> RunReport:
    metrics = pd.DataFrame(
        {
            "signal_name": ["drift"] * len(features),
            "feature_name": features,
            "metric_name": ["jensen_shannon_distance"] * len(features),
            "metric_value": [0.3 + i for i in range(len(features))],
            "threshold_value": [0.1] * len(features),
            "breached": [i == 0 for i in range(len(features))],
        }
    )
    run = fake_run("m", utc("2026-03-01T01:00"), breached=True, metrics=metrics)
    return RunReport(
        definition(),
        utc("2026-03-01T01:00"),
        1,
        status,
        None if status == "succeeded" else "boom",
        run if status == "succeeded" else None,
        2.5,
        flags.get("caught_up", False),
        True,
        flags.get("recomputed", False),
    )


def test_scrape_has_values_thresholds_breaches_and_health() -> None:
    """A scrape holds one series per feature and metric, and the scheduler's own counters;
    a feature gone from the latest run loses its series."""
    metrics = SchedulerMetrics()
    port = metrics.serve(0, "127.0.0.1")
    try:
        metrics.on_run(_report(["age", "income"], caught_up=True))
        metrics.on_run(_report([], status="failed"))
        metrics.notification("m", "email", True)
        metrics.notification("m", "webhook", False)
        first = _scrape(port)
        metrics.on_run(_report(["age"], recomputed=True))
        second = _scrape(port)
    finally:
        metrics.close()
    age = (
        ("feature", "age"),
        ("metric", "jensen_shannon_distance"),
        ("monitor", "m"),
        ("signal", "drift"),
    )
    income = (("feature", "income"), *age[1:])
    assert first[("modeltap_monitor_metric_value", age)] == pytest.approx(0.3)
    assert first[("modeltap_monitor_metric_value", income)] == pytest.approx(1.3)
    assert first[("modeltap_monitor_metric_threshold", age)] == pytest.approx(0.1)
    assert first[("modeltap_monitor_metric_breached", age)] == 1
    assert first[("modeltap_monitor_metric_breached", income)] == 0
    assert first[("modeltap_monitor_breached", (("monitor", "m"),))] == 1
    runs = "modeltap_monitor_runs_total"
    assert first[(runs, (("monitor", "m"), ("status", "succeeded")))] == 1
    assert first[(runs, (("monitor", "m"), ("status", "failed")))] == 1
    assert first[("modeltap_monitor_run_duration_seconds_count", (("monitor", "m"),))] == 2
    assert first[("modeltap_monitor_windows_caught_up_total", (("monitor", "m"),))] == 1
    assert first[("modeltap_monitor_last_success_timestamp_seconds", (("monitor", "m"),))] > 0
    sent = (("channel", "email"), ("monitor", "m"), ("result", "sent"))
    failed = (("channel", "webhook"), ("monitor", "m"), ("result", "failed"))
    assert first[("modeltap_monitor_notifications_total", sent)] == 1
    assert first[("modeltap_monitor_notifications_total", failed)] == 1
    assert ("modeltap_monitor_metric_value", income) not in second
    assert second[("modeltap_monitor_windows_recomputed_total", (("monitor", "m"),))] == 1
