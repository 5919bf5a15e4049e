"""Data-quality counts and rates against reference statistics, typed from the reference."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from modeltap.monitor.aggregates import ColumnCounts
from modeltap.monitor.metrics.quality import (
    QualityCounts,
    quality_counts,
    rate,
    reference_statistics,
)


def _counts(values: list[object], counts: list[int], nulls: int, kind: pa.DataType) -> ColumnCounts:
    """A ColumnCounts from literal values."""
    return ColumnCounts(pa.array(values, kind), np.array(counts, np.int64), nulls, kind)


def test_numerical_bounds_and_nulls() -> None:
    """Out of bounds = outside the reference [min, max]; nulls counted apart."""
    reference = reference_statistics(_counts([1.0, 5.0], [3, 3], 0, pa.float64()), "numerical")
    assert (reference.minimum, reference.maximum) == (1.0, 5.0)
    production = _counts([0.5, 2.0, 9.0], [1, 5, 2], 2, pa.float64())
    assert quality_counts(production, reference) == QualityCounts(10, 2, 0, 3)


def test_type_errors_typed_from_reference() -> None:
    """Non-null values that do not convert to the reference type are type errors, only them."""
    reference = reference_statistics(_counts([1, 9], [5, 5], 0, pa.int64()), "numerical")
    production = _counts(["3", "abc", "12"], [4, 1, 1], 1, pa.string())
    assert quality_counts(production, reference) == QualityCounts(7, 1, 1, 1)


def test_categorical_out_of_set() -> None:
    """Categorical values outside the reference's set are out of bounds (ints included)."""
    reference = reference_statistics(_counts([1, 2], [5, 5], 0, pa.int64()), "categorical")
    production = _counts([1, 2, 3], [2, 2, 6], 0, pa.int64())
    assert quality_counts(production, reference) == QualityCounts(10, 0, 0, 6)
    strings = reference_statistics(_counts(["a", "b"], [1, 1], 0, pa.string()), "categorical")
    assert quality_counts(_counts(["a", "z"], [1, 1], 3, pa.string()), strings) == QualityCounts(
        5, 3, 0, 1
    )


def test_all_null_and_empty() -> None:
    """An all-null column: rate 1.0 of nulls; an empty window: NaN rates."""
    reference = reference_statistics(ColumnCounts.empty(pa.float64(), 4), "numerical")
    assert reference.minimum is None
    counts = quality_counts(ColumnCounts.empty(pa.float64(), 4), reference)
    assert counts == QualityCounts(4, 4, 0, 0)
    assert rate(counts.nulls, counts.rows) == 1.0
    assert math.isnan(rate(0, 0))
    assert rate(1, 3) == 0.33333
