"""Integers beyond 64 bits: stored as their decimal text, so an event holding one is written
whole (JSON numbers that large lose digits in most readers, Arrow and Parquet have no such
integer type). A column holding any such integer becomes a string column, every integer in it
written in decimal; the other columns keep their types.

An encoding that fails on a too-large integer is tried again on ``with_big_ints_as_text``;
JSON lines also asks ``has_big_ints`` first of the snapshots whose own encoder would write such
integers as JSON numbers (polars frames, dicts of columns).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from modeltap.event import Event
from modeltap.snapshot import Snapshot, take_snapshot

__all__ = ["has_big_ints", "is_big_int_error", "with_big_ints_as_text"]

_INT64 = range(-(2**63), 2**64)  # int64 and uint64 fit


def is_big_int_error(exc: BaseException) -> bool:
    """Whether an encoding failed on an integer beyond 64 bits."""
    text = str(exc)
    return isinstance(exc, OverflowError) or "64-bit" in text or "_pli128" in text


def _big(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value not in _INT64


def _text_column(values: Any) -> list[Any] | None:
    """The column with every integer as decimal text, when it holds a big one; else None."""
    items = list(values)
    if not any(_big(v) for v in items):
        return None
    return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items]


def has_big_ints(snapshot: Snapshot) -> bool:
    """Whether a polars or dict-of-columns snapshot holds integers beyond 64 bits (cheap for
    typed columns; Python lists are looked through). Other snapshots answer False."""
    frame = getattr(snapshot, "frame", None)
    if frame is not None and type(frame).__module__.split(".")[0] == "polars":
        return any(str(t) in ("Int128", "UInt128") for t in frame.schema.values())
    columns = getattr(snapshot, "columns", None)
    if not isinstance(columns, dict):
        return False
    for values in columns.values():
        kind = str(getattr(values, "dtype", ""))
        if kind in ("Int128", "UInt128"):
            return True
        if kind in ("", "object") and _holds_big(values):
            return True
    return False


def _holds_big(values: Any) -> bool:
    """Whether a list (or object array) holds an integer beyond 64 bits: Arrow's conversion
    answers fast for the usual lists; a list it refuses is looked through in Python."""
    import pyarrow as pa

    try:
        pa.array(values)
    except Exception:
        return any(_big(v) for v in values)
    return False


def _without_big_ints(snapshot: Snapshot) -> Snapshot | None:
    frame = getattr(snapshot, "frame", None)
    columns = getattr(snapshot, "columns", None)
    module = type(frame).__module__.split(".")[0] if frame is not None else ""
    if module == "pandas":
        assert frame is not None
        fixed = frame.copy()
        changed = False
        for position in range(fixed.shape[1]):
            if str(fixed.dtypes.iloc[position]) == "object":
                text = _text_column(fixed.iloc[:, position])
                if text is not None:
                    fixed.isetitem(position, text)
                    changed = True
        return take_snapshot(fixed) if changed else None
    if module == "polars":
        import polars as pl

        assert frame is not None
        wide = [n for n, t in frame.schema.items() if t in (pl.Int128, pl.UInt128)]
        if not wide:
            return None
        return take_snapshot(frame.with_columns(pl.col(wide).cast(pl.String)))
    if isinstance(columns, dict):
        fixed_columns = dict(columns)
        changed = False
        for name, values in columns.items():
            kind = str(getattr(values, "dtype", ""))
            if kind in ("Int128", "UInt128"):
                fixed_columns[name] = values.cast(str)
                changed = True
            elif kind in ("", "object"):
                text = _text_column(values)
                if text is not None:
                    fixed_columns[name] = text
                    changed = True
        return take_snapshot(fixed_columns) if changed else None
    return None


def with_big_ints_as_text(event: Event) -> Event | None:
    """The event with its integers beyond 64 bits as text (see the module docstring), or
    None when it has none that this can rewrite."""
    try:
        snapshot = _without_big_ints(event.snapshot)
    except Exception:
        return None
    return None if snapshot is None else dataclasses.replace(event, snapshot=snapshot)
