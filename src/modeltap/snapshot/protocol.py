"""What every snapshot is: a frozen copy of one collect() call's data, encoded later."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ACCEPTED_TYPES", "APPROX_CELL_BYTES", "Snapshot", "type_fullname"]

ACCEPTED_TYPES = (
    "pandas.DataFrame, pyarrow.Table, polars.DataFrame, "
    "a list of row dicts, or a dict of equal-length columns"
)

APPROX_CELL_BYTES = 12  # a cell's share of a snapshot's approximate size, for the queue's bound


class Snapshot(Protocol):
    """A frozen copy of one collect() call's data."""

    rows: int
    approx_bytes: int

    def to_json_rows(self) -> bytes:
        """The rows as a JSON array of row objects (as ``DataFrame.to_json(orient="records")``)."""
        ...

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table."""
        ...


def type_fullname(data: object) -> str:
    """The collected data's type as the platform records it (``pandas.core.frame.DataFrame``)."""
    cls = type(data)
    if cls.__module__ == "builtins":
        return f"python.{cls.__qualname__}"
    if cls is pd.DataFrame:
        return "pandas.core.frame.DataFrame"
    return f"{cls.__module__}.{cls.__qualname__}"
