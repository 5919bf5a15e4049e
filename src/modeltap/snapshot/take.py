"""The snapshot of whatever collect() was given: each accepted type to its kind of snapshot."""

from __future__ import annotations

import sys

import pandas as pd

from modeltap.errors import UnsupportedDataError
from modeltap.snapshot.frames import PandasSnapshot
from modeltap.snapshot.protocol import ACCEPTED_TYPES, Snapshot, type_fullname
from modeltap.snapshot.records import ColumnsSnapshot, RowsSnapshot
from modeltap.snapshot.tables import ArrowSnapshot, PolarsSnapshot

__all__ = ["take_snapshot"]


def take_snapshot(data: object) -> Snapshot:
    """Validate ``data`` and freeze it; raise UnsupportedDataError or InvalidDataError."""
    if isinstance(data, pd.DataFrame):
        return PandasSnapshot(data)
    module = type(data).__module__
    if module.startswith("pyarrow") and "pyarrow" in sys.modules:
        import pyarrow as pa

        if isinstance(data, pa.Table | pa.RecordBatch):
            return ArrowSnapshot(data)
    if module.startswith("polars") and "polars" in sys.modules:
        import polars as pl

        if isinstance(data, pl.DataFrame):
            return PolarsSnapshot(data)
    if isinstance(data, list):
        return RowsSnapshot(data)
    if isinstance(data, dict):
        return ColumnsSnapshot(data)
    raise UnsupportedDataError(
        f"cannot collect data of type {type_fullname(data)}: collect() accepts {ACCEPTED_TYPES}"
    )
