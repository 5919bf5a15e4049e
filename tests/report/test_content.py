"""The report content read from the results store: attention order, history, runs picked."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.compute as pc
import pytest

from modeltap.errors import MonitorError
from modeltap.monitor.results import HISTOGRAM_SCHEMA, ResultsStore
from modeltap.report.content import margin, pick_run, run_content
from tests.report.sample_store import MONITOR, RUNS, write_sample_store, write_synthetic_runs


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    """The sample store's results."""
    return ResultsStore(write_sample_store(tmp_path_factory.mktemp("sample")))


def test_margin_follows_the_breach_direction() -> None:
    """Distances breach above, p-values and accuracy below; no threshold is far away."""
    assert margin("jensen_shannon_distance", 0.3, 0.1) > 0
    assert margin("jensen_shannon_distance", 0.05, 0.1) < 0
    assert margin("accuracy", 0.5, 0.8) > 0
    assert margin("two_sample_kolmogorov_smirnov_test", 0.9, 0.05) < 0
    assert margin("null_value_rate", 0.0, 0.0) == 0
    assert margin("row_count", 10.0, None) == -math.inf


def test_breached_feature_comes_first(store: ResultsStore) -> None:
    """In the latest run, drift's breached ``income`` leads, then the one closest to its
    threshold."""
    content = run_content(store, MONITOR, pick_run(store, MONITOR))
    drift = next(s for s in content.signals if s.name == "drift")
    assert drift.status == "breached"
    assert drift.features[0].name == "income" and drift.features[0].breached
    rest = drift.features[1:]
    assert not any(f.breached for f in rest)
    assert rest[0].attention[1] >= rest[1].attention[1]
    assert drift.breached_features == ["income"]
    assert drift.features[0].distribution_chart.count('class="series"') == 2


def _table(html: str) -> list[list[str]]:
    """The body rows of a chart's numbers table, as text."""
    root = ET.fromstring(html)
    return [[cell.text or "" for cell in tr] for tr in root.iter("tr")][1:]


def test_chart_numbers_are_in_tables(store: ResultsStore) -> None:
    """Each distribution has a table of both sides' rows and shares per bin or category; each
    history one of the value, threshold and breach per run."""
    content = run_content(store, MONITOR, pick_run(store, MONITOR))
    drift = next(s for s in content.signals if s.name == "drift")
    income = drift.features[0]
    bins = _table(income.distribution_table)
    assert len(bins) == income.distribution_chart.count("<rect") // 2 - 1  # less the legend
    assert sum(int(row[1]) for row in bins) == 400
    assert sum(int(row[3]) for row in bins) == 200
    assert all(row[2].endswith("%") and row[4].endswith("%") for row in bins)
    assert bins[0][0].startswith("[")
    city = next(f for f in drift.features if f.name == "city")
    assert sorted(row[0] for row in _table(city.distribution_table)) == ["lyon", "nice", "paris"]
    history = _table(income.metrics[0].history_table)
    assert [row[0] for row in history] == [
        "2024-05-08 11:00",
        "2024-05-08 12:00",
        "2024-05-08 13:00",
    ]
    assert [row[2] for row in history] == ["0.2"] * RUNS
    assert [row[3] for row in history] == ["", "", "BREACHED"]
    assert float(history[-1][1]) == pytest.approx(income.metrics[0].value, rel=1e-3)


def test_history_spans_the_runs_up_to_the_one_shown(store: ResultsStore) -> None:
    """The history of an earlier run stops at that run."""
    stamps = store.runs(MONITOR)
    assert len(stamps) == RUNS
    content = run_content(store, MONITOR, stamps[1])
    assert content.history_stamps == stamps[:2]
    latest = run_content(store, MONITOR, stamps[-1], history_runs=2)
    assert latest.history_stamps == stamps[-2:]


def test_label_coverage_of_model_performance(store: ResultsStore) -> None:
    """120 of the 200 production rows have a label."""
    content = run_content(store, MONITOR, pick_run(store, MONITOR))
    performance = next(s for s in content.signals if s.type == "model_performance")
    assert performance.labelled_rows == 120
    assert performance.label_coverage == pytest.approx(0.6)


def test_pick_run_by_stamp_iso_time_or_latest(store: ResultsStore) -> None:
    """A run is named by its stamp or any ISO 8601 time of its window end."""
    stamps = store.runs(MONITOR)
    assert pick_run(store, MONITOR) == stamps[-1]
    assert pick_run(store, MONITOR, stamps[0]) == stamps[0]
    assert pick_run(store, MONITOR, "2024-05-08T12:00:00+00:00") == "20240508T120000Z"


def test_pick_run_errors_name_what_exists(store: ResultsStore) -> None:
    """An unknown run lists the latest ones; an unknown monitor lists the monitors."""
    with pytest.raises(MonitorError, match=r"latest runs: .*20240508T130000Z"):
        pick_run(store, MONITOR, "2030-01-01")
    with pytest.raises(MonitorError, match="monitors with results: credit"):
        pick_run(store, "nope")


def test_a_run_made_again_shows_its_new_metrics(tmp_path: Path) -> None:
    """Metrics are kept by run and start time: the same window run again is read again."""
    destination = str(tmp_path / "store")
    write_synthetic_runs(destination, runs=2, features=2)
    store = ResultsStore(destination)
    stamp = store.runs("monitor-000")[-1]

    def accuracy() -> float | None:
        content = run_content(store, "monitor-000", stamp)
        performance = next(s for s in content.signals if s.name == "performance")
        return next(m.value for m in performance.signal_metrics if m.metric == "accuracy")

    before = accuracy()
    metrics = store.metrics_table("monitor-000", stamp)
    values = pc.if_else(
        pc.equal(metrics.column("metric_name"), "accuracy"), 0.25, metrics.column("metric_value")
    )
    metrics = metrics.set_column(
        metrics.schema.get_field_index("metric_value"), "metric_value", values
    )
    info = store.run_info("monitor-000", stamp)
    info["start_time"] = "2030-01-01T00:00:00.000001Z"
    store.write("monitor-000", stamp, metrics, HISTOGRAM_SCHEMA.empty_table(), info)
    assert before != 0.25 and accuracy() == 0.25
