"""Snapshots of plain Python data: a list of row dicts (encoded at once: the encoding is the
snapshot) or a dict of equal-length columns (each column copied)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from modeltap.errors import InvalidDataError
from modeltap.snapshot.encoding import ORJSON_OPTIONS, orjson_default, polars_json
from modeltap.snapshot.protocol import APPROX_CELL_BYTES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ColumnsSnapshot", "RowsSnapshot"]


class RowsSnapshot:
    """A list of row dicts, encoded on the spot: the encoding is the snapshot."""

    __slots__ = ("approx_bytes", "encoded", "rows")

    def __init__(self, rows: Sequence[Any]) -> None:
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidDataError(
                    f"row {index} of the list is a {type(row).__name__}, not a dict: pass a "
                    "list of row dicts like [{'a': 1, 'b': 2}, ...]"
                )
        try:
            self.encoded = orjson.dumps(
                rows if isinstance(rows, list) else list(rows),
                option=ORJSON_OPTIONS,
                default=orjson_default,
            )
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise InvalidDataError(f"rows cannot be encoded as JSON: {exc}") from None
        self.rows = len(rows)
        self.approx_bytes = 64 + len(self.encoded)

    def to_json_rows(self) -> bytes:
        """The encoded rows."""
        return self.encoded

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table."""
        import pyarrow as pa

        return pa.Table.from_pylist(orjson.loads(self.encoded))


def _copy_column(name: str, column: Any) -> Any:
    if isinstance(column, np.ndarray):
        return column.copy()
    if isinstance(column, pd.Series):
        return column.copy(deep=True)
    if isinstance(column, list | tuple):
        return list(column)
    module = type(column).__module__.split(".")[0]
    if module in ("pyarrow", "polars"):
        return column  # immutable columns
    raise InvalidDataError(
        f"column {name!r} is a {type(column).__name__}: a dict of columns needs a list, "
        "tuple, numpy array, pandas Series or Arrow/polars array for every key (for one row, "
        "pass [row_dict])"
    )


def _column_values(column: Any) -> Any:
    """A copied column as values orjson encodes like the frame encoders do."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "M":
        return column.astype("datetime64[us]").tolist()  # datetimes (None for NaT)
    if type(column).__module__.split(".")[0] == "pyarrow":
        return column.to_pylist()
    if type(column).__module__.split(".")[0] == "polars":
        return column.to_list()
    return column


class ColumnsSnapshot:
    """A dict of equal-length columns, each column copied."""

    __slots__ = ("approx_bytes", "columns", "rows")

    def __init__(self, columns: Mapping[Any, Any]) -> None:
        copied: dict[str, Any] = {}
        length: int | None = None
        for key, column in columns.items():
            if not isinstance(key, str):
                raise InvalidDataError(
                    f"column name {key!r} is a {type(key).__name__}: column names must be strings"
                )
            values = _copy_column(key, column)
            if length is None:
                length = len(values)
            elif len(values) != length:
                raise InvalidDataError(
                    f"columns have different lengths ({next(iter(copied))!r} has {length}, "
                    f"{key!r} has {len(values)}): a dict of columns needs equal-length columns"
                )
            copied[key] = values
        self.columns = copied
        self.rows = length or 0
        self.approx_bytes = 64 + self.rows * max(len(copied), 1) * APPROX_CELL_BYTES

    def to_json_rows(self) -> bytes:
        """Rows via polars, or row by row when a column mixes types (polars would cast)."""
        import polars as pl

        try:
            return polars_json(pl.DataFrame(self.columns, strict=True))
        except Exception:
            pass
        columns = [_column_values(c) for c in self.columns.values()]
        names = list(self.columns)
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        return orjson.dumps(rows, option=ORJSON_OPTIONS, default=orjson_default)

    def to_arrow(self) -> pa.Table:
        """The columns as an Arrow table."""
        import pyarrow as pa

        return pa.table(self.columns)


