"""A small pandas frame's blocks frozen in the form a queue holds and a writer process is sent
(bytes, type strings, Python strings or Arrow buffers, in one flat tuple), and thawed back into
arrays on the writer. Reads pandas' block manager (``DataFrame._mgr``): the one place that does.
Against ``DataFrame.copy(deep=True)`` of small frames, freezing the blocks takes a collect()
pair of the how-to frames from 774.5k to 144.8k instructions (callgrind,
``bench/request_path.py`` pair).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BUFFERS",
    "TINY_ROWS",
    "arrow_buffers",
    "arrow_chunked",
    "buffers_token",
    "freeze_blocks",
    "numpy_type",
    "plain_type_string",
    "python_strings_as_buffers",
    "shared",
    "string_dtype",
    "string_token",
    "thaw_blocks",
    "triples",
]

TINY_ROWS = 16  # string columns of frames up to this size are frozen as Python strings
BUFFERS = "buffers"  # ends the string token of a packed Arrow string column's buffers
_PYTHON_STRINGS = pd.arrays.StringArray  # a string column's array in Python storage


def freeze_blocks(
    frame: pd.DataFrame, width: int, guards: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """Column positions, frozen values and dtype of each block, in one flat tuple (``triples``
    reads it back).

    Without ``guards`` (small frames) the blocks are frozen in forms that pickle fast (as sent to
    a writer process; ``thaw_blocks`` turns them back into arrays, once, on the writer): column
    positions as ``slice.indices`` tuples (or an integer array's bytes), plain numpy blocks as
    their bytes and type string, string columns with a string token for their dtype, as a 1-D
    object array of Python strings in tiny frames and Python-backed ones (``wire`` pickles it
    as a tuple), else as their Arrow buffers. Other values are copied, Arrow-backed arrays kept
    as they are (immutable).

    Given ``guards`` (copy-on-write pandas) the blocks are shared: a shallow copy of each goes
    into ``guards`` and, while it lives, pandas copies the caller's block before writing to it (a
    few µs per block instead of a copy of the data, or of ``DataFrame.copy(deep=False)``'s 30
    µs). None if pandas' internals are unfamiliar."""
    blocks = getattr(frame._mgr, "blocks", None)
    if blocks is None:  # pragma: no cover - pandas internals moved
        return None
    tiny = guards is None and len(frame) <= TINY_ROWS
    frozen: list[Any] = []
    for block in blocks:
        values = block.values
        dtype = values.dtype  # what Block.dtype gives, without its Python property
        kept: Any
        if (
            guards is None
            and type(values) is np.ndarray
            and values.ndim == 2
            and (plain := plain_type_string(dtype)) is not None
        ):
            kept, dtype = values.tobytes(), plain
        elif guards is None and type(values) is _PYTHON_STRINGS:
            kept, dtype = values._ndarray.copy(), string_token(dtype)  # their object array
        else:
            kept, dtype = _freeze_other(block, values, dtype, tiny, guards)
        positions = block.mgr_locs.indexer
        if isinstance(positions, slice):
            positions = shared(positions.indices(width))
            if guards is not None:
                positions = range(*positions)
        elif guards is None:
            positions = positions.tobytes()
        frozen += (positions, kept, dtype)
    return tuple(frozen)


def _freeze_other(
    block: Any, values: Any, dtype: Any, tiny: bool, guards: list[Any] | None
) -> tuple[Any, Any]:
    """(values, dtype) of a block ``freeze_blocks`` keeps as neither bytes nor an object array:
    Arrow-backed columns and other extension arrays, or any block given ``guards``."""
    arrow = getattr(values, "_pa_array", None)
    if arrow is not None and tiny and type(dtype) is pd.StringDtype:
        # to_pylist, not to_numpy: that one releases the GIL, which the writer then takes
        return np.array(arrow.to_pylist(), dtype=object), string_token(dtype)
    if (
        arrow is not None
        and guards is None
        and type(dtype) is pd.StringDtype
        and arrow.num_chunks == 1
    ):  # buffers pickle without Arrow's own reduction of the array
        return arrow_buffers(arrow.chunk(0)), buffers_token(string_token(dtype), arrow.type)
    if arrow is not None:
        return arrow, dtype
    if guards is None:
        if isinstance(dtype, np.dtype):  # such as datetime arrays
            dtype = plain_type_string(dtype) or dtype
        return values.copy(), dtype
    guard = block.copy(deep=False)
    guards.append(guard)
    return guard.values, dtype


_type_strings: dict[int, tuple[np.dtype[Any], str | None]] = {}  # id -> (dtype, its string)
_TYPE_STRINGS_KEPT = 64  # emptied when full: the memo stays small whatever the caller sends


def plain_type_string(dtype: np.dtype[Any]) -> str | None:
    """``dtype.str`` of numbers, booleans and times (exactly described by it), else None.
    Remembered per dtype object: numpy's builtin dtypes are singletons, while ``dtype.str``
    and a dtype's hash are made anew on every call (the memo saves 8.6k of a collect() pair's
    153.4k instructions: callgrind, ``bench/request_path.py`` pair)."""
    known = _type_strings.get(id(dtype))
    if known is not None and known[0] is dtype:
        return known[1]
    string = dtype.str if _plain_dtype(dtype) else None
    if len(_type_strings) >= _TYPE_STRINGS_KEPT:
        _type_strings.clear()
    _type_strings[id(dtype)] = (dtype, string)  # dtype kept alive: its id stays its own
    return string


@functools.lru_cache(maxsize=64)
def numpy_type(type_string: str) -> np.dtype[Any]:
    """The numpy dtype a type string stands for."""
    return np.dtype(type_string)


def triples(blocks: tuple[Any, ...]) -> Iterator[tuple[Any, Any, Any]]:
    """(positions, values, dtype) of each block frozen by ``freeze_blocks``."""
    return zip(blocks[0::3], blocks[1::3], blocks[2::3], strict=True)


def string_token(dtype: Any) -> tuple[str, bool]:
    """What a small frame's string column keeps of its pandas dtype, in a form that pickles
    without pandas: the pandas storage, and whether NaN marks a missing value. (Read from the
    dtype each time: pandas makes a new dtype object for every frame of Python strings.)"""
    return shared((dtype.storage, dtype.na_value is not pd.NA))


_shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_SHARED_KEPT = 256  # emptied when full: the memo stays small whatever the caller sends


def shared(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """The one tuple equal to ``parts`` that frozen blocks share (block positions, string
    tokens): a queued event holding a fresh inner tuple stays tracked by the garbage collector
    long enough to reach its old generation (see ``modeltap.event.QueuedEvent``), one holding a
    shared one, untracked since the first collection after it was made, does not. (Flat events
    with fresh inner tuples: 2 full collections of 20-21 ms per 1x10 and 100x10 burst of
    ``bench/collector.py``; shared: none.)"""
    known = _shared.get(parts)
    if known is not None:
        return known
    if len(_shared) >= _SHARED_KEPT:
        _shared.clear()
    _shared[parts] = parts
    return parts


@functools.lru_cache(maxsize=64)
def buffers_token(token: tuple[str, bool], arrow_type: pa.DataType) -> tuple[Any, ...]:
    """The dtype of a string column kept as Arrow buffers: its string token, its Arrow type and
    ``BUFFERS``."""
    return (*token, arrow_type, BUFFERS)


@functools.cache
def string_dtype(token: tuple[str, bool]) -> Any:
    """The pandas StringDtype a string token stands for."""
    storage, nan_missing = token
    string_dtype: Any = pd.StringDtype  # the stubs know fewer storages than pandas versions do
    if nan_missing:
        try:
            return string_dtype(storage, na_value=np.nan)
        except TypeError:  # pragma: no cover - pandas < 2.3: the storage implies it
            pass
    return string_dtype(storage)


def _plain_dtype(dtype: np.dtype[Any]) -> bool:
    """Numbers, booleans and times: exactly described by their type string."""
    return dtype.kind in "biufcmM" and dtype.fields is None and dtype.subdtype is None


def arrow_buffers(array: pa.Array) -> tuple[Any, ...]:
    """An Arrow array as (offset, length, null count, *buffers)."""
    return (array.offset, len(array), array.null_count, *array.buffers())


def python_strings_as_buffers(blocks: tuple[Any, ...]) -> tuple[Any, ...]:
    """Frozen blocks with each Python-backed string column as Arrow buffers (Arrow ``string``,
    the type pandas converts that storage to; NaN and NA as null), as ``freeze_blocks`` keeps
    Arrow-backed ones: ``thaw_blocks`` turns them into Arrow arrays of a Python-storage dtype."""
    import pyarrow as pa

    converted: list[Any] = []
    for positions, values, dtype in triples(blocks):
        if type(values) is _PYTHON_STRINGS:
            try:
                array = pa.array(values._ndarray, type=pa.string(), from_pandas=True)
            except (pa.ArrowException, TypeError):  # then pickled as it is
                array = None
            if isinstance(array, pa.Array):  # not chunked (over 2 GiB of text): one buffer set
                values = arrow_buffers(array)
                dtype = buffers_token(string_token(dtype), pa.string())
        converted += (positions, values, dtype)
    return tuple(converted)


def arrow_chunked(parts: Sequence[Any], arrow_type: pa.DataType) -> pa.ChunkedArray:
    """The chunked array ``arrow_buffers`` took ``parts`` from."""
    import pyarrow as pa

    offset, length, null_count, *buffers = parts
    array = pa.Array.from_buffers(arrow_type, length, buffers, null_count, offset)
    return pa.chunked_array([array], type=arrow_type)


def thaw_blocks(blocks: tuple[Any, ...], rows: int) -> tuple[Any, ...]:
    """The blocks as ``freeze_blocks`` froze them (without guards), turned back into arrays:
    positions as ranges or integer arrays, numpy blocks as read-only arrays over their bytes,
    string columns as object arrays or Arrow arrays (on the writer, not on the request path)."""
    restored: list[Any] = []
    for positions, values, dtype in triples(blocks):
        if type(positions) is tuple:
            positions = range(*positions)
        elif type(positions) is bytes:
            positions = np.frombuffer(positions, dtype=np.intp)
        if type(dtype) is str:
            dtype = numpy_type(dtype)
            if type(values) is bytes:  # read-only, over the bytes
                values = np.ndarray((len(positions), rows), dtype, values)
        elif type(dtype) is tuple and dtype[-1] == BUFFERS:  # == : may come unpickled
            values, dtype = arrow_chunked(values, dtype[2]), string_dtype(dtype[:2])
        restored += (positions, values, dtype)
    return tuple(restored)
