"""The aggregates an engine computes and the metrics consume: the engine boundary.

Every metric is a pure function of these, so any engine (embedded DuckDB, Spark) that computes
the same aggregates gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["ColumnCounts", "LabelledCounts"]


@dataclass(frozen=True)
class ColumnCounts:
    """One column on one side of a window: each distinct non-null value (NaN counts as null)
    with its number of rows, plus the null count and the column's Arrow type.

    ``values`` are sorted ascending (numbers by value, text by code point). Exact; the memory
    it takes grows with the number of distinct values (at most the number of rows)."""

    values: pa.Array
    counts: npt.NDArray[np.int64]
    null_count: int
    type: pa.DataType

    @property
    def non_null(self) -> int:
        """Rows with a value."""
        return int(self.counts.sum())

    @property
    def rows(self) -> int:
        """Rows, with nulls."""
        return self.non_null + self.null_count

    @property
    def distinct(self) -> int:
        """Distinct non-null values."""
        return len(self.values)

    @classmethod
    def empty(cls, kind: pa.DataType | None = None, null_count: int = 0) -> ColumnCounts:
        """A column with no value."""
        kind = pa.null() if kind is None else kind
        return cls(pa.array([], kind), np.zeros(0, np.int64), null_count, kind)

    def numbers(self) -> npt.NDArray[np.float64]:
        """The values as float64 (numerical columns)."""
        return np.asarray(self.values.to_numpy(zero_copy_only=False), dtype=np.float64)

    def texts(self) -> list[str]:
        """The values as text, as categories are compared (``True``/``False`` for booleans,
        ISO 8601 for times)."""
        return [_text(v) for v in self.values.to_pylist()]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@dataclass(frozen=True)
class LabelledCounts:
    """Predictions joined with their labels.

    For classification, ``pairs`` holds ``(actual, predicted) -> rows`` with both sides as
    text; for regression, ``rows``, ``abs_error_sum`` and ``squared_error_sum`` over the joined
    rows whose prediction and label are both numbers. ``production_rows`` is every prediction
    in the window, ``labelled_rows`` those that found a label."""

    production_rows: int
    labelled_rows: int
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0
