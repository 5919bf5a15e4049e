"""The surrogate's importances: the known order is found, runs are identical, edge cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from modeltap.errors import MissingDependencyError, MonitorError
from modeltap.monitor.attribution import surrogate


def _table(weights: tuple[float, float, float], rows: int = 3000, seed: int = 1) -> pa.Table:
    """Features a, b, c (floats) and zone (text, no effect); y = weights . (a, b, c)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, rows))
    noise = 0.05 * rng.normal(size=rows)
    return pa.table(
        {
            "a": a,
            "b": b,
            "c": c,
            "zone": rng.choice(["north", "south"], size=rows),
            "y": weights[0] * a + weights[1] * b + weights[2] * c + noise,
        }
    )


def test_importances_follow_the_known_order() -> None:
    """y = 4a + 2b + 1c: a, then b, then c, then the unused zone."""
    learned = surrogate.feature_importances(_table((4, 2, 1)), ["a", "b", "c", "zone"], "y")
    order = sorted(learned.values, key=lambda f: -learned.values[f])
    assert order == ["a", "b", "c", "zone"]
    assert learned.task == "regression"
    assert learned.data_types == {
        "a": "numerical",
        "b": "numerical",
        "c": "numerical",
        "zone": "categorical",
    }
    assert (learned.training_rows, learned.held_out_rows) == (1500, 1500)


def test_same_data_same_importances() -> None:
    """Two trainings on the same data give identical numbers."""
    table = _table((4, 2, 1))
    first = surrogate.feature_importances(table, ["a", "b", "c", "zone"], "y")
    second = surrogate.feature_importances(table, ["a", "b", "c", "zone"], "y")
    assert first.values == second.values


def test_held_out_is_capped_on_large_data() -> None:
    """Over 10,000 rows, the held-out half is cut to 5,000 rows."""
    learned = surrogate.feature_importances(_table((1, 1, 1), rows=12_000), ["a", "b"], "y")
    assert (learned.training_rows, learned.held_out_rows) == (6000, 5000)


def test_classification_target_and_nulls() -> None:
    """A text target trains a classifier; rows without a target are left out; null features
    are missing values."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 2000))
    labels = np.where(a > 0, "yes", "no").astype(object)
    labels[:10] = None
    b_values = b.astype(object)
    b_values[::7] = None
    table = pa.table({"a": a, "b": pa.array(list(b_values), pa.float64()), "y": list(labels)})
    learned = surrogate.feature_importances(table, ["a", "b"], "y")
    assert learned.task == "classification"
    assert learned.training_rows + learned.held_out_rows == 1990
    assert learned.values["a"] > learned.values["b"]


def test_one_class_learns_nothing() -> None:
    """A constant categorical target gives zero importances (no model to train)."""
    table = pa.table({"a": [1.0, 2.0, 3.0], "y": ["x", "x", "x"]})
    learned = surrogate.feature_importances(table, ["a"], "y")
    assert learned.values == {"a": 0.0}


def test_missing_target_and_too_few_rows() -> None:
    """A missing target column and fewer than two labelled rows are clear errors."""
    with pytest.raises(MonitorError, match=r"no target column 'label' .*; the data has: a, y"):
        surrogate.feature_importances(pa.table({"a": [1.0], "y": [1.0]}), ["a"], "label")
    with pytest.raises(MonitorError, match="1 row\\(s\\) with a value in the target"):
        surrogate.feature_importances(pa.table({"a": [1.0, 2.0], "y": [1.0, None]}), ["a"], "y")


def test_without_lightgbm_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the attribution extra: MissingDependencyError with the pip command."""
    real_find_spec = __import__("importlib.util").util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "lightgbm" else real_find_spec(name, *args)

    monkeypatch.setattr("importlib.util.find_spec", find_spec)
    with pytest.raises(MissingDependencyError, match=r'pip install "modeltap\[attribution\]"'):
        surrogate.feature_importances(_table((1, 1, 1), rows=100), ["a"], "y")


def test_categorical_types_are_learned() -> None:
    """Text, boolean, timestamp and binary features are categories; the one that decides the
    target ranks first."""
    rng = np.random.default_rng(4)
    rows = 1500
    flag = rng.random(rows) > 0.5
    table = pa.table(
        {
            "flag": flag,
            "day": pa.array(rng.integers(0, 3, rows) * 86_400_000_000, pa.timestamp("us")),
            "raw": pa.array([bytes([v]) for v in rng.integers(200, 203, rows)], pa.binary()),
            "y": np.where(flag, 10.0, 0.0) + 0.01 * rng.normal(size=rows),
        }
    )
    learned = surrogate.feature_importances(table, ["flag", "day", "raw"], "y")
    assert set(learned.data_types.values()) == {"categorical"}
    assert max(learned.values, key=lambda f: learned.values[f]) == "flag"
