"""Late data with real runs: rows that arrive after a window ran make it run again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeltap.monitor import load
from modeltap.monitor.results import ResultsStore
from modeltap.monitor.schedule.late_data import count_rows
from modeltap.monitor.schedule.scheduler import Scheduler

from .fakes import FakeClock, utc

DUE = utc("2026-03-01T01:00")


def _production(path: Path, rows: int) -> None:
    """``rows`` rows inside the hour before DUE."""
    times = [DUE - dt.timedelta(minutes=50) + dt.timedelta(seconds=i) for i in range(rows)]
    values = np.random.default_rng(rows).normal(0, 1, rows)
    table = pa.table({"x": values, "time": pa.array(times, pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, path)


def test_rows_that_arrive_late_rerun_the_window(tmp_path: Path) -> None:
    """A window runs on 40 rows; 20 more arrive within recompute_late: it runs again on 60
    (the stored run replaced); after recompute_late it is left alone."""
    production, reference = tmp_path / "production.parquet", tmp_path / "reference.parquet"
    _production(production, 40)
    pq.write_table(pa.table({"x": np.random.default_rng(0).normal(0, 1, 200)}), reference)
    monitor = load(
        {
            "name": "late",
            "trigger": {"type": "recurrence", "frequency": "hour", "recompute_late": "PT2H"},
            "create_monitor": {
                "monitoring_signals": {
                    "drift": {
                        "type": "data_drift",
                        "production_data": {
                            "input_data": {"path": str(production)},
                            "data_window": {"lookback_window_size": "PT1H"},
                        },
                        "reference_data": {"input_data": {"path": str(reference)}},
                    }
                }
            },
        }
    )
    store = str(tmp_path / "store")
    clock = FakeClock(DUE - dt.timedelta(minutes=1))
    scheduler = Scheduler([monitor], store, clock=clock)
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    assert [r.run.signals["drift"]["production_row_count"] for r in scheduler.tick() if r.run] == [
        40
    ]
    clock.advance(dt.timedelta(minutes=30))
    _production(production, 60)
    reports = [r for r in scheduler.tick() if r.due == DUE]
    assert [(r.recomputed, r.attempt) for r in reports] == [(True, 2)]
    assert reports[0].run is not None
    assert reports[0].run.signals["drift"]["production_row_count"] == 60
    assert ResultsStore(store).runs("late") == ["20260301T010000Z"]
    metrics = ResultsStore(store).metrics("late")
    assert set(metrics["production_row_count"]) == {60}
    clock.advance(dt.timedelta(hours=2))
    _production(production, 80)
    assert [r for r in scheduler.tick() if r.due == DUE] == []


def test_count_rows_counts_a_window_and_skips_unreadable_sides(tmp_path: Path) -> None:
    """count_rows reads the window's rows (all rows of a side without one); a side it cannot
    read is left out."""
    production = tmp_path / "production.parquet"
    _production(production, 30)
    sides = {
        "drift.production": {
            "path": str(production),
            "start": "2026-03-01T00:00:00Z",
            "end": "2026-03-01T00:20:00Z",
            "rows": 0,
        },
        "missing.production": {
            "path": str(tmp_path / "nothing-here"),
            "start": "2026-03-01T00:00:00Z",
            "end": "2026-03-01T01:00:00Z",
            "rows": 0,
        },
    }
    assert count_rows(sides, str(tmp_path)) == {"drift.production": 30}
    sides["drift.production"]["end"] = "2026-03-01T00:10:10Z"
    assert count_rows(sides, str(tmp_path)) == {"drift.production": 10}
    sides["drift.production"].update(start=None, end=None)  # a side read whole
    assert count_rows(sides, str(tmp_path)) == {"drift.production": 30}


def _labelled(path: Path, rows: int, *, truth: bool) -> None:
    """Predictions (or, with ``truth``, their ground truth two minutes later) for the first
    ``rows`` request ids, inside the hour before DUE."""
    times = [
        DUE - dt.timedelta(minutes=50 - (2 if truth else 0)) + dt.timedelta(seconds=i)
        for i in range(rows)
    ]
    labels = ["yes" if i % 3 else "no" for i in range(rows)]
    table = pa.table(
        {
            "request": [f"r{i}" for i in range(rows)],
            "label": labels if truth else ["yes"] * rows,
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)


@pytest.mark.parametrize("truth_window", [{"lookback_window_size": "PT2H"}, None])
def test_ground_truth_that_arrives_late_reruns_the_window(
    tmp_path: Path, truth_window: dict[str, str] | None
) -> None:
    """A model-performance window runs with ground truth for 10 of 40 predictions; labels for
    20 more arrive within recompute_late: it runs again, now with 30 labelled rows (whether the
    ground truth has a window or is read whole); after recompute_late it is left alone."""
    predictions, truth = tmp_path / "predictions.parquet", tmp_path / "truth.parquet"
    _labelled(predictions, 40, truth=False)
    _labelled(truth, 10, truth=True)
    labels: dict[str, Any] = {
        "input_data": {"path": str(truth)},
        "data_context": "ground_truth",
        "data_column_names": {"actual": "label", "correlation_id": "request"},
    }
    if truth_window is not None:
        labels["data_window"] = truth_window
    monitor = load(
        {
            "name": "perf",
            "trigger": {"type": "recurrence", "frequency": "hour", "recompute_late": "PT2H"},
            "create_monitor": {
                "monitoring_signals": {
                    "accuracy": {
                        "type": "model_performance",
                        "production_data": {
                            "input_data": {"path": str(predictions)},
                            "data_window": {"lookback_window_size": "PT1H"},
                            "data_column_names": {
                                "prediction": "label",
                                "correlation_id": "request",
                            },
                        },
                        "reference_data": labels,
                        "metric_thresholds": {"classification": {"accuracy": 0.5}},
                    }
                }
            },
        }
    )
    store = str(tmp_path / "store")
    clock = FakeClock(DUE - dt.timedelta(minutes=1))
    scheduler = Scheduler([monitor], store, clock=clock)
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    first = [r for r in scheduler.tick() if r.due == DUE]
    assert [r.status for r in first] == ["succeeded"]
    assert first[0].run is not None
    assert first[0].run.signals["accuracy"]["reference_row_count"] == 10
    clock.advance(dt.timedelta(minutes=30))
    assert scheduler.tick() == []  # no late labels yet
    _labelled(truth, 30, truth=True)
    clock.advance(dt.timedelta(minutes=30))
    reports = [r for r in scheduler.tick() if r.due == DUE]
    assert [(r.recomputed, r.attempt) for r in reports] == [(True, 2)]
    assert reports[0].run is not None
    assert reports[0].run.signals["accuracy"]["reference_row_count"] == 30
    metrics = ResultsStore(store).metrics("perf")
    labelled = metrics["metric_name"] == "labelled_row_count"
    of_due = metrics[labelled & (metrics["window_end"] == DUE)]
    assert of_due["metric_value"].tolist() == [30.0]  # the earlier due time's window is empty
    clock.advance(dt.timedelta(hours=2))
    _labelled(truth, 40, truth=True)
    assert [r for r in scheduler.tick() if r.due == DUE] == []
