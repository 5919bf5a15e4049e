"""Parity: every signal gives the same metrics on the embedded and the Spark engine (within
1e-9), over the same generated collected tree: JSON lines, Parquet, and both mixed.

The tree holds the cases that break the platform: constant int and float columns, an all-null
feature, categories seen on one side only, a feature whose type differs between files (int64 in
one, double in another), a duplicated event (at-least-once delivery), files outside the windows
(pruned by partition folder, or filtered by event time), an empty production window, and ground
truth for classification and regression."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap.monitor
from modeltap.monitor.engines import EmbeddedEngine
from modeltap.monitor.runner import MonitorRun
from tests.monitor.conftest import DRIFT_THRESHOLDS

pytestmark = pytest.mark.integration  # a JVM (pyspark)

AT = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)
REFERENCE_HOUR = AT - dt.timedelta(hours=2)
PRODUCTION_HOUR = AT - dt.timedelta(hours=1)
TOLERANCE = 1e-9


def _features(rng: np.random.Generator, rows: int, production: bool, first: bool) -> pd.DataFrame:
    """One event's worth of feature rows; production is shifted; ``first`` files hold the
    drifting column as integers, the others as floats."""
    shift = 0.7 if production else 0.0
    cities = ["a", "b", "c", "new"] if production else ["a", "b", "c", "old"]
    drifting = rng.integers(0, 50, rows)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows).round(3),
            "y": rng.exponential(2.0 + shift, rows),
            "level": rng.integers(0, 3, rows),  # a low-cardinality integer: categorical
            "city": rng.choice(cities, rows),
            "const_int": np.full(rows, 7),
            "const_float": np.zeros(rows),
            "all_null": [None] * rows,
            "drifting": drifting if first else drifting + 0.5,
            "label": rng.choice(["yes", "no"], rows),
            "score": rng.normal(10.0, 2.0, rows),
        }
    )


def _event(
    frame: pd.DataFrame, time: dt.datetime, correlation: str, event_id: str
) -> dict[str, Any]:
    """A collected record of ``frame``'s rows."""
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/modeltap/ep/dep",
        "type": "azureml.inference.model_inputs",
        "datacontenttype": "application/json",
        "time": time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": rows,
        "correlationid": correlation,
        "xrequestid": correlation,
    }


def _write_file(folder: Path, name: str, events: list[dict[str, Any]], file_format: str) -> None:
    """One committed file of ``events`` in modeltap's layout (JSON lines or Parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    if file_format == "jsonl":
        lines = [json.dumps(event, default=lambda v: v.item()) for event in events]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        return
    tables = []
    for event in events:
        frame = pd.DataFrame(event["data"])
        envelope = {
            "correlationid": pa.array([event["correlationid"]] * len(frame), pa.string()),
            "xrequestid": pa.array([event["xrequestid"]] * len(frame), pa.string()),
            "time": pa.array(
                [pd.Timestamp(event["time"]).to_pydatetime()] * len(frame),
                pa.timestamp("us", tz="UTC"),
            ),
            "id": pa.array([event["id"]] * len(frame), pa.string()),
            "row_index": pa.array(np.arange(len(frame)), pa.int64()),
            "modelversion": pa.array(["1"] * len(frame), pa.string()),
        }
        data = pa.Table.from_pandas(frame, preserve_index=False)
        if "all_null" in data.column_names:
            index = data.schema.get_field_index("all_null")
            data = data.set_column(index, "all_null", pa.nulls(len(frame), pa.float64()))
        tables.append(pa.table({**envelope, **{n: data.column(n) for n in data.column_names}}))
    pq.write_table(pa.concat_tables(tables), folder / f"{name}.parquet")


def _hour_folder(root: Path, hour: dt.datetime) -> Path:
    """The partition folder of ``hour``."""
    return root / f"{hour:%Y}" / f"{hour:%m}" / f"{hour:%d}" / f"{hour:%H}"


def _tree(root: Path, file_format: str) -> tuple[Path, Path]:
    """The model_inputs and ground_truth collections over four hours (``mixed``: the first
    file of each hour in JSON lines, the second in Parquet, as after a format change)."""
    rng = np.random.default_rng(23)
    inputs, truth = root / "ep" / "dep" / "model_inputs", root / "ep" / "dep" / "ground_truth"
    hours = {
        "before": AT - dt.timedelta(hours=3),
        "reference": REFERENCE_HOUR,
        "production": PRODUCTION_HOUR,
        "after": AT,
    }
    for label, hour in hours.items():
        production = label in ("production", "after")
        for part in range(2):  # two files an hour, the drifting column typed differently
            events, labels = [], []
            for index in range(4):
                moment = hour + dt.timedelta(minutes=5 + 10 * index + part)
                correlation = str(uuid.UUID(int=int(rng.integers(1 << 62))))
                frame = _features(rng, 40 + 7 * index, production, first=part == 0)
                events.append(_event(frame, moment, correlation, str(uuid.uuid4())))
                if index < 3:  # ground truth for three events in four
                    truths = pd.DataFrame(
                        {
                            "label": np.where(rng.random(len(frame)) < 0.7, frame.label, "yes"),
                            "score": frame.score + rng.normal(0.0, 1.0, len(frame)),
                        }
                    )
                    later = moment + dt.timedelta(minutes=2)
                    labels.append(_event(truths, later, correlation, str(uuid.uuid4())))
            events.append(dict(events[1]))  # delivered twice: counted once
            written = file_format if file_format != "mixed" else ("jsonl", "parquet")[part]
            _write_file(_hour_folder(inputs, hour), f"part-{part}", events, written)
            _write_file(_hour_folder(truth, hour), f"part-{part}", labels, written)
    return inputs, truth


def _definition(inputs: Path, truth: Path) -> dict[str, Any]:
    """Every signal type over the tree, and a signal whose production window is empty."""
    production = {
        "input_data": {"path": str(inputs)},
        "data_window": {"lookback_window_size": "PT1H"},
    }
    reference = {
        "input_data": {"path": str(inputs)},
        "data_window": {"lookback_window_size": "PT1H", "lookback_window_offset": "PT1H"},
    }
    empty = {
        "input_data": {"path": str(inputs)},
        "data_window": {"lookback_window_size": "PT1H", "lookback_window_offset": "P1D"},
    }
    labels = {
        "input_data": {"path": str(truth)},
        "data_context": "ground_truth",
        "data_column_names": {"actual": "label"},
    }
    return {
        "name": "parity",
        "create_monitor": {
            "monitoring_signals": {
                "drift": {
                    "type": "data_drift",
                    "production_data": production,
                    "reference_data": reference,
                    "metric_thresholds": DRIFT_THRESHOLDS,
                },
                "outputs": {
                    "type": "prediction_drift",
                    "production_data": production,
                    "reference_data": reference,
                    "features": ["label", "score"],
                    "metric_thresholds": DRIFT_THRESHOLDS,
                },
                "quality": {
                    "type": "data_quality",
                    "production_data": production,
                    "reference_data": reference,
                },
                "empty": {
                    "type": "data_drift",
                    "production_data": empty,
                    "reference_data": reference,
                },
                "classes": {
                    "type": "model_performance",
                    "production_data": {**production, "data_column_names": {"prediction": "label"}},
                    "reference_data": labels,
                    "metric_thresholds": {
                        "classification": dict.fromkeys(
                            ["accuracy", "precision", "recall", "f1_score"], 0.9
                        )
                    },
                },
                "errors": {
                    "type": "model_performance",
                    "production_data": {**production, "data_column_names": {"prediction": "score"}},
                    "reference_data": {**labels, "data_column_names": {"actual": "score"}},
                    "metric_thresholds": {"regression": {"mae": 0.5, "mse": 0.5, "rmse": 0.5}},
                },
            }
        },
    }


def _key(frame: pd.DataFrame) -> pd.DataFrame:
    """Metric rows in a fixed order."""
    return frame.sort_values(["signal_name", "feature_name", "metric_name"]).reset_index(drop=True)


def _assert_same_metrics(embedded: MonitorRun, spark: MonitorRun) -> None:
    """The same rows, breaches and row counts; values within TOLERANCE (NaN where NaN)."""
    left, right = _key(embedded.metrics), _key(spark.metrics)
    keys = ["signal_name", "feature_name", "data_type", "metric_name"]
    assert left[keys].values.tolist() == right[keys].values.tolist()
    for column in ("breached", "production_row_count", "reference_row_count"):
        assert left[column].tolist() == right[column].tolist(), column
    for column in ("metric_value", "threshold_value", "baseline_value"):
        a = left[column].to_numpy(np.float64, na_value=np.nan)
        b = right[column].to_numpy(np.float64, na_value=np.nan)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=column)
        close = np.abs(np.nan_to_num(a) - np.nan_to_num(b))
        worst = int(np.argmax(close))
        assert close[worst] <= TOLERANCE, (column, left.iloc[worst].to_dict(), b[worst])


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "mixed"])
def test_every_signal_has_the_same_metrics_on_both_engines(
    spark_session: Any, tmp_path: Path, file_format: str
) -> None:
    """Each metric of each signal matches within 1e-9; statuses, histograms and schema changes
    are the same."""
    inputs, truth = _tree(tmp_path / "data", file_format)
    definition = _definition(inputs, truth)
    with EmbeddedEngine(memory_limit="256MB", threads=1) as embedded_engine:
        embedded = modeltap.monitor.run(
            definition, at=AT, destination=str(tmp_path / "embedded"), engine=embedded_engine
        )
    spark = modeltap.monitor.run(
        definition, at=AT, destination=str(tmp_path / "spark"), spark_session=spark_session
    )
    assert embedded.status == "succeeded", embedded.signals
    assert spark.info["engine"] == "spark" and embedded.info["engine"] == "embedded"
    _assert_same_metrics(embedded, spark)
    for name, signal in embedded.signals.items():
        assert spark.signals[name] == signal, name
    assert embedded.signals["empty"]["status"] == "no_data"
    assert embedded.signals["drift"]["status"] == "breached"
    retyped = [r["feature"] for r in embedded.signals["drift"]["schema_changes"]["retyped"]]
    assert retyped == []  # int64 and double files unify to double on both sides
    rows = embedded.metrics.set_index(["signal_name", "feature_name", "metric_name"])
    assert rows.loc[("drift", "", "row_count"), "metric_value"] == 2 * (40 + 47 + 54 + 61)
    assert rows.loc[("drift", "const_int", "jensen_shannon_distance"), "metric_value"] == 0.0
    assert "all_null" in embedded.signals["drift"]["no_data_features"] or math.isnan(
        rows.loc[("drift", "all_null", "jensen_shannon_distance"), "metric_value"]
    )
    assert rows.loc[("classes", "", "labelled_row_count"), "metric_value"] > 0
    histograms = [
        pq.read_table(Path(run.path) / "histograms.parquet").to_pandas()
        for run in (embedded, spark)
    ]
    order = ["signal_name", "feature_name", "bin"]
    left, right = (h.sort_values(order).reset_index(drop=True) for h in histograms)
    pd.testing.assert_frame_equal(left, right, rtol=0, atol=TOLERANCE)
