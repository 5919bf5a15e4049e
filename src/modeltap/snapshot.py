"""Snapshots of collected data: taken cheaply on the request thread, encoded later by the writer.

A snapshot keeps the data exactly as it was when ``collect()`` returned, whatever the caller does
to its frame afterwards. Small pandas frames keep frozen copies of their blocks (Arrow arrays as
they are, numpy arrays copied); larger ones share their blocks' arrays under copy-on-write
(pandas >= 3: a shallow copy of each block registers a reference, so the caller's frame copies
before it writes) or take a deep copy otherwise; Arrow tables are immutable; polars frames are
cloned; row dicts are encoded at once (their encoding *is* the snapshot); column dicts have each
column copied.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import io
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import orjson
import pandas as pd

from modeltap.errors import InvalidDataError, UnsupportedDataError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = [
    "ACCEPTED_TYPES",
    "Snapshot",
    "json_rows_many",
    "pack_snapshot",
    "take_snapshot",
    "type_fullname",
    "unpack_snapshot",
]

ACCEPTED_TYPES = (
    "pandas.DataFrame, pyarrow.Table, polars.DataFrame, "
    "a list of row dicts, or a dict of equal-length columns"
)
_PANDAS_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
_PIECE_ROWS = 2_048  # rows encoded while holding the GIL, before handing it back
_SMALL_ROWS = 256
_TINY_ROWS = 16  # string columns of frames up to this size are frozen as Python strings
_BUFFERS = "buffers"  # ends the string token of a packed Arrow string column's buffers
_ORJSON_OPTIONS = (
    orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
)
_APPROX_CELL_BYTES = 12
_PYTHON_STRINGS = pd.arrays.StringArray  # a string column's array in Python storage


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


def _iso_datetime(value: dt.datetime) -> str:
    """ISO 8601 to the millisecond, as the frame encoders write it; zoned values in UTC with Z."""
    if value.utcoffset() is not None:
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return utc.isoformat(timespec="milliseconds") + "Z"
    return value.isoformat(timespec="milliseconds")


def _orjson_default(value: Any) -> Any:
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, dt.datetime):
        return _iso_datetime(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, float | np.floating):  # pragma: no cover - orjson handles floats
        return None
    return str(value)


def _polars_json(frame: pl.DataFrame) -> bytes:
    """Encode a polars frame as a JSON array of rows, datetimes as ISO 8601 (UTC when zoned)."""
    import polars as pl

    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            column = pl.col(name)
            if dtype.time_zone:
                column = column.dt.convert_time_zone("UTC")
                fixes.append(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
            else:
                fixes.append(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"))
    if fixes:
        frame = frame.with_columns(fixes)
    pieces = []
    for start in range(0, frame.height, _PIECE_ROWS):
        buffer = io.BytesIO()
        frame.slice(start, _PIECE_ROWS).write_ndjson(buffer)
        # one row a line; JSON text never holds a raw newline, so lines become array items
        pieces.append(buffer.getvalue()[:-1].replace(b"\n", b","))
        if start:
            time.sleep(0)  # hand the GIL to request threads between pieces
    return b"[" + b",".join(p for p in pieces if p) + b"]"


def _pandas_json(frame: pd.DataFrame) -> bytes:
    """Encode the rows with orjson (floats exact, unlike ``to_json``), in pieces, yielding the
    GIL between them. For frames polars cannot take (object columns of mixed types)."""
    pieces = []
    for start in range(0, len(frame), _PIECE_ROWS):
        rows = frame.iloc[start : start + _PIECE_ROWS].to_dict(orient="records")
        pieces.append(orjson.dumps(rows, option=_ORJSON_OPTIONS, default=_orjson_default)[1:-1])
        time.sleep(0)
    return b"[" + b",".join(p for p in pieces if p) + b"]"


def _column_names(columns: pd.Index) -> list[str]:
    """Column labels as record keys, read from the Index's own array (``Index.array`` and
    ``Index.tolist`` wrap or convert first: several µs for every new frame): Arrow-backed labels
    (pandas >= 3) straight from Arrow, Python-backed string labels from their object array."""
    values: Any = getattr(columns, "_values", None)  # pandas internals; else Index.tolist()
    names: list[Any]
    if type(values) is _PYTHON_STRINGS:
        names = values._ndarray.tolist()  # their object array
    elif type(values) is np.ndarray:
        names = values.tolist()
    elif (arrow := getattr(values, "_pa_array", None)) is not None:
        names = arrow.chunk(0).to_pylist() if arrow.num_chunks == 1 else arrow.to_pylist()
        if type(columns.dtype) is pd.StringDtype and arrow.null_count == 0:
            return names  # all of them str already
    else:
        names = columns.tolist()
    if set(map(type, names)) <= _JUST_STR:  # mostly: no list of them made again
        return names
    return [n if type(n) is str else str(n) for n in names]


_JUST_STR = frozenset({str})


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _remember(cache: dict[_Key, _Value], key: _Key, value: _Value, limit: int) -> _Value:
    """Keep ``value`` under ``key`` in ``cache``, emptied first once it holds ``limit`` entries
    (the request path's memos stay small whatever the caller sends); ``value``."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


def _unique_names(columns: pd.Index) -> tuple[str, ...]:
    """The column names as record keys, refused when two of them would be the same key. Checked
    on the names themselves: ``Index.is_unique`` builds a hash engine for every new frame
    (tens of µs, and through Arrow for pandas >= 3 string labels)."""
    names = tuple(_column_names(columns))
    known = _known_names.get(names)
    if known is not None:
        return known
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidDataError(
            f"DataFrame has duplicate column names {duplicated}: records need unique "
            "column names; rename them before collect()"
        )
    return _remember(_known_names, names, names, 256)


_known_names: dict[tuple[str, ...], tuple[str, ...]] = {}
"""Names tuples already checked, each kept as one object: events then share a names tuple that
the garbage collector has long stopped tracking (a fresh one would keep their own tuple tracked
for a collection longer, see ``pack_snapshot``)."""


def _freeze_blocks(
    frame: pd.DataFrame, width: int, guards: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """Column positions, frozen values and dtype of each block, in one flat tuple (``_triples``
    reads it back; flat, so a queue can hold it as it is: see ``pack_snapshot``).

    Without ``guards`` (small frames) the blocks are frozen in forms that pickle fast (as sent to
    a writer process) and that the garbage collector does not track, or stops tracking at once
    (``PandasSnapshot._live_blocks`` turns them back into arrays, once, on the writer): column
    positions as shared ``slice.indices`` tuples (or an integer array's bytes), plain numpy
    blocks as their bytes and type string, string columns with a string token for their dtype,
    as a 1-D object array of Python strings in tiny frames and Python-backed ones (``wire``
    pickles it as a tuple), else as their Arrow buffers. Other values are copied, Arrow-backed
    arrays kept as they are (immutable).

    Given ``guards`` (copy-on-write pandas) the blocks are shared: a shallow copy of each goes
    into ``guards`` and, while it lives, pandas copies the caller's block before writing to it (a
    few µs per block instead of a copy of the data, or of ``DataFrame.copy(deep=False)``'s 30
    µs). None if pandas' internals are unfamiliar."""
    blocks = getattr(frame._mgr, "blocks", None)
    if blocks is None:  # pragma: no cover - pandas internals moved
        return None
    tiny = guards is None and len(frame) <= _TINY_ROWS
    frozen: list[Any] = []
    for block in blocks:
        values = block.values
        dtype = values.dtype  # what Block.dtype gives, without its Python property
        kept: Any
        if (
            guards is None
            and type(values) is np.ndarray
            and values.ndim == 2
            and (plain := _plain_type_string(dtype)) is not None
        ):
            kept, dtype = values.tobytes(), plain
        elif guards is None and type(values) is _PYTHON_STRINGS:
            kept, dtype = values._ndarray.copy(), _string_token(dtype)  # their object array
        else:
            kept, dtype = _freeze_other(block, values, dtype, tiny, guards)
        positions = block.mgr_locs.indexer
        if isinstance(positions, slice):  # slices are tracked by the garbage collector
            positions = positions.indices(width)
            if guards is not None:
                positions = range(*positions)
            else:  # one tuple per value, long untracked (see ``pack_snapshot``)
                known = _shared_tuples.get(positions)
                if known is None:
                    known = _remember(_shared_tuples, positions, positions, 256)
                positions = known
        elif guards is None:
            positions = positions.tobytes()
        frozen += (positions, kept, dtype)
    return tuple(frozen)


def _freeze_other(
    block: Any, values: Any, dtype: Any, tiny: bool, guards: list[Any] | None
) -> tuple[Any, Any]:
    """(values, dtype) of a block ``_freeze_blocks`` keeps as neither bytes nor an object array:
    Arrow-backed columns and other extension arrays, or any block given ``guards``."""
    arrow = getattr(values, "_pa_array", None)
    if arrow is not None and tiny and type(dtype) is pd.StringDtype:
        # to_pylist, not to_numpy: that one releases the GIL, which the writer then takes;
        # an object array, not a tuple: the garbage collector never tracks it
        return np.array(arrow.to_pylist(), dtype=object), _string_token(dtype)
    if (
        arrow is not None
        and guards is None
        and type(dtype) is pd.StringDtype
        and arrow.num_chunks == 1
    ):  # Arrow arrays are tracked by the garbage collector, their buffers are not
        return _arrow_buffers(arrow.chunk(0)), _buffers_token(_string_token(dtype), arrow.type)
    if arrow is not None:
        return arrow, dtype
    if guards is None:
        if isinstance(dtype, np.dtype):  # such as datetime arrays
            dtype = _plain_type_string(dtype) or dtype
        return values.copy(), dtype
    guard = block.copy(deep=False)
    guards.append(guard)
    return guard.values, dtype


_shared_tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
"""Block positions, one tuple per value (see ``_freeze_blocks``)."""

_type_strings: dict[int, tuple[np.dtype[Any], str | None]] = {}  # id -> (dtype, its string)


def _plain_type_string(dtype: np.dtype[Any]) -> str | None:
    """``dtype.str`` of numbers, booleans and times (exactly described by it), else None.
    Remembered per dtype object: numpy's builtin dtypes are singletons, while ``dtype.str``
    and a dtype's hash are made anew on every call."""
    known = _type_strings.get(id(dtype))
    if known is not None and known[0] is dtype:
        return known[1]
    string = dtype.str if _plain_dtype(dtype) else None
    _remember(_type_strings, id(dtype), (dtype, string), 64)  # dtype kept alive: its id stays
    return string


@functools.lru_cache(maxsize=64)
def _numpy_type(type_string: str) -> np.dtype[Any]:
    """The numpy dtype a type string stands for."""
    return np.dtype(type_string)


def _triples(blocks: tuple[Any, ...]) -> Iterator[tuple[Any, Any, Any]]:
    """(positions, values, dtype) of each block frozen by ``_freeze_blocks``."""
    return zip(blocks[0::3], blocks[1::3], blocks[2::3], strict=True)


_string_tokens: dict[tuple[str, bool], tuple[str, bool]] = {}  # each token, shared


def _string_token(dtype: Any) -> tuple[str, bool]:
    """What a small frame's string column keeps of its pandas dtype, in a form the garbage
    collector does not track (a StringDtype is tracked): the pandas storage, and whether NaN
    marks a missing value; one tuple per value, long untracked. (Read from the dtype each time:
    pandas makes a new dtype object for every frame of Python strings.)"""
    token = (dtype.storage, dtype.na_value is not pd.NA)
    return _string_tokens.setdefault(token, token)


@functools.lru_cache(maxsize=64)
def _buffers_token(token: tuple[str, bool], arrow_type: pa.DataType) -> tuple[Any, ...]:
    """The dtype of a string column kept as Arrow buffers: its string token, its Arrow type and
    ``_BUFFERS`` (one tuple per kind, shared by events: see ``pack_snapshot``)."""
    return (*token, arrow_type, _BUFFERS)


@functools.cache
def _string_dtype(token: tuple[str, bool]) -> Any:
    """The pandas StringDtype a string token stands for."""
    storage, nan_missing = token
    string_dtype: Any = pd.StringDtype  # the stubs know fewer storages than pandas versions do
    if nan_missing:
        try:
            return string_dtype(storage, na_value=np.nan)
        except TypeError:  # pragma: no cover - pandas < 2.3: the storage implies it
            pass
    return string_dtype(storage)


def _positions_key(positions: Any) -> object:
    """A hashable form of a block's column positions (a range is one; an integer array's
    bytes)."""
    return positions if type(positions) is range else bytes(positions.tobytes())


def _block_type(values: Any, dtype: Any) -> object:
    """What a block's type comes down to, cheap to compare (no pandas dtype ``__eq__``, which
    runs in Python): the numpy dtype, the Arrow type with the pandas dtype's class, or the
    array class with its dtype for other extension arrays; a string column's token as it is."""
    if type(dtype) is tuple:
        return dtype
    if type(values) is np.ndarray:
        return values.dtype
    if hasattr(values, "to_pylist"):
        return (values.type, type(dtype))
    return (type(values), dtype)


def _frozen_columns(frozen: Iterable[tuple[Any, Any, Any]], width: int) -> list[Any]:
    """The columns of frozen blocks, in frame order, as Python lists (numpy floats narrower
    than 64 bits stay numpy so orjson writes their shortest form)."""
    columns: list[Any] = [None] * width
    for positions, values, _ in frozen:
        if type(values) is np.ndarray:
            if values.ndim == 1:  # a tiny frame's string column
                parts = [values.tolist()]
            elif values.dtype.kind == "f" and values.itemsize < 8:  # 2-D: a row per column
                parts = [list(row) for row in values]
            else:
                parts = values.tolist()  # one call for the whole block
        elif hasattr(values, "to_pylist"):  # an Arrow chunked array: one column
            parts = [values.to_pylist()]
        elif getattr(values, "ndim", 1) == 2:
            parts = [list(values[i]) for i in range(values.shape[0])]
        else:
            parts = [list(values)]
        for position, part in zip(positions, parts, strict=True):
            columns[position] = part
    return columns


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
        self._names = _unique_names(frame.columns)
        width = len(self._names)
        self.rows = len(frame.index)  # DataFrame.__len__ is one more Python call
        self.approx_bytes = 64 + self.rows * width * _APPROX_CELL_BYTES
        self._frame: pd.DataFrame | None = None
        self._signature: tuple[Any, ...] | None = None
        self._guards: list[Any] | None = None
        self._live = False  # frozen blocks are turned back into arrays on the writer
        if self.rows <= _SMALL_ROWS:
            self._blocks = _freeze_blocks(frame, width)
        elif _PANDAS_COPY_ON_WRITE:
            self._live = True
            self._guards = []
            self._blocks = _freeze_blocks(frame, width, self._guards)
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
            state["_blocks"] = _python_strings_as_buffers(blocks)
            state["_live"] = False  # _live_blocks turns the buffers back into arrays
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    @classmethod
    def _from_parts(cls, parts: tuple[Any, ...]) -> PandasSnapshot:
        """The snapshot ``pack_snapshot`` flattened into ``parts``."""
        snapshot = cls.__new__(cls)
        snapshot._names, snapshot.rows = parts[0], parts[1]
        snapshot.approx_bytes = 64 + snapshot.rows * len(snapshot._names) * _APPROX_CELL_BYTES
        snapshot._blocks = parts[2:]
        snapshot._live = False
        snapshot._frame = snapshot._signature = snapshot._guards = None
        return snapshot

    def _live_blocks(self) -> tuple[Any, ...]:
        """The blocks as ``_freeze_blocks`` froze them, turned back into arrays: positions as
        ranges or integer arrays, numpy blocks as read-only arrays over their bytes, string
        columns as object arrays or Arrow arrays (once; on the writer, not on the request
        path)."""
        blocks = self._blocks
        assert blocks is not None
        if not self._live:
            restored: list[Any] = []
            for positions, values, dtype in _triples(blocks):
                if type(positions) is tuple:
                    positions = range(*positions)
                elif type(positions) is bytes:
                    positions = np.frombuffer(positions, dtype=np.intp)
                if type(dtype) is str:
                    dtype = _numpy_type(dtype)
                    if type(values) is bytes:  # read-only, over the bytes
                        values = np.ndarray((len(positions), self.rows), dtype, values)
                elif type(dtype) is tuple and dtype[-1] == _BUFFERS:  # == : may come unpickled
                    values, dtype = _arrow_chunked(values, dtype[2]), _string_dtype(dtype[:2])
                restored += (positions, values, dtype)
            self._blocks = blocks = tuple(restored)
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
                        (_positions_key(p), _block_type(v, d))
                        for p, v, d in _triples(self._live_blocks())
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
            for positions, values, dtype in _triples(self._live_blocks()):
                for offset, position in enumerate(positions):
                    if type(dtype) is tuple:
                        arrays[position] = pd.array(list(values), dtype=_string_dtype(dtype))
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
        for positions, values, dtype in _triples(self._live_blocks()):
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
        if self._blocks is not None and self.rows <= _SMALL_ROWS:
            try:
                columns = _frozen_columns(_triples(self._live_blocks()), len(self._names))
                return _rows_json(self.names, columns, self.rows)
            except (TypeError, orjson.JSONEncodeError):
                return _pandas_json(self.frame)
        import polars as pl

        try:
            table = self.blocks_table()
            converted = (
                pl.from_pandas(self.frame, include_index=False)
                if table is None
                else pl.from_arrow(table)
            )
        except Exception:
            return _pandas_json(self.frame)
        assert isinstance(converted, pl.DataFrame)
        return _polars_json(converted)

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table (index dropped): from the blocks when they allow, else
        through pandas (one thread: for a frame of this size the pool costs more than it
        gives)."""
        import pyarrow as pa

        table = self.blocks_table()
        if table is not None:
            return table
        return pa.Table.from_pandas(self.frame, preserve_index=False, nthreads=1)


def pack_snapshot(snapshot: Snapshot) -> tuple[Any, ...]:
    """``snapshot`` as parts of the flat tuple a queue holds an event as. A small pandas
    snapshot gives its names, its row count and each frozen block's positions, values and type
    (for numpy and string columns all of them values the garbage collector does not track, or
    tuples shared by all events, long untracked), so the event's tuple stops being tracked at
    the first young collection that sees it, and a backlog of queued small frames adds nothing
    to the full collections that would otherwise walk it on the request thread. (The collector
    untracks a tuple once its items are untracked, one level of nesting per collection: a fresh
    inner tuple would keep the event tracked a collection longer, long enough for a
    generation-1 collection to move it into the old generation and bring a full collection
    nearer.) Any other snapshot is its one part.

    A third form is made without a snapshot, by a request path that only has bytes, strings
    and numbers to keep (payload capture): ``(None, module, function, *arguments)``, all of
    them untracked; the writer calls the named function with the arguments to make the
    snapshot (``unpack_snapshot``), and takes the event's extra envelope fields from its
    ``extra``."""
    blocks = snapshot._blocks if type(snapshot) is PandasSnapshot else None
    if blocks is None or snapshot._guards is not None:  # type: ignore[attr-defined]
        return (snapshot,)
    return (snapshot._names, snapshot.rows, *blocks)  # type: ignore[attr-defined]


def _plain_dtype(dtype: np.dtype[Any]) -> bool:
    """Numbers, booleans and times: exactly described by their type string."""
    return dtype.kind in "biufcmM" and dtype.fields is None and dtype.subdtype is None


def _arrow_buffers(array: pa.Array) -> tuple[Any, ...]:
    """An Arrow array as (offset, length, null count, *buffers): Arrow buffers are not tracked
    by the garbage collector, while arrays are. (A tuple, though fresh: an object array would
    spare the event's tuple one collection of tracking, but costs 2 µs per column to make.)"""
    return (array.offset, len(array), array.null_count, *array.buffers())


def _python_strings_as_buffers(blocks: tuple[Any, ...]) -> tuple[Any, ...]:
    """Frozen blocks with each Python-backed string column as Arrow buffers (Arrow ``string``,
    the type pandas converts that storage to; NaN and NA as null), as ``_freeze_blocks`` keeps
    Arrow-backed ones: ``_live_blocks`` turns them into Arrow arrays of a Python-storage dtype."""
    import pyarrow as pa

    converted: list[Any] = []
    for positions, values, dtype in _triples(blocks):
        if type(values) is _PYTHON_STRINGS:
            try:
                array = pa.array(values._ndarray, type=pa.string(), from_pandas=True)
            except (pa.ArrowException, TypeError):  # then pickled as it is
                array = None
            if isinstance(array, pa.Array):  # not chunked (over 2 GiB of text): one buffer set
                values = _arrow_buffers(array)
                dtype = _buffers_token(_string_token(dtype), pa.string())
        converted += (positions, values, dtype)
    return tuple(converted)


def _arrow_chunked(parts: Sequence[Any], arrow_type: pa.DataType) -> pa.ChunkedArray:
    """The chunked array ``_arrow_buffers`` took ``parts`` from."""
    import pyarrow as pa

    offset, length, null_count, *buffers = parts
    array = pa.Array.from_buffers(arrow_type, length, buffers, null_count, offset)
    return pa.chunked_array([array], type=arrow_type)


def unpack_snapshot(parts: tuple[Any, ...]) -> Snapshot:
    """The snapshot ``pack_snapshot`` gave ``parts`` for, or the one a named function makes of
    parts ``(None, module, function, *arguments)`` (see ``pack_snapshot``)."""
    if len(parts) == 1:
        return parts[0]  # type: ignore[no-any-return]
    if parts[0] is None:
        return _named_function(parts[1], parts[2])(*parts[3:])  # type: ignore[no-any-return]
    return PandasSnapshot._from_parts(parts)


@functools.cache
def _named_function(module: str, name: str) -> Callable[..., Any]:
    """A function by its module's and its own name (imported on first use, as pickle would)."""
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _rows_json(names: Sequence[str], columns: list[Any], rows: int) -> bytes:
    """Row objects from column lists, encoded by orjson."""
    if not columns:
        return orjson.dumps([{}] * rows)
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return orjson.dumps(records, option=_ORJSON_OPTIONS, default=_orjson_default)


def json_rows_many(snapshots: Sequence[Any]) -> list[bytes | Exception]:
    """``to_json_rows()`` of each snapshot, or the exception it raised. Small pandas frames of
    one schema are converted together: their blocks are joined, turned into Python values with
    one call per block, and cut back into one rows array per snapshot (byte for byte what
    ``to_json_rows`` gives), so a run of 1-row frames does not pay Arrow's and numpy's per-call
    costs once per frame."""
    out: list[bytes | Exception | None] = [None] * len(snapshots)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, snapshot in enumerate(snapshots):
        if (
            type(snapshot) is PandasSnapshot
            and snapshot._blocks is not None
            and snapshot.rows <= _SMALL_ROWS
        ):
            groups.setdefault(snapshot.signature, []).append(index)
    for indices in groups.values():
        if len(indices) > 1:
            try:
                encoded = _pandas_rows_together([snapshots[i] for i in indices])
            except Exception:
                continue  # each snapshot alone below
            for index, data in zip(indices, encoded, strict=True):
                out[index] = data
    for index, snapshot in enumerate(snapshots):
        if out[index] is None:
            try:
                out[index] = snapshot.to_json_rows()
            except Exception as exc:
                out[index] = exc
    return [data for data in out if data is not None]


def _pandas_rows_together(snapshots: list[PandasSnapshot]) -> list[bytes | None]:
    """The rows arrays of small pandas snapshots sharing one signature (None where one needs
    the slow path: ``to_json_rows`` then runs for it alone)."""
    import pyarrow as pa

    first = snapshots[0]
    assert first._blocks is not None
    width = len(first._names)
    columns: list[Any] = [None] * width
    blocks = [s._live_blocks() for s in snapshots]
    for number, (positions, values, _) in enumerate(_triples(blocks[0])):
        pieces = [b[3 * number + 1] for b in blocks]
        parts: list[Any]
        if type(values) is np.ndarray and values.ndim == 1:  # tiny frames' string columns
            parts = [np.concatenate(pieces).tolist()]
        elif type(values) is np.ndarray and all(type(v) is np.ndarray for v in pieces):
            joined = np.concatenate(pieces, axis=1)
            if joined.dtype.kind == "f" and joined.itemsize < 8:
                parts = [list(row) for row in joined]
            else:
                parts = joined.tolist()
        elif isinstance(values, pa.ChunkedArray):
            chunks = [chunk for piece in pieces for chunk in piece.chunks]
            parts = [pa.chunked_array(chunks, type=values.type).to_pylist()]
        else:
            each = [
                _frozen_columns([(range(len(positions)), p, None)], len(positions)) for p in pieces
            ]
            parts = [[v for one in each for v in one[k]] for k in range(len(positions))]
        for position, part in zip(positions, parts, strict=True):
            columns[position] = part
    names = first.names
    rows = zip(*columns, strict=True)
    out: list[bytes | None] = []
    for snapshot in snapshots:  # one snapshot's row dicts alive at a time
        if columns:
            records = [
                dict(zip(names, v, strict=True)) for v in itertools.islice(rows, snapshot.rows)
            ]
        else:
            records = [{}] * snapshot.rows
        try:
            out.append(orjson.dumps(records, option=_ORJSON_OPTIONS, default=_orjson_default))
        except (TypeError, orjson.JSONEncodeError):
            out.append(None)
    return out


class ArrowSnapshot:
    """A pyarrow Table or RecordBatch: immutable, so kept by reference."""

    __slots__ = ("approx_bytes", "rows", "table")

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows
        self.approx_bytes = 64 + int(table.nbytes)

    def to_json_rows(self) -> bytes:
        """Rows via polars."""
        import polars as pl

        converted = pl.from_arrow(self.table)
        assert isinstance(converted, pl.DataFrame)
        return _polars_json(converted)

    def to_arrow(self) -> pa.Table:
        """The table itself."""
        import pyarrow as pa

        if isinstance(self.table, pa.RecordBatch):
            return pa.Table.from_batches([self.table])
        return self.table


class PolarsSnapshot:
    """A polars DataFrame, cloned (cheap: columns are shared until written)."""

    __slots__ = ("approx_bytes", "frame", "rows")

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame.clone()
        self.rows = frame.height
        self.approx_bytes = 64 + int(frame.estimated_size())

    def to_json_rows(self) -> bytes:
        """Rows via polars."""
        return _polars_json(self.frame)

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table."""
        return self.frame.to_arrow()


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
                option=_ORJSON_OPTIONS,
                default=_orjson_default,
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
        self.approx_bytes = 64 + self.rows * max(len(copied), 1) * _APPROX_CELL_BYTES

    def to_json_rows(self) -> bytes:
        """Rows via polars, or row by row when a column mixes types (polars would cast)."""
        import polars as pl

        try:
            return _polars_json(pl.DataFrame(self.columns, strict=True))
        except Exception:
            pass
        columns = [_column_values(c) for c in self.columns.values()]
        names = list(self.columns)
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        return orjson.dumps(rows, option=_ORJSON_OPTIONS, default=_orjson_default)

    def to_arrow(self) -> pa.Table:
        """The columns as an Arrow table."""
        import pyarrow as pa

        return pa.table(self.columns)


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
