"""Late data with real runs: rows that arrive after a window ran make it run again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
    """count_rows reads the window's rows of collected data; a side it cannot read is left out."""
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
