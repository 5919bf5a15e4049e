"""The engine interface: what computes a window's aggregates (the embedded engine, Spark).

An engine opens one side of a signal (a source over a window) and answers per-column questions
about it with aggregates (:mod:`modeltap.monitor.aggregates`); the metrics are computed from
those by pure functions, so every engine gives the same numbers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import pyarrow as pa

from modeltap.errors import MonitorError
from modeltap.monitor.aggregates import ColumnCounts, LabelledCounts
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window

__all__ = ["Engine", "JoinSpec", "Side", "trivial_join"]


class Side(ABC):
    """One side of a signal: the rows of a source in a window, ready to aggregate."""

    label: str

    @property
    @abstractmethod
    def rows(self) -> int:
        """Rows in the window."""

    @property
    @abstractmethod
    def schema(self) -> dict[str, pa.DataType]:
        """Column names (in order) and their types."""

    @abstractmethod
    def counts(self, column: str) -> ColumnCounts:
        """Each distinct non-null value of ``column`` (NaN counts as null) with its rows,
        sorted; an absent column is all null."""


@dataclass(frozen=True)
class JoinSpec:
    """How predictions meet their labels: each side's value column and join key column
    (None: the platform's key ``{correlationid}_{row_index}``)."""

    prediction: str
    actual: str
    prediction_key: str | None = None
    label_key: str | None = None
    task: str = "classification"


def trivial_join(predictions: Side, labels: Side, spec: JoinSpec) -> LabelledCounts | None:
    """What every engine's ``labelled`` answers before joining: the counts when a side is empty
    (nothing to join), else None once both value columns are known to exist (MonitorError
    naming the side, the key of data_column_names and the columns it has otherwise)."""
    if predictions.rows == 0:
        return LabelledCounts(0, 0)
    if labels.rows == 0:
        return LabelledCounts(predictions.rows, 0)
    for side, column, what in (
        (predictions, spec.prediction, "prediction"),
        (labels, spec.actual, "actual"),
    ):
        if column not in side.schema:
            raise MonitorError(
                f"{side.label} has no column {column!r} (data_column_names.{what}); it has: "
                f"{', '.join(side.schema) or 'no columns'}"
            )
    return None


class Engine(ABC):
    """Computes the aggregates of windows of sources."""

    name: str

    @abstractmethod
    def open(self, source: Source, window: Window) -> Side:
        """The side of ``source`` over ``window`` (read or planned, ready to aggregate)."""

    @abstractmethod
    def labelled(self, predictions: Side, labels: Side, spec: JoinSpec) -> LabelledCounts:
        """Predictions joined with labels (inner join on the keys), aggregated."""

    @abstractmethod
    def close(self) -> None:
        """Release what the engine holds (temporary tables, files)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
