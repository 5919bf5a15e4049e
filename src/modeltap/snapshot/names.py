"""A pandas frame's column names as record keys: read without pandas' conversions, refused when
two would be the same key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modeltap.errors import InvalidDataError

__all__ = ["column_names", "unique_names"]

_PYTHON_STRINGS = pd.arrays.StringArray  # a string column's array in Python storage


def column_names(columns: pd.Index) -> list[str]:
    """Column labels as record keys, read from the Index's own array (``Index.array`` and
    ``Index.tolist`` wrap or convert first: several µs for every new frame): Arrow-backed labels
    (pandas >= 3) straight from Arrow, Python-backed string labels from their object array.
    (Reading ``Index._values`` saves 80k of a collect() pair's 225.0k instructions against
    ``Index.tolist()``: callgrind, ``bench/request_path.py`` pair.)"""
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


def unique_names(columns: pd.Index) -> tuple[str, ...]:
    """The column names as record keys, refused when two of them would be the same key. Checked
    on the names themselves: ``Index.is_unique`` builds a hash engine for every new frame
    (tens of µs, and through Arrow for pandas >= 3 string labels)."""
    names = tuple(column_names(columns))
    known = _known_names.get(names)
    if known is not None:
        return known
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidDataError(
            f"DataFrame has duplicate column names {duplicated}: records need unique "
            "column names; rename them before collect()"
        )
    if len(_known_names) >= _KNOWN_NAMES_KEPT:
        _known_names.clear()
    _known_names[names] = names
    return names


_known_names: dict[tuple[str, ...], tuple[str, ...]] = {}
"""Names tuples already checked, each kept as one object: the events of one shape share it, so
the duplicate check runs once per shape and the forwarder pickles the names once per frame of
events (pickle's memo). A collect() pair plus the forwarder's pickle of its two events: 160.7k
instructions with this memo, 168.6k without (callgrind, ``bench/request_path.py`` pair and
frame, 300 calls; the same code moves by up to about 4k with the harness's allocation
pattern)."""
_KNOWN_NAMES_KEPT = 256  # emptied when full: the memo stays small whatever the caller sends

