"""The rows a reader gets from every format: one row per data row, envelope columns first.

Columns: ``correlationid``, ``xrequestid``, ``time`` (UTC), ``row_index``, then the data's own
columns, then any extra record fields. A data column whose name collides with an earlier one is
renamed ``data_<name>``. Two hidden columns travel with the rows until the reader drops them:
``__id`` (the event id, for de-duplication) and ``__ev`` (a number per event, unique in a read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ENVELOPE_COLUMNS",
    "EVENT",
    "EVENT_ID",
    "PAYLOAD_COLLECTIONS",
    "RECORD_FIELDS",
    "TIME_TYPE",
    "as_array",
    "as_text",
    "as_utc",
    "put_data_column",
    "time_mask",
]

ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "row_index")
PAYLOAD_COLLECTIONS = frozenset({"request", "response"})
TIME_TYPE = pa.timestamp("us", tz="UTC")
EVENT = "__ev"
EVENT_ID = "__id"

RECORD_FIELDS = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "data",
        "dataref",
        "correlationid",
        "xrequestid",
        "modelversion",
        "collectdatatype",
        "agent",
        "contentrange",
    }
)
"""The record fields that are not data: every other field of a record becomes a column."""


def as_utc(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Event times as UTC timestamps (text is RFC 3339; naive timestamps are UTC). Raises
    ArrowInvalid when a value is not a time."""
    kind = times.type
    if pa.types.is_timestamp(kind) and kind.tz is None:
        times = pc.cast(times, pa.timestamp(kind.unit), safe=False)
        times = pc.assume_timezone(times, "UTC")
    return pc.cast(times, TIME_TYPE, safe=False)


def time_mask(
    times: pa.Array | pa.ChunkedArray, start: dt.datetime | None, end: dt.datetime | None
) -> pa.Array | pa.ChunkedArray | None:
    """Which events fall in [start, end); None when all of them do (no copy needed)."""
    if start is None and end is None:
        return None
    mask = None
    if start is not None:
        mask = pc.greater_equal(times, pa.scalar(start, TIME_TYPE))
    if end is not None:
        upper = pc.less(times, pa.scalar(end, TIME_TYPE))
        mask = upper if mask is None else pc.and_(mask, upper)
    mask = pc.fill_null(mask, False)
    return None if pc.all(mask).as_py() else mask


def put_data_column(
    columns: dict[str, pa.Array | pa.ChunkedArray], name: str, values: pa.Array | pa.ChunkedArray
) -> None:
    """Add a data column, renamed ``data_<name>`` while the name is taken."""
    target = name
    while target in columns:
        target = f"data_{target}"
    columns[target] = values


def as_text(values: Iterable[Any]) -> pa.Array:
    """Values as strings: strings as they are, anything else as its JSON text."""
    return pa.array(
        [None if v is None else v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
         for v in values],
        pa.string(),
    )  # fmt: skip


def as_array(values: list[Any]) -> pa.Array:
    """An Arrow array of Python values; mixed types become JSON text (nothing is dropped)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return as_text(values)
