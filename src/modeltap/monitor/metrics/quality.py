"""Data quality: null, data-type error and out-of-bounds rates against reference statistics.

Both sides are typed from the reference. Rates are ``count / rows`` (rows with nulls), rounded
to 5 decimals; thresholds are relative (a breach when ``production_rate > reference_rate +
threshold``). NaN counts as null; type errors and out-of-bounds values count non-null values only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from modeltap.monitor.aggregates import ColumnCounts

__all__ = ["QualityCounts", "ReferenceStatistics", "quality_counts", "rate", "reference_statistics"]


@dataclass(frozen=True)
class ReferenceStatistics:
    """What data quality checks production against: the reference type, its min and max
    (numerical) or its set of values (categorical, compared as text)."""

    data_type: str
    kind: pa.DataType
    minimum: float | None = None
    maximum: float | None = None
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QualityCounts:
    """Counts on one side: rows, nulls, non-null values of the wrong type, values out of the
    reference's bounds or set."""

    rows: int
    nulls: int
    type_errors: int
    out_of_bounds: int


def reference_statistics(counts: ColumnCounts, data_type: str) -> ReferenceStatistics:
    """The reference's statistics of a feature typed ``numerical`` or ``categorical``."""
    if data_type == "numerical":
        numbers = _as_numbers(counts)
        present = numbers[~np.isnan(numbers)]
        if len(present) == 0:
            return ReferenceStatistics(data_type, counts.type)
        return ReferenceStatistics(
            data_type, counts.type, float(present.min()), float(present.max())
        )
    return ReferenceStatistics(data_type, counts.type, values=frozenset(counts.texts()))


def _as_numbers(counts: ColumnCounts) -> np.ndarray:
    kind = counts.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return counts.numbers()
    if pa.types.is_boolean(kind):
        return counts.numbers()
    values = pd.Series(counts.values.to_pylist(), dtype=object)
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)


def _convertible(counts: ColumnCounts, reference: pa.DataType) -> np.ndarray:
    """For each distinct value, whether it converts to the reference type."""
    n = counts.distinct
    kind = counts.type
    if pa.types.is_string(reference) or pa.types.is_large_string(reference):
        return np.ones(n, dtype=bool)
    if pa.types.is_floating(reference) or pa.types.is_decimal(reference):
        present: np.ndarray = ~np.isnan(_as_numbers(counts))
        return present
    if pa.types.is_integer(reference):
        numbers = _as_numbers(counts)
        whole: np.ndarray = ~np.isnan(numbers) & (np.floor(numbers) == numbers)
        return whole
    if pa.types.is_boolean(reference):
        if pa.types.is_boolean(kind):
            return np.ones(n, dtype=bool)
        allowed = {"true", "false", "1", "0", "1.0", "0.0"}
        return np.array([str(v).lower() in allowed for v in counts.values.to_pylist()], bool)
    if pa.types.is_temporal(reference):
        if pa.types.is_temporal(kind):
            return np.ones(n, dtype=bool)
        values = pd.Series(counts.values.to_pylist(), dtype=object)
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        return np.asarray(parsed.notna(), dtype=bool)
    return np.full(n, kind.equals(reference), dtype=bool)


def quality_counts(counts: ColumnCounts, reference: ReferenceStatistics) -> QualityCounts:
    """Null, type-error and out-of-bounds counts of one side against the reference."""
    ok = _convertible(counts, reference.kind)
    type_errors = int(counts.counts[~ok].sum())
    if reference.data_type == "numerical":
        numbers = _as_numbers(counts)
        if reference.minimum is None or reference.maximum is None:
            outside = ok & ~np.isnan(numbers)
        else:
            with np.errstate(invalid="ignore"):
                outside = ok & ((numbers < reference.minimum) | (numbers > reference.maximum))
    else:
        texts = counts.texts()
        outside = ok & np.array([t not in reference.values for t in texts], dtype=bool)
    return QualityCounts(
        rows=counts.rows,
        nulls=counts.null_count,
        type_errors=type_errors,
        out_of_bounds=int(counts.counts[outside].sum()),
    )


def rate(count: int, rows: int) -> float:
    """``count / rows`` rounded to 5 decimals; NaN when there are no rows."""
    return round(count / rows, 5) if rows else math.nan
