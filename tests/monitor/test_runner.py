"""modeltap.monitor.run: the cases that break the platform do not crash; out-of-box windows."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap
import modeltap.monitor
from modeltap.errors import MonitorError
from tests.conftest import EXAMPLES, ConfigureTap, load_script
from tests.monitor.conftest import DRIFT_THRESHOLDS

AT = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)


def _write(path: Path, columns: dict[str, Any], with_time: bool) -> str:
    """A Parquet file of ``columns`` (times inside the hour before AT when ``with_time``)."""
    table = pa.table(columns)
    if with_time:
        times = [AT - dt.timedelta(minutes=30)] * len(table)
        table = table.append_column("time", pa.array(times, pa.timestamp("us", tz="UTC")))
    pq.write_table(table, path)
    return str(path)


def _definition(reference: str, production: str, **signal: Any) -> dict[str, Any]:
    """A data-drift and a data-quality signal over the two files."""
    sides = {
        "production_data": {
            "input_data": {"path": production},
            "data_window": {"lookback_window_size": "PT1H"},
        },
        "reference_data": {"input_data": {"path": reference}},
    }
    return {
        "name": "edge",
        "create_monitor": {
            "monitoring_signals": {
                "drift": {
                    "type": "data_drift",
                    **sides,
                    "metric_thresholds": DRIFT_THRESHOLDS,
                    **signal,
                },
                "quality": {"type": "data_quality", **sides},
            }
        },
    }


def _value(frame: pd.DataFrame, signal: str, feature: str, metric: str) -> float:
    """One metric value from a run's rows."""
    rows = frame[
        (frame.signal_name == signal)
        & (frame.feature_name == feature)
        & (frame.metric_name == metric)
    ]
    assert len(rows) == 1, (signal, feature, metric)
    return float(rows.metric_value.iloc[0])


def test_edge_cases_do_not_crash(tmp_path: Path) -> None:
    """Constant int/float columns, one reference value, all-null, missing, added, retyped,
    production-only category: recorded, never a crash."""
    reference = _write(
        tmp_path / "reference.parquet",
        {
            "const_int": [7] * 20,
            "const_float": [0.0] * 20,
            "one_value": [5.0] * 20,
            "all_null": pa.nulls(20, pa.float64()),
            "gone": list(range(20)),
            "retyped": list(range(20)),
            "city": ["a", "b"] * 10,
        },
        with_time=False,
    )
    production = _write(
        tmp_path / "production.parquet",
        {
            "const_int": [7] * 10,
            "const_float": [0.0] * 10,
            "one_value": [5.0, 6.0, 7.0, 8.0, 9.0] * 2,
            "all_null": pa.nulls(10, pa.float64()),
            "retyped": [float(i) + 0.5 for i in range(10)],
            "city": ["a", "b", "new", "new", "a", "b", "a", "b", "a", "b"],
            "added": list(range(10)),
        },
        with_time=True,
    )
    result = modeltap.monitor.run(
        _definition(reference, production), at=AT, destination=str(tmp_path)
    )
    assert result.status == "succeeded"
    assert result.signals["drift"]["status"] == "breached"
    metrics = result.metrics
    assert _value(metrics, "drift", "const_int", "jensen_shannon_distance") == 0.0
    assert _value(metrics, "drift", "const_float", "population_stability_index") == 0.0
    assert _value(metrics, "drift", "one_value", "normalized_wasserstein_distance") > 100
    assert _value(metrics, "drift", "city", "pearsons_chi_squared_test") == 0.0
    assert math.isnan(_value(metrics, "drift", "all_null", "jensen_shannon_distance"))
    assert _value(metrics, "drift", "retyped", "jensen_shannon_distance") > 0
    assert _value(metrics, "drift", "", "row_count") == 10
    changes = result.signals["drift"]["schema_changes"]
    assert changes["missing"] == ["gone"]
    assert "added" in changes["added"] and "time" not in changes["added"]
    assert changes["retyped"] == [
        {"feature": "retyped", "reference_type": "int64", "production_type": "double"}
    ]
    assert result.signals["drift"]["no_data_features"] == ["all_null"]
    assert not metrics[metrics.feature_name == "all_null"].breached.any()
    assert result.signals["drift"]["message"].startswith(
        "The signal 'drift' has failed due to one or more features violating metric thresholds."
    )
    quality = metrics[metrics.signal_name == "quality"]
    city_oob = quality[
        (quality.feature_name == "city") & (quality.metric_name == "out_of_bounds_rate")
    ]
    assert city_oob.metric_value.tolist() == [0.2] and city_oob.breached.tolist() == [True]
    nulls = quality[
        (quality.feature_name == "all_null") & (quality.metric_name == "null_value_rate")
    ]
    assert nulls.metric_value.tolist() == [1.0] and nulls.baseline_value.tolist() == [1.0]
    assert nulls.breached.tolist() == [False]  # as many nulls as in the reference
    assert not quality[quality.metric_name == "row_count"].breached.any()
    info = json.loads(Path(result.path, "run.json").read_text())
    assert info["signals"]["drift"]["schema_changes"] == changes
    histograms = pd.read_parquet(Path(result.path, "histograms.parquet"))
    city = histograms[histograms.feature_name == "city"]
    assert city.set_index("category").production_count.to_dict() == {"a": 4, "b": 4, "new": 2}


def test_empty_window_is_no_data(tmp_path: Path) -> None:
    """An empty production window: every signal no_data, row count 0, nothing breached."""
    reference = _write(tmp_path / "reference.parquet", {"x": [1.0, 2.0]}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": [1.0, 2.0]}, with_time=True)
    later = AT + dt.timedelta(days=1)
    result = modeltap.monitor.run(
        _definition(reference, production), at=later, destination=str(tmp_path)
    )
    assert {s["status"] for s in result.signals.values()} == {"no_data"}
    assert not result.breached and result.status == "succeeded"
    assert _value(result.metrics, "drift", "", "row_count") == 0
    row_counts = result.metrics[result.metrics.metric_name == "row_count"]
    assert row_counts.baseline_value.isna().all()  # a rate of data quality's only


def test_empty_window_of_model_performance_counts_no_labelled_rows(tmp_path: Path) -> None:
    """Model performance over an empty window: no_data, with row counts of 0, labelled too."""
    labels = _write(tmp_path / "labels.parquet", {"y": ["a"], "k": ["1"]}, with_time=False)
    predictions = _write(tmp_path / "predictions.parquet", {"y": ["a"], "k": ["1"]}, True)
    definition = {
        "name": "performance",
        "create_monitor": {
            "monitoring_signals": {
                "perf": {
                    "type": "model_performance",
                    "production_data": {
                        "input_data": {"path": predictions},
                        "data_column_names": {"prediction": "y", "correlation_id": "k"},
                        "data_window": {"lookback_window_size": "PT1H"},
                    },
                    "reference_data": {
                        "input_data": {"path": labels},
                        "data_context": "ground_truth",
                        "data_column_names": {"actual": "y", "correlation_id": "k"},
                    },
                    "metric_thresholds": {"classification": {"accuracy": 0.9}},
                }
            }
        },
    }
    empty = modeltap.monitor.run(
        definition, at=AT + dt.timedelta(days=1), destination=str(tmp_path)
    )
    assert empty.signals["perf"]["status"] == "no_data" and not empty.breached
    assert _value(empty.metrics, "perf", "", "row_count") == 0
    assert _value(empty.metrics, "perf", "", "labelled_row_count") == 0
    full = modeltap.monitor.run(definition, at=AT, destination=str(tmp_path))
    assert _value(full.metrics, "perf", "", "labelled_row_count") == 1
    assert _value(full.metrics, "perf", "", "accuracy") == 1.0


def test_failed_signal_does_not_stop_others(tmp_path: Path) -> None:
    """A signal that cannot read its data is failed; the other signals still run."""
    reference = _write(tmp_path / "reference.parquet", {"x": [1.0, 2.0]}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": [1.0, 2.0]}, with_time=True)
    definition = _definition(reference, production)
    definition["create_monitor"]["monitoring_signals"]["broken"] = {
        "type": "data_drift",
        "production_data": {"input_data": {"path": "no-such-asset"}},
        "reference_data": {"input_data": {"path": reference}},
    }
    result = modeltap.monitor.run(definition, at=AT, destination=str(tmp_path))
    assert result.status == "failed" and result.failed
    assert result.signals["broken"]["status"] == "failed"
    assert "no data asset no-such-asset" in result.signals["broken"]["error"]
    assert result.signals["drift"]["status"] == "ok"


def test_history_and_idempotent_rerun(tmp_path: Path) -> None:
    """Running the same window twice keeps one run; history reads every run."""
    reference = _write(tmp_path / "reference.parquet", {"x": [1.0, 2.0]}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": [1.0, 2.0]}, with_time=True)
    definition = _definition(reference, production)
    for at in (AT, AT, AT + dt.timedelta(minutes=10)):
        modeltap.monitor.run(definition, at=at, destination=str(tmp_path))
    history = modeltap.monitor.history("edge", destination=str(tmp_path))
    rows = history[
        (history.feature_name == "x") & (history.metric_name == "jensen_shannon_distance")
    ]
    assert len(rows) == 2
    assert modeltap.monitor.list_monitors(str(tmp_path))[0]["runs"] == 2
    with pytest.raises(MonitorError, match="no runs of monitor 'other'"):
        modeltap.monitor.history("other", destination=str(tmp_path))
    with pytest.raises(MonitorError, match="at 'tomorrow' is not a time"):
        modeltap.monitor.run(definition, at="tomorrow", destination=str(tmp_path))


def test_out_of_box_monitor_windows(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """No signals: drift, prediction drift and quality on the deployment's collections, the
    production window from the trigger (hourly: P1D) and the reference the 2P before it."""
    configure_tap()
    script = load_script(EXAMPLES / "score.py")
    script.init()
    script.run(json.dumps({"data": {"age": [31, 58, 44], "income": [52.5, 95.5, 61.0]}}))
    assert modeltap.flush(timeout=30)
    definition = {
        "name": "oob",
        "trigger": {"type": "recurrence", "frequency": "hour", "interval": 1},
        "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "azureml:ep:dep"}},
    }
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1)
    result = modeltap.monitor.run(definition, at=at, destination=str(data_dir))
    assert list(result.signals) == [
        "data-drift-signal",
        "prediction-drift-signal",
        "data-quality-signal",
    ]
    day = dt.timedelta(days=1)

    def iso(moment: dt.datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    for signal in result.signals.values():
        assert signal["window_start"] == iso(at - day)
        assert signal["window_end"] == iso(at)
        assert signal["reference_window_start"] == iso(at - 3 * day)
        assert signal["reference_window_end"] == iso(at - day)
        assert (signal["production_row_count"], signal["reference_row_count"]) == (3, 0)
        assert signal["status"] == "no_data"
    later = modeltap.monitor.run(definition, at=at + 2 * day, destination=str(data_dir))
    rows = {name: s["reference_row_count"] for name, s in later.signals.items()}
    assert rows == {"data-drift-signal": 3, "prediction-drift-signal": 3, "data-quality-signal": 3}
    assert {s["production_row_count"] for s in later.signals.values()} == {0}


def test_listed_features_and_unmonitored_types(tmp_path: Path) -> None:
    """A listed feature absent from the reference and a list column are recorded as
    unmonitored with the reason."""
    columns = {"x": [1.0, 2.0, 3.0], "tags": [["a"], ["b"], []]}
    reference = _write(tmp_path / "reference.parquet", columns, with_time=False)
    production = _write(tmp_path / "production.parquet", columns, with_time=True)
    definition = _definition(reference, production, features=["x", "tags", "ghost"])
    result = modeltap.monitor.run(definition, at=AT, destination=str(tmp_path))
    changes = result.signals["drift"]["schema_changes"]
    tags, ghost = changes["unmonitored"]
    assert tags["feature"] == "tags"
    assert tags["reason"].startswith("type list<") and tags["reason"].endswith("not monitored")
    assert ghost == {"feature": "ghost", "reason": "not in the reference"}
    assert changes["missing"] == ["ghost"]
    assert set(result.metrics.feature_name) == {"", "x"}


def test_run_agrees_with_scipy_on_raw_values(tmp_path: Path) -> None:
    """Through the engine, every drift metric equals scipy on the raw values (nulls dropped
    per feature), beyond the 10,000 rows where KS turns asymptotic."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(3)
    n = 12_000
    b = rng.normal(0, 1, n).round(3)
    p = rng.normal(0.05, 1.1, n + 500).round(3)
    p[:300] = np.nan  # nulls are ignored for this feature only
    cb_raw = rng.choice(["u", "v", "w"], n, p=[0.5, 0.3, 0.2])
    cp_raw = rng.choice(["u", "v", "w"], n + 500, p=[0.4, 0.3, 0.3])
    reference = _write(tmp_path / "reference.parquet", {"x": b, "c": cb_raw}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": p, "c": cp_raw}, with_time=True)
    result = modeltap.monitor.run(
        _definition(reference, production), at=AT, destination=str(tmp_path)
    )
    metrics = result.metrics
    q = p[~np.isnan(p)]
    k = math.ceil(math.log2(min(len(b), len(q))) + 1)
    edges = np.linspace(min(b.min(), q.min()), max(b.max(), q.max()), k + 1)
    hb, hp = np.histogram(b, edges)[0], np.histogram(q, edges)[0]
    fb, fp = (hb + 1) / (n + k), (hp + 1) / (len(q) + k)
    expected = {
        "jensen_shannon_distance": jensenshannon(hb / n, hp / len(q), base=2),
        "normalized_wasserstein_distance": stats.wasserstein_distance(b, q) / np.std(b, ddof=1),
        "population_stability_index": np.sum((fp - fb) * np.log(fp / fb)),
        "two_sample_kolmogorov_smirnov_test": stats.ks_2samp(b, q).pvalue,
        "chebyshev_distance": np.max(np.abs(hb / n - hp / len(q))),
    }
    for metric, value in expected.items():
        assert _value(metrics, "drift", "x", metric) == pytest.approx(value, rel=1e-9), metric
    names = ["u", "v", "w"]
    cb = np.array([(cb_raw == c).sum() for c in names])
    cp = np.array([(cp_raw == c).sum() for c in names])
    chi = stats.chisquare(cp, cb / cb.sum() * cp.sum()).pvalue
    assert _value(metrics, "drift", "c", "pearsons_chi_squared_test") == pytest.approx(chi)
    js = jensenshannon(cb / cb.sum(), cp / cp.sum(), base=2)
    assert _value(metrics, "drift", "c", "jensen_shannon_distance") == pytest.approx(js)


def test_engine_and_progress_of_the_caller(tmp_path: Path) -> None:
    """A caller's engine is used and left open; progress is reported per signal."""
    from modeltap.monitor.engines import EmbeddedEngine

    reference = _write(tmp_path / "reference.parquet", {"x": [1.0, 2.0]}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": [1.0, 2.0]}, with_time=True)
    calls: list[tuple[str, int, int]] = []
    with EmbeddedEngine() as engine:
        modeltap.monitor.run(
            _definition(reference, production),
            at=AT,
            destination=str(tmp_path),
            engine=engine,
            progress=lambda name, done, total: calls.append((name, done, total)),
        )
        again = modeltap.monitor.run(  # the same engine again: still open
            _definition(reference, production), at=AT, destination=str(tmp_path), engine=engine
        )
    assert again.signals["drift"]["status"] == "ok"
    assert calls == [("drift", 0, 2), ("quality", 1, 2), ("", 2, 2)]


def test_untyped_all_null_feature_is_no_data(tmp_path: Path) -> None:
    """A feature with no value on either side (Arrow type null) is listed as no_data."""
    columns = {"x": [1.0, 2.0, 3.0], "empty": pa.nulls(3)}
    reference = _write(tmp_path / "reference.parquet", columns, with_time=False)
    production = _write(tmp_path / "production.parquet", columns, with_time=True)
    result = modeltap.monitor.run(
        _definition(reference, production), at=AT, destination=str(tmp_path)
    )
    for signal in ("drift", "quality"):
        assert result.signals[signal]["no_data_features"] == ["empty"]
        assert result.signals[signal]["status"] == "ok"


def test_empty_reference_window_is_the_whole_dataset(tmp_path: Path) -> None:
    """``data_window: {}`` on the reference means no window: the whole dataset."""
    reference = _write(tmp_path / "reference.parquet", {"x": [1.0, 2.0]}, with_time=False)
    production = _write(tmp_path / "production.parquet", {"x": [1.0, 2.0]}, with_time=True)
    definition = _definition(reference, production)
    drift = definition["create_monitor"]["monitoring_signals"]["drift"]
    drift["reference_data"]["data_window"] = {}
    result = modeltap.monitor.run(definition, at=AT, destination=str(tmp_path))
    assert result.signals["drift"]["reference_row_count"] == 2
    assert result.signals["drift"]["reference_window_start"] is None
