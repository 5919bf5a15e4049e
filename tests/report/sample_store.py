"""A small store with real monitor runs, shared by the report and UI tests.

Three hourly runs of a monitor ``credit`` over Parquet files: a data-drift signal where
``income`` shifts in the last window (breached) and ``age`` does not, a data-quality signal and
a classification model-performance signal with labels for part of the rows; plus one data asset
collected by modeltap itself.

The data-quality signal also selects ``score``, a column of the reference only (missing in every
run). The last run reads its production data from a new folder (``production-v2``, as after a
release) whose schema changed: a new column ``channel`` (added) and ``age`` as whole numbers
(int64, retyped from the reference's double).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import modeltap
import modeltap.monitor

__all__ = [
    "FIRST",
    "MONITOR",
    "RUNS",
    "collect_sample_asset",
    "sample_definition",
    "signal_section",
    "write_sample_store",
    "write_synthetic_runs",
]

MONITOR = "credit"
FIRST = dt.datetime(2024, 5, 8, 10, tzinfo=dt.UTC)
RUNS = 3


def _frame(rng: np.random.Generator, rows: int, shift: float, start: dt.datetime) -> pa.Table:
    """Feature rows with times inside the hour after ``start``."""
    times = [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 3600, rows)]
    return pa.table(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.normal(50 + shift, 10, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "correlation_id": [f"r{start:%H}-{i}" for i in range(rows)],
            "label": rng.integers(0, 2, rows),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def sample_definition(folder: Path, production_folder: str = "production") -> dict[str, Any]:
    """The monitor definition over the files in ``folder`` (production data in the subfolder
    ``production_folder``)."""
    production = {
        "input_data": {"path": str(folder / production_folder)},
        "data_window": {"lookback_window_size": "PT1H"},
    }
    reference = {"input_data": {"path": str(folder / "reference.parquet")}}
    return {
        "name": MONITOR,
        "create_monitor": {
            "monitoring_signals": {
                "drift": {
                    "type": "data_drift",
                    "production_data": production,
                    "reference_data": reference,
                    "features": ["age", "income", "city"],
                    "metric_thresholds": {
                        "numerical": {"jensen_shannon_distance": 0.2},
                        "categorical": {"jensen_shannon_distance": 0.2},
                    },
                },
                "quality": {
                    "type": "data_quality",
                    "production_data": production,
                    "reference_data": reference,
                    "features": ["age", "income", "city", "score"],
                },
                "performance": {
                    "type": "model_performance",
                    "production_data": {
                        **production,
                        "data_column_names": {
                            "prediction": "label",
                            "correlation_id": "correlation_id",
                        },
                    },
                    "reference_data": {
                        "input_data": {"path": str(folder / "labels.parquet")},
                        "data_context": "ground_truth",
                        "data_column_names": {
                            "actual": "label",
                            "correlation_id": "correlation_id",
                        },
                    },
                    "metric_thresholds": {"classification": {"accuracy": 0.6}},
                },
            }
        },
    }


def write_sample_store(folder: Path, runs: int = RUNS) -> str:
    """Write the data and run the monitor ``runs`` times (hourly); returns the destination."""
    rng = np.random.default_rng(7)
    destination = folder / "store"
    (folder / "production").mkdir(parents=True, exist_ok=True)
    (folder / "production-v2").mkdir(parents=True, exist_ok=True)
    reference = _frame(rng, 400, 0.0, FIRST - dt.timedelta(days=1))
    reference = reference.append_column("score", pa.array(np.linspace(0.0, 1.0, 400)))
    pq.write_table(reference.drop(["time"]), folder / "reference.parquet")
    labels = []
    for index in range(runs):
        start = FIRST + dt.timedelta(hours=index)
        shift = 25.0 if index == runs - 1 else 0.0
        table = _frame(rng, 200, shift, start)
        subfolder = "production"
        if index == runs - 1:
            subfolder = "production-v2"
            whole = pa.array(np.round(table.column("age").to_numpy()).astype(np.int64))
            table = table.set_column(table.schema.get_field_index("age"), "age", whole)
            table = table.append_column("channel", pa.array(["web", "app"] * 100))
        pq.write_table(table, folder / subfolder / f"part-{index}.parquet")
        labels.append(table.select(["correlation_id", "label"]).slice(0, 120))
    pq.write_table(pa.concat_tables(labels), folder / "labels.parquet")
    for index in range(runs):
        at = FIRST + dt.timedelta(hours=index + 1)
        definition = sample_definition(
            folder, "production-v2" if index == runs - 1 else "production"
        )
        modeltap.monitor.run(definition, at=at, destination=str(destination))
    return str(destination)


def signal_section(page: str, signal: str) -> str:
    """The HTML of one signal's section in a report or a run page."""
    start = page.index(f'<section class="signal" id="signal-{signal}"')
    end = page.find('<section class="signal"', start + 1)
    return page[start : end if end > 0 else len(page)]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _add_metric(
    rows: list[dict[str, Any]],
    base: dict[str, Any],
    signal: str,
    kind: str,
    feature: str,
    data_type: str,
    metric: str,
    value: float,
    threshold: float | None,
    breached: bool,
    baseline: float | None = None,
) -> None:
    """Append one metric row to ``rows``."""
    rows.append(
        {
            **base,
            "signal_name": signal,
            "signal_type": kind,
            "feature_name": feature,
            "data_type": data_type,
            "metric_name": metric,
            "metric_value": value,
            "threshold_value": threshold,
            "breached": breached,
            "baseline_value": baseline,
            "group": feature,
        }
    )


def write_synthetic_runs(
    destination: str,
    *,
    monitors: int = 1,
    runs: int = 10,
    features: int = 20,
    start: dt.datetime = FIRST,
) -> list[str]:
    """Write ``runs`` hourly runs of each of ``monitors`` monitors (``monitor-000``...) straight
    into the results store, in the shape ``modeltap.monitor.run`` writes: a data-drift signal
    (two metrics per feature, ``f00`` breaching in the last run), a data-quality signal (three
    rates per feature) and a model-performance signal, with histograms. Returns the names."""
    from modeltap.monitor.results import HISTOGRAM_SCHEMA, METRIC_SCHEMA, ResultsStore

    rng = np.random.default_rng(11)
    store = ResultsStore(destination)
    names = [f"monitor-{m:03d}" for m in range(monitors)]
    kinds = ["categorical" if i % 5 == 4 else "numerical" for i in range(features)]
    for name in names:
        for index in range(runs):
            end = start + dt.timedelta(hours=index + 1)
            window = (end - dt.timedelta(hours=1), end)
            last = index == runs - 1
            rows: list[dict[str, Any]] = []
            histograms: list[dict[str, Any]] = []
            base = {
                "monitor_name": name,
                "production_row_count": 1000,
                "reference_row_count": 5000,
                "window_start": window[0],
                "window_end": window[1],
                "reference_window_start": None,
                "reference_window_end": None,
                "run_time": end,
                "group_dimension": "",
            }
            add = functools.partial(_add_metric, rows, base)
            add("drift", "data_drift", "", "", "row_count", 1000.0, None, False, 5000.0)
            add("quality", "data_quality", "", "", "row_count", 1000.0, None, False, 5000.0)
            for i, data_type in enumerate(kinds):
                feature = f"f{i:02d}"
                value = float(rng.uniform(0.0, 0.08))
                breached = last and i == 0
                value = 0.4 if breached else value
                add(
                    "drift",
                    "data_drift",
                    feature,
                    data_type,
                    "jensen_shannon_distance",
                    value,
                    0.1,
                    breached,
                )
                add(
                    "drift",
                    "data_drift",
                    feature,
                    data_type,
                    "population_stability_index",
                    value * 2,
                    0.2,
                    breached,
                )
                for metric in ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate"):
                    add(
                        "quality", "data_quality", feature, data_type, metric, 0.0, 0.01, False, 0.0
                    )
                bins = 10 if data_type == "numerical" else 6
                for b in range(bins):
                    histograms.append(
                        {
                            "signal_name": "drift",
                            "feature_name": feature,
                            "data_type": data_type,
                            "bin": b,
                            "lower_bound": float(b) if data_type == "numerical" else None,
                            "upper_bound": float(b + 1) if data_type == "numerical" else None,
                            "category": None if data_type == "numerical" else f"c{b}",
                            "reference_count": int(rng.integers(100, 900)),
                            "production_count": int(rng.integers(10, 200)),
                        }
                    )
            add("performance", "model_performance", "", "", "row_count", 1000.0, None, False, 800.0)
            add(
                "performance", "model_performance", "", "", "labelled_row_count", 700.0, None, False
            )
            add(
                "performance",
                "model_performance",
                "",
                "",
                "accuracy",
                float(rng.uniform(0.8, 0.95)),
                0.7,
                False,
            )
            signal_common = {
                "window_start": _iso(window[0]),
                "window_end": _iso(window[1]),
                "reference_window_start": None,
                "reference_window_end": None,
                "production_row_count": 1000,
                "reference_row_count": 5000,
                "schema_changes": {"added": [], "missing": [], "retyped": []},
            }
            drift_status = "breached" if last else "ok"
            info = {
                "monitor": name,
                "window_start": _iso(window[0]),
                "window_end": _iso(end),
                "engine": "embedded",
                "start_time": _iso(end),
                "end_time": _iso(end),
                "status": "succeeded",
                "breached": last,
                "signals": {
                    "drift": {"type": "data_drift", "status": drift_status, **signal_common},
                    "quality": {"type": "data_quality", "status": "ok", **signal_common},
                    "performance": {
                        "type": "model_performance",
                        "status": "ok",
                        **signal_common,
                        "schema_changes": None,
                    },
                },
            }
            metrics = pa.Table.from_pylist(rows, METRIC_SCHEMA)
            bins_table = pa.Table.from_pylist(histograms, HISTOGRAM_SCHEMA)
            store.write(name, end.strftime("%Y%m%dT%H%M%SZ"), metrics, bins_table, info)
    return names


def collect_sample_asset(destination: str) -> str:
    """Collect two batches of ``model_inputs`` with modeltap (Parquet) into ``destination``;
    returns the data asset's name. The pipeline is shut down afterwards."""
    settings = modeltap.configure(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {"destination": destination, "fsync": "never", "format": "parquet"},
        }
    )
    inputs = modeltap.Collector(name="model_inputs")
    for batch in range(2):
        frame = pd.DataFrame({"age": [30 + batch, 41, 52], "city": ["paris", "lyon", "nice"]})
        inputs.collect(frame)
        assert modeltap.flush(timeout=60)
    modeltap.shutdown(timeout=60)
    modeltap.configure({})
    return f"{settings.endpoint}-{settings.deployment_name}-model_inputs"
