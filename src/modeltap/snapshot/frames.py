"""Snapshots of pandas frames: small ones keep frozen copies of their blocks (cheap to take, cheap
to hold), larger ones share their blocks under copy-on-write (pandas >= 3) or take a deep copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from modeltap.snapshot.blocks import (
    freeze_blocks,
    python_strings_as_buffers,
    string_dtype,
    thaw_blocks,
    triples,
)
from modeltap.snapshot.columns import block_type, frozen_columns, positions_key
from modeltap.snapshot.encoding import pandas_json, polars_json, rows_json
from modeltap.snapshot.names import unique_names
from modeltap.snapshot.protocol import APPROX_CELL_BYTES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PANDAS_COPY_ON_WRITE", "SMALL_ROWS", "PandasSnapshot"]

PANDAS_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
SMALL_ROWS = 256  # frames up to this size keep frozen copies of their blocks
_PYTHON_STRINGS = pd.arrays.StringArray  # a string column's array in Python storage


class PandasSnapshot:
    """A pandas DataFrame. Small frames keep frozen copies of their blocks (cheap to take,
    cheap to hold); larger ones share their blocks under copy-on-write (pandas >= 3) or take a
    deep copy."""

    __slots__ = (
        "_blocks",
        "_frame",
        "_guards",
        "_live",
        "_names",
        "_signature",
        "approx_bytes",
        "rows",
    )

    def __init__(self, frame: pd.DataFrame) -> None:
        self._names = unique_names(frame.columns)
        width = len(self._names)
        self.rows = len(frame.index)  # DataFrame.__len__ is one more Python call
        self.approx_bytes = 64 + self.rows * width * APPROX_CELL_BYTES
        self._frame: pd.DataFrame | None = None
        self._signature: tuple[Any, ...] | None = None
        self._guards: list[Any] | None = None
        self._live = False  # frozen blocks are turned back into arrays on the writer
        if self.rows <= SMALL_ROWS:
            self._blocks = freeze_blocks(frame, width)
        elif PANDAS_COPY_ON_WRITE:
            self._live = True
            self._guards = []
            self._blocks = freeze_blocks(frame, width, self._guards)
        else:
            self._blocks = None
        if self._blocks is None:
            self._frame = frame.copy(deep=True)
            self._frame.columns = list(self._names)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for the writer process) without its copy-on-write guards (a copy needs
        none), and with Python-backed string columns as Arrow buffers: pickle would take their
        strings one by one, holding the caller's GIL for milliseconds in a large frame."""
        state = {name: getattr(self, name) for name in self.__slots__}
        state["_guards"] = None
        blocks = self._blocks
        if blocks is not None and any(type(v) is _PYTHON_STRINGS for v in blocks[1::3]):
            state["_blocks"] = python_strings_as_buffers(blocks)
            state["_live"] = False  # live_blocks turns the buffers back into arrays
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    @property
    def frozen(self) -> bool:
        """Whether the snapshot keeps its frame's blocks (small frames, and larger ones under
        copy-on-write) rather than a copy of the frame."""
        return self._blocks is not None

    def frozen_parts(self) -> tuple[Any, ...] | None:
        """A small frame's names, row count and frozen blocks in one flat tuple (the queued
        event's data: see ``modeltap.event``), or None for a snapshot kept otherwise."""
        blocks = self._blocks
        if blocks is None or self._guards is not None:
            return None
        return (self._names, self.rows, *blocks)

    @classmethod
    def from_parts(cls, parts: tuple[Any, ...]) -> PandasSnapshot:
        """The snapshot ``frozen_parts`` flattened into ``parts``."""
        snapshot = cls.__new__(cls)
        snapshot._names, snapshot.rows = parts[0], parts[1]
        snapshot.approx_bytes = 64 + snapshot.rows * len(snapshot._names) * APPROX_CELL_BYTES
        snapshot._blocks = parts[2:]
        snapshot._live = False
        snapshot._frame = snapshot._signature = snapshot._guards = None
        return snapshot

    def live_blocks(self) -> tuple[Any, ...]:
        """The blocks as arrays (thawed once, on the writer: see ``thaw_blocks``)."""
        blocks = self._blocks
        assert blocks is not None
        if not self._live:
            self._blocks = blocks = thaw_blocks(blocks, self.rows)
            self._live = True
        return blocks

    @property
    def names(self) -> tuple[str, ...]:
        """The column names as record keys."""
        return self._names

    @property
    def signature(self) -> tuple[Any, ...]:
        """Column names and types, cheap to compare and hash: the writer's schema-change check,
        and the key of small snapshots whose rows are converted together."""
        if self._signature is None:
            if self._blocks is not None:
                self._signature = (
                    self.names,
                    tuple(
                        (positions_key(p), block_type(v, d))
                        for p, v, d in triples(self.live_blocks())
                    ),
                )
            else:
                assert self._frame is not None
                self._signature = (self.names, tuple(self._frame.dtypes))
        return self._signature

    @property
    def frame(self) -> pd.DataFrame:
        """The snapshot as a DataFrame (rebuilt once from the frozen blocks of small frames)."""
        if self._frame is None:
            arrays: list[Any] = [None] * len(self._names)
            for positions, values, dtype in triples(self.live_blocks()):
                for offset, position in enumerate(positions):
                    if type(dtype) is tuple:
                        arrays[position] = pd.array(list(values), dtype=string_dtype(dtype))
                    elif hasattr(values, "to_pylist"):
                        arrays[position] = pd.array(values, dtype=dtype)
                    elif getattr(values, "ndim", 1) == 2:
                        arrays[position] = values[offset]
                    else:
                        arrays[position] = values
            self._frame = pd.DataFrame(dict(enumerate(arrays)))
            self._frame.columns = list(self._names)
        return self._frame

    def blocks_table(self) -> pa.Table | None:
        """The blocks straight to Arrow, without pandas' conversion (half a millisecond even
        for one row): numpy columns of plain kinds by reference, Arrow ones as they are. None
        when a block is of another kind (then ``to_arrow`` goes through pandas)."""
        import pyarrow as pa

        if self._blocks is None:
            return None
        arrays: list[Any] = [None] * len(self.names)
        for positions, values, dtype in triples(self.live_blocks()):
            for offset, position in enumerate(positions):
                if type(dtype) is tuple:  # a string column's values and token
                    # the Arrow type pandas converts the storage to; NaN and NA as null
                    string_type = pa.string() if dtype[0] == "python" else pa.large_string()
                    arrays[position] = pa.array(values, type=string_type, from_pandas=True)
                elif isinstance(values, np.ndarray) and values.dtype.kind in "biufM":
                    column = values[offset] if values.ndim == 2 else values
                    if not column.dtype.isnative:  # Arrow takes numbers in this machine's order
                        column = column.astype(column.dtype.newbyteorder("="))
                    arrays[position] = pa.array(column)
                elif isinstance(values, pa.ChunkedArray | pa.Array) and len(positions) == 1:
                    arrays[position] = values
                else:
                    return None
        if any(a is None for a in arrays):
            return None
        return pa.table(dict(zip(self.names, arrays, strict=True)))

    def to_json_rows(self) -> bytes:
        """Small frames from their frozen columns with orjson; larger ones via polars (from
        their blocks through Arrow when they allow, else from pandas), in pieces that hand the
        GIL back in between; odd columns fall back to pandas with orjson. (polars is imported
        only for large frames: importing it holds the GIL for about a second.)"""
        if self._blocks is not None and self.rows <= SMALL_ROWS:
            try:
                columns = frozen_columns(triples(self.live_blocks()), len(self._names))
                return rows_json(self.names, columns, self.rows)
            except (TypeError, orjson.JSONEncodeError):
                return pandas_json(self.frame)
        import polars as pl

        try:
            table = self.blocks_table()
            converted = (
                pl.from_pandas(self.frame, include_index=False)
                if table is None
                else pl.from_arrow(table)
            )
        except Exception:
            return pandas_json(self.frame)
        assert isinstance(converted, pl.DataFrame)
        return polars_json(converted)

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table (index dropped): from the blocks when they allow, else
        through pandas (one thread: for a frame of this size the pool costs more than it
        gives)."""
        import pyarrow as pa

        table = self.blocks_table()
        if table is not None:
            return table
        return pa.Table.from_pandas(self.frame, preserve_index=False, nthreads=1)


