"""Feature typing from the reference, overrides, and schema changes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from modeltap.monitor.aggregates import ColumnCounts
from modeltap.monitor.feature_types import SchemaChanges, compatible, feature_type


def _distinct(n: int, rows: int, kind: pa.DataType, nulls: int = 0) -> ColumnCounts:
    """A column of ``n`` distinct values over ``rows`` non-null rows."""
    counts = np.full(n, rows // n, np.int64)
    counts[0] += rows - counts.sum()
    return ColumnCounts(pa.array(range(n), kind), counts, nulls, kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (pa.string(), "categorical"),
        (pa.bool_(), "categorical"),
        (pa.timestamp("us", tz="UTC"), "categorical"),
        (pa.date32(), "categorical"),
        (pa.binary(), "categorical"),
        (pa.float64(), "numerical"),
        (pa.float32(), "numerical"),
        (pa.decimal128(10, 2), "numerical"),
        (pa.list_(pa.int64()), None),
        (pa.struct([("a", pa.int64())]), None),
        (pa.null(), None),
    ],
)
def test_types(kind: pa.DataType, expected: str | None) -> None:
    """Strings, booleans, times, binary are categorical; floats, decimals numerical."""
    assert feature_type("f", ColumnCounts.empty(kind, 0), (), ()) == expected


def test_integers_by_distinct_ratio() -> None:
    """Integers: categorical strictly below 5 % distinct (null counted as one more value)."""
    assert feature_type("f", _distinct(4, 100, pa.int64())) == "categorical"
    assert feature_type("f", _distinct(5, 100, pa.int64())) == "numerical"
    assert feature_type("f", _distinct(4, 99, pa.int64(), nulls=1)) == "numerical"
    assert feature_type("f", _distinct(3, 99, pa.int64(), nulls=1)) == "categorical"


def test_overrides_win() -> None:
    """Overrides win, numerical when a feature is listed under both."""
    floats = ColumnCounts.empty(pa.float64(), 0)
    assert feature_type("zip", floats, categorical=["zip"]) == "categorical"
    assert feature_type("zip", floats, categorical=["zip"], numerical=["zip"]) == "numerical"
    assert feature_type("s", ColumnCounts.empty(pa.string(), 0), numerical=["s"]) == "numerical"


def test_compatibility() -> None:
    """Int vs float is retyped but compared; string vs float is not comparable numerically."""
    assert compatible(pa.int64(), pa.int64(), "numerical") == "same"
    assert compatible(pa.int64(), pa.float64(), "numerical") == "retyped"
    assert compatible(pa.float64(), pa.string(), "numerical") == "incompatible"
    assert compatible(pa.int64(), pa.string(), "categorical") == "retyped"
    assert compatible(pa.string(), pa.null(), "categorical") == "same"
    assert compatible(pa.string(), pa.list_(pa.string()), "categorical") == "incompatible"


def test_schema_changes() -> None:
    """Added, missing and retyped columns are recorded, not raised."""
    changes = SchemaChanges.of_columns(["a", "b", "c"], ["a", "c", "d"], ["a", "b", "c"])
    changes.retype("c", pa.int64(), pa.float64())
    assert changes.to_json() == {
        "added": ["d"],
        "missing": ["b"],
        "retyped": [{"feature": "c", "reference_type": "int64", "production_type": "double"}],
    }
