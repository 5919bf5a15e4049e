"""feature_attribution_drift and top_n_feature_importance through modeltap.monitor.run."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap.monitor
from modeltap.monitor.attribution import surrogate

AT = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)
FEATURES = ["a", "b", "c", "zone"]


def _write(path: Path, weights: tuple[float, float, float], seed: int, rows: int = 3000) -> str:
    """Features a, b, c (floats), zone (text, no effect) and y = weights . (a, b, c), with
    times in the hour before AT."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, rows))
    table = pa.table(
        {
            "a": a,
            "b": b,
            "c": c,
            "zone": rng.choice(["north", "south"], size=rows),
            "y": weights[0] * a + weights[1] * b + weights[2] * c + 0.05 * rng.normal(size=rows),
            "time": pa.array([AT - dt.timedelta(minutes=30)] * rows, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    return str(path)


def _definition(
    tmp_path: Path, production: tuple[float, float, float], **extra: Any
) -> dict[str, Any]:
    """An attribution signal: the reference has y = 4a + 2b + 1c, production ``production``."""
    reference = _write(tmp_path / "reference.parquet", (4, 2, 1), seed=1)
    current = _write(tmp_path / "production.parquet", production, seed=2)
    sides = {
        "production_data": {
            "input_data": {"path": current},
            "data_window": {"lookback_window_size": "PT1H"},
        },
        "reference_data": {
            "input_data": {"path": reference},
            "data_column_names": {"target_column": "y"},
        },
    }
    return {
        "name": "attribution",
        "destination": str(tmp_path / "store"),
        "create_monitor": {
            "monitoring_signals": {
                "fad": {
                    "type": "feature_attribution_drift",
                    **sides,
                    "metric_thresholds": {"normalized_discounted_cumulative_gain": 0.9},
                },
                **extra,
            }
        },
    }


def _rows(frame: pd.DataFrame, metric: str) -> dict[str, float]:
    """feature -> value of one metric of the attribution signal."""
    rows = frame[(frame.signal_name == "fad") & (frame.metric_name == metric)]
    return dict(zip(rows.feature_name, rows.metric_value.astype(float), strict=True))


def test_swapped_importance_order_breaches(tmp_path: Path) -> None:
    """Production learned y = 1a + 2b + 4c: the ranking is reversed, NDCG falls below 0.9."""
    run = modeltap.monitor.run(_definition(tmp_path, (1, 2, 4)), at=AT)
    assert run.signals["fad"]["status"] == "breached"
    ndcg = _rows(run.metrics, "normalized_discounted_cumulative_gain")[""]
    assert ndcg < 0.9
    reference = _rows(run.metrics, "reference_feature_importance")
    production = _rows(run.metrics, "production_feature_importance")
    assert sorted(reference, key=lambda f: -reference[f]) == ["a", "b", "c", "zone"]
    assert sorted(production, key=lambda f: -production[f])[:3] == ["c", "b", "a"]
    assert "normalized_discounted_cumulative_gain" in run.signals["fad"]["message"]
    stored = pq.read_table(Path(run.path) / "metrics.parquet").to_pandas()
    assert _rows(stored, "reference_feature_importance") == reference
    info = json.loads((Path(run.path) / "run.json").read_text())
    assert info["breached"] is True


def test_stable_importance_order_does_not_breach(tmp_path: Path) -> None:
    """Production follows the reference's relation: NDCG near 1, no breach."""
    run = modeltap.monitor.run(_definition(tmp_path, (4, 2, 1)), at=AT)
    assert run.signals["fad"]["status"] == "ok"
    assert _rows(run.metrics, "normalized_discounted_cumulative_gain")[""] > 0.99
    thresholds = run.metrics[run.metrics.metric_name == "normalized_discounted_cumulative_gain"]
    assert thresholds.threshold_value.tolist() == [0.9]


def test_two_runs_give_the_same_numbers(tmp_path: Path) -> None:
    """Deterministic: a second run (here without the cache) gives identical values."""
    definition = _definition(tmp_path, (1, 2, 4))
    first = modeltap.monitor.run(definition, at=AT)
    for entry in (tmp_path / "store" / "_monitoring").rglob("*.json"):
        if entry.parent.name == "feature_importance":
            entry.unlink()
    second = modeltap.monitor.run(definition, at=AT)
    columns = ["feature_name", "metric_name", "metric_value"]
    pd.testing.assert_frame_equal(
        first.metrics[columns].reset_index(drop=True),
        second.metrics[columns].reset_index(drop=True),
    )


class _Counter:
    """Wraps surrogate.feature_importances, counting trainings."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = surrogate.feature_importances

    def __call__(self, *args: Any, **kwargs: Any) -> surrogate.Importances:
        self.calls += 1
        return self.real(*args, **kwargs)


def test_top_n_selects_and_the_reference_is_learned_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drift signal with top_n_feature_importance: 2 covers a and b; a second run against the
    same reference trains only production's surrogate (the reference's comes from the cache),
    and a changed reference is learned again."""
    counter = _Counter()
    monkeypatch.setattr(surrogate, "feature_importances", counter)
    drift = {
        "type": "data_drift",
        "production_data": {
            "input_data": {"path": str(tmp_path / "production.parquet")},
            "data_window": {"lookback_window_size": "PT1H"},
        },
        "reference_data": {
            "input_data": {"path": str(tmp_path / "reference.parquet")},
            "data_column_names": {"target_column": "y"},
        },
        "features": {"top_n_feature_importance": 2},
    }
    definition = _definition(tmp_path, (4, 2, 1), drift=drift)
    first = modeltap.monitor.run(definition, at=AT)
    assert counter.calls == 2  # the reference once (shared by both signals), production once
    features = set(first.metrics[first.metrics.signal_name == "drift"].feature_name) - {""}
    assert features == {"a", "b"}
    cached = list(
        (tmp_path / "store" / "_monitoring" / "attribution" / "feature_importance").glob("*.json")
    )
    assert len(cached) == 1
    modeltap.monitor.run(definition, at=AT)
    assert counter.calls == 3  # production only
    _write(tmp_path / "reference.parquet", (4, 2, 1), seed=5, rows=2500)
    modeltap.monitor.run(definition, at=AT)
    assert counter.calls == 5  # the changed reference, and production


def test_production_without_the_target_fails_that_signal(tmp_path: Path) -> None:
    """Production lacking the target column: the signal fails with a clear error, the run is
    failed, other signals still complete."""
    definition = _definition(tmp_path, (4, 2, 1))
    pq.write_table(
        pq.read_table(tmp_path / "production.parquet").drop_columns(["y"]),
        tmp_path / "production.parquet",
    )
    signals = definition["create_monitor"]["monitoring_signals"]
    signals["quality"] = {
        "type": "data_quality",
        "production_data": signals["fad"]["production_data"],
        "reference_data": {"input_data": {"path": str(tmp_path / "reference.parquet")}},
    }
    run = modeltap.monitor.run(definition, at=AT)
    assert run.signals["fad"]["status"] == "failed"
    assert "has no target column 'y'" in run.signals["fad"]["error"]
    assert run.signals["quality"]["status"] in ("ok", "breached")
    assert run.status == "failed"


def test_top_n_in_the_attribution_signal(tmp_path: Path) -> None:
    """features: {top_n_feature_importance: 2} compares the two most important reference
    features only."""
    definition = _definition(tmp_path, (1, 2, 4))
    definition["create_monitor"]["monitoring_signals"]["fad"]["features"] = {
        "top_n_feature_importance": 2
    }
    run = modeltap.monitor.run(definition, at=AT)
    assert set(_rows(run.metrics, "reference_feature_importance")) == {"a", "b"}
    assert set(_rows(run.metrics, "production_feature_importance")) == {"a", "b"}


def test_without_the_extra_the_signal_fails_with_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without lightgbm the signal is failed with the install command; the run goes on."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "lightgbm" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    run = modeltap.monitor.run(_definition(tmp_path, (4, 2, 1)), at=AT)
    assert run.signals["fad"]["status"] == "failed"
    assert 'pip install "modeltap[attribution]"' in run.signals["fad"]["error"]


def test_default_production_joins_collected_inputs_and_outputs(
    tmp_path: Path, data_dir: Path
) -> None:
    """As on the platform, a signal without production_data learns from the deployment's
    model_inputs joined with its model_outputs (the prediction in the target column)."""
    modeltap.configure(
        {
            "endpoint_name": "credit-endpoint",
            "name": "blue",
            "data_collector": {"destination": str(data_dir), "fsync": "never"},
        }
    )
    rng = np.random.default_rng(7)
    a, b, c = rng.normal(size=(3, 2000))
    try:
        context = modeltap.Collector(name="model_inputs").collect(
            pd.DataFrame({"a": a, "b": b, "c": c})
        )
        modeltap.Collector(name="model_outputs").collect(
            pd.DataFrame({"y": 1 * a + 2 * b + 4 * c}), context
        )
        assert modeltap.flush(timeout=30)
    finally:
        modeltap.shutdown(timeout=30)
    reference = tmp_path / "training.parquet"
    r = np.random.default_rng(8).normal(size=(3, 2000))
    pq.write_table(
        pa.table({"a": r[0], "b": r[1], "c": r[2], "y": 4 * r[0] + 2 * r[1] + r[2]}), reference
    )
    definition = {
        "name": "joined",
        "trigger": {"type": "recurrence", "frequency": "day", "interval": 1},
        "create_monitor": {
            "monitoring_target": {"endpoint_deployment_id": "azureml:credit-endpoint:blue"},
            "monitoring_signals": {
                "fad": {
                    "type": "feature_attribution_drift",
                    "reference_data": {
                        "input_data": {"path": str(reference), "type": "uri_file"},
                        "data_column_names": {"target_column": "y"},
                    },
                }
            },
        },
    }
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    run = modeltap.monitor.run(definition, at=at, destination=str(data_dir))
    assert run.signals["fad"]["status"] == "breached", run.signals["fad"]
    production = _rows(run.metrics, "production_feature_importance")
    assert max(production, key=lambda f: production[f]) == "c"
    assert run.signals["fad"]["production_row_count"] == 2000
