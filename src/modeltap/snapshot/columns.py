"""Thawed blocks read back: as Python column lists for the row encoders, and as the type
signature that tells frames of one schema apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["block_type", "frozen_columns", "positions_key"]


def positions_key(positions: Any) -> object:
    """A hashable form of a block's column positions (a range is one; an integer array's
    bytes)."""
    return positions if type(positions) is range else bytes(positions.tobytes())


def block_type(values: Any, dtype: Any) -> object:
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


def frozen_columns(frozen: Iterable[tuple[Any, Any, Any]], width: int) -> list[Any]:
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
