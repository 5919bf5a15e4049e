"""One event (or a run of small events) as an Arrow table: envelope columns, then the data's.

Columns: the envelope (``correlationid``, ``xrequestid``, ``time`` as a UTC timestamp, ``id``,
``row_index``, ``modelversion``), any extra envelope fields of the event (as strings), then the
data's own columns with their Arrow types. A data column whose name collides with an envelope
column is stored as ``data_<name>``. Payload collections (``request``/``response``) keep one row
per event with the body as a JSON string column ``data``. While spooled, constant envelope
strings are dictionary-encoded (``decode_constants`` expands them at commit).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from modeltap.event import Event
from modeltap.formats.bigints import is_big_int_error, with_big_ints_as_text
from modeltap.formats.envelope import EnvelopeSource

__all__ = [
    "ENVELOPE_COLUMNS",
    "PAYLOAD_COLLECTIONS",
    "batch_tables",
    "decode_constants",
    "event_table",
    "text",
]

ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "id", "row_index", "modelversion")
PAYLOAD_COLLECTIONS = frozenset({"request", "response"})
_TIME_TYPE = pa.timestamp("us", tz="UTC")

_CONSTANT_KEY = b"modeltap.constant"


def _constant(value: str, rows: int) -> pa.Array:
    """A string repeated on every row, dictionary-encoded while spooled (a few bytes a row
    instead of the whole string); ``_decode_constants`` turns it into plain strings."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.large_string())
    )


def text(value: Any) -> str:
    """A value as text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def _is_payload(event: Event) -> bool:
    return event.collection in PAYLOAD_COLLECTIONS or event.data_type.startswith("http.")


def _data_table(event: Event) -> pa.Table:
    """The event's data as Arrow: its own types when possible, else a JSON string column."""
    if not _is_payload(event):
        try:
            table = event.snapshot.to_arrow()
            if isinstance(table, pa.Table):
                return table.replace_schema_metadata(None)
        except Exception as exc:
            # integers beyond 64 bits: as decimal text; mixed or odd column types, or data
            # without an Arrow form: keep it as JSON text
            wider = with_big_ints_as_text(event) if is_big_int_error(exc) else None
            if wider is not None:
                return _data_table(wider)
    body = event.snapshot.to_json_rows().decode()
    return pa.table({"data": pa.array([body], pa.large_string())})


def _parse_time(value: Any) -> int | None:
    """Microseconds since the epoch of an RFC 3339 time, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _extra_column(value: Any, rows: int) -> pa.Array:
    """An extra envelope field as a constant column: scalars keep their type, the rest is
    JSON text."""
    if value is None:
        return pa.nulls(rows, pa.large_string())
    if isinstance(value, str):
        return _constant(value, rows)
    if isinstance(value, bool | int | float):
        try:
            return pa.repeat(pa.scalar(value), rows)
        except (pa.ArrowException, OverflowError):
            pass
    return _constant(text(value), rows)


def event_table(event: Event, envelope: EnvelopeSource) -> pa.Table:
    """The rows of one event with their envelope columns in front. Extra envelope fields of
    the event (payload capture, ingest) follow; ``id``, ``time``, ``correlationid``,
    ``xrequestid`` and ``modelversion`` among them override the envelope's own values."""
    data = _data_table(event)  # first: a payload snapshot completes its extra fields here
    rows = data.num_rows
    extra = dict(event.extra or {})
    time_us = event.time_ns // 1_000
    if "time" in extra:
        parsed = _parse_time(extra["time"])
        if parsed is not None:
            time_us = parsed
            del extra["time"]
        else:
            extra["sourcetime"] = extra.pop("time")
    texts = {
        "correlationid": event.correlation_id,
        "xrequestid": event.xrequest_id,
        "id": str(uuid.uuid4()),
        "modelversion": envelope.model_version,
    }
    for key in texts:
        if key in extra and extra[key] is not None:
            texts[key] = text(extra.pop(key))
    columns: dict[str, pa.Array] = {
        "correlationid": _constant(texts["correlationid"], rows),
        "xrequestid": _constant(texts["xrequestid"], rows),
        "time": pa.repeat(pa.scalar(time_us, _TIME_TYPE), rows),
        "id": _constant(texts["id"], rows),
        "row_index": pa.array(np.arange(rows, dtype=np.int64)),
        "modelversion": _constant(texts["modelversion"], rows),
    }
    for key, value in extra.items():
        if key not in columns:
            columns[key] = _extra_column(value, rows)
    return _assemble(columns, data)


def _assemble(columns: dict[str, Any], data: pa.Table) -> pa.Table:
    """Envelope columns (dictionary ones marked as spooled constants), then the data's."""
    fields = [
        pa.field(name, column.type, metadata={_CONSTANT_KEY: b"1"})
        if pa.types.is_dictionary(column.type)
        else pa.field(name, column.type)
        for name, column in columns.items()
    ]
    for name, column in zip(data.column_names, data.columns, strict=True):
        target = name
        while target in columns:
            target = f"data_{target}"
        columns[target] = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        fields.append(data.schema.field(name).with_name(target))
    return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


def _expand_constant(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of one-value dictionary chunks as plain large strings, built with one copy
    (much cheaper than a cast, which looks every row up)."""
    parts: list[bytes] = []
    offsets: list[np.ndarray[Any, Any]] = [np.zeros(1, dtype=np.int64)]
    position = 0
    for chunk in column.chunks:
        dictionary = getattr(chunk, "dictionary", None)
        if dictionary is None or len(dictionary) != 1 or chunk.null_count:
            return column.cast(pa.large_string())
        value = str(dictionary[0].as_py()).encode()
        rows = len(chunk)
        parts.append(value * rows)
        offsets.append(position + len(value) * np.arange(1, rows + 1, dtype=np.int64))
        position += len(value) * rows
    length = sum(len(c) for c in column.chunks)
    array = pa.LargeStringArray.from_buffers(
        length, pa.py_buffer(np.concatenate(offsets)), pa.py_buffer(b"".join(parts))
    )
    return pa.chunked_array([array])


def _repeated(values: list[str], counts: np.ndarray[Any, Any]) -> pa.Array:
    """``values[i]`` on ``counts[i]`` rows each, dictionary-encoded."""
    indices = np.repeat(np.arange(len(values), dtype=np.int32), counts)
    return pa.DictionaryArray.from_arrays(
        pa.array(indices), pa.array(values, pa.large_string())
    )


def batch_tables(
    events: list[Event], envelope: EnvelopeSource, key: Callable[[Event], object]
) -> list[tuple[list[Event], pa.Table]]:
    """Tables for consecutive events, one per run of events with the same ``key`` and the
    same data schema (many small events become one frame). Events with extra envelope
    fields, or payloads, get a table each."""
    out: list[tuple[list[Event], pa.Table]] = []
    run: list[tuple[Event, pa.Table]] = []

    def close_run() -> None:
        if not run:
            return
        group = [e for e, _ in run]
        datas = [d for _, d in run]
        counts = np.array([d.num_rows for d in datas], dtype=np.int64)
        total = int(counts.sum())
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        times = np.repeat(np.array([e.time_ns // 1_000 for e in group], dtype=np.int64), counts)
        columns: dict[str, Any] = {
            "correlationid": _repeated([e.correlation_id for e in group], counts),
            "xrequestid": _repeated([e.xrequest_id for e in group], counts),
            "time": pa.array(times, _TIME_TYPE),
            "id": _repeated([str(uuid.uuid4()) for _ in group], counts),
            "row_index": pa.array(np.arange(total, dtype=np.int64) - starts),
            "modelversion": _repeated([envelope.model_version] * len(group), counts),
        }
        data = datas[0] if len(datas) == 1 else pa.concat_tables(datas)
        out.append((group, _assemble(columns, data)))
        run.clear()

    for event in events:
        if event.extra or _is_payload(event):
            close_run()
            out.append(([event], event_table(event, envelope)))
            continue
        data = _data_table(event)
        if run and (key(run[0][0]) != key(event) or not run[0][1].schema.equals(data.schema)):
            close_run()
        run.append((event, data))
    close_run()
    return out


def decode_constants(table: pa.Table) -> pa.Table:
    """Spooled constant columns as plain strings again (no field metadata left)."""
    fields = []
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if field.metadata and _CONSTANT_KEY in field.metadata:
            if pa.types.is_dictionary(field.type):
                column = _expand_constant(column)
            field = pa.field(field.name, column.type)
        fields.append(field)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
