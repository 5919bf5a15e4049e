"""Parquet: one file per committed segment, one row per data row, spooled as Arrow IPC frames.

While a segment is open, each event is appended as one *frame*: a small header (magic and
length) followed by a self-contained Arrow IPC stream (schema + one batch). Frames are
appendable, survive a torn tail (the last incomplete frame is cut on recovery) and let every
event carry its own schema. At commit the frames are unified into one table and written as
Parquet.

Columns: the envelope (``correlationid``, ``xrequestid``, ``time`` as a UTC timestamp, ``id``,
``row_index``, ``modelversion``), any extra envelope fields of the event (as strings), then the
data's own columns with their Arrow types. A data column whose name collides with an envelope
column is stored as ``data_<name>``. Payload collections (``request``/``response``) keep one row
per event with the body as a JSON string column ``data``.

Schema drift inside a segment is merged only when it loses nothing: new and missing columns
become nulls, integers widen to wider integers, floats to wider floats, integers to float64 only
while every value is exactly representable (|v| <= 2**53), string flavours to large_string.
Anything else makes the writer start a new segment (so a new file).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import struct
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modeltap.event import Event
from modeltap.formats.jsonl import EnvelopeSource

__all__ = [
    "ENVELOPE_COLUMNS",
    "EXTENSION",
    "PAYLOAD_COLLECTIONS",
    "SchemaUnion",
    "batch_tables",
    "encode_frame",
    "encode_frame_pieces",
    "event_table",
    "frame_size",
    "read_frames",
    "read_table",
    "repair_frames",
    "spool_to_parquet",
]

EXTENSION = "parquet"
ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "id", "row_index", "modelversion")
PAYLOAD_COLLECTIONS = frozenset({"request", "response"})
COMPRESSION = "lz4"  # LZ4_RAW: a third cheaper to write than zstd, files about twice as big
ROW_GROUP_ROWS = 256 * 1024

_MAGIC = b"MTF2"
_HEADER = struct.Struct("<4sQI")  # magic, body length, events in the frame
_FLOAT_EXACT = 2**53
_TIME_TYPE = pa.timestamp("us", tz="UTC")


# -- one event -> one Arrow table ------------------------------------------------------------


_CONSTANT_KEY = b"modeltap.constant"


def _constant(value: str, rows: int) -> pa.Array:
    """A string repeated on every row, dictionary-encoded while spooled (a few bytes a row
    instead of the whole string); ``_decode_constants`` turns it into plain strings."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.large_string())
    )


def _text(value: Any) -> str:
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
        except Exception:
            pass  # mixed or odd column types, or data without an Arrow form: keep it as JSON text
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
    return _constant(_text(value), rows)


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
            texts[key] = _text(extra.pop(key))
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


def _decode_constants(table: pa.Table) -> pa.Table:
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


# -- spool frames ----------------------------------------------------------------------------


def encode_frame_pieces(table: pa.Table, events: int = 1) -> list[Any]:
    """One appendable spool frame holding ``table`` (the rows of ``events`` events), as pieces
    to write one after the other (a header and an Arrow buffer: no copy into Python bytes)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue()
    return [_HEADER.pack(_MAGIC, body.size, events), body]


def encode_frame(table: pa.Table, events: int = 1) -> bytes:
    """One appendable spool frame holding ``table``, as bytes."""
    header, body = encode_frame_pieces(table, events)
    return bytes(header) + bytes(body.to_pybytes())


def frame_size(pieces: list[Any]) -> int:
    """The byte size of a frame given as pieces."""
    return sum(memoryview(p).nbytes for p in pieces)


def _frame_spans(blob: bytes | pa.Buffer) -> tuple[list[tuple[int, int, int]], int]:
    """(start, end, events) of every whole frame, and where the whole frames end."""
    spans = []
    offset = 0
    view = memoryview(blob)
    size = view.nbytes
    while offset + _HEADER.size <= size:
        magic, length, events = _HEADER.unpack_from(view, offset)
        start = offset + _HEADER.size
        if magic != _MAGIC or start + length > size:
            break
        spans.append((start, start + length, events))
        offset = start + length
    return spans, offset


def read_frames(blob: bytes | pa.Buffer) -> list[pa.Table]:
    """The tables of a spool segment (a torn last frame is ignored)."""
    spans, _ = _frame_spans(blob)
    buffer = blob if isinstance(blob, pa.Buffer) else pa.py_buffer(blob)
    return [pa.ipc.open_stream(buffer.slice(a, b - a)).read_all() for a, b, _ in spans]


def repair_frames(path: Path) -> int:
    """Cut a partial last frame (a crash mid-write); return how many bytes were cut."""
    blob = path.read_bytes()
    _, end = _frame_spans(blob)
    if end < len(blob):
        with open(path, "rb+") as handle:
            handle.truncate(end)
    return len(blob) - end


def count_frames(path: Path) -> int:
    """How many events the whole frames of a spool segment hold."""
    return sum(events for _, _, events in _frame_spans(path.read_bytes())[0])


# -- lossless schema union -------------------------------------------------------------------


def _int_width(t: pa.DataType) -> int:
    return int(t.bit_width)


def _merge_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both ``a`` and ``b`` convert to without loss, or None."""
    if a.equals(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    ints = pa.types.is_integer
    if ints(a) and ints(b):
        sa, sb = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
        if sa == sb:
            return a if _int_width(a) >= _int_width(b) else b
        unsigned, signed = (b, a) if sa else (a, b)
        width = max(_int_width(signed), _int_width(unsigned) * 2)
        return None if width > 64 else pa.from_numpy_dtype(f"int{width}")
    floats = pa.types.is_floating
    if floats(a) and floats(b):
        return a if _int_width(a) >= _int_width(b) else b
    if (ints(a) and floats(b)) or (floats(a) and ints(b)):
        return pa.float64()  # the caller checks that every integer fits exactly
    strings = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if any(f(a) for f in strings) and any(f(b) for f in strings):
        return pa.large_string()
    binaries = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    if any(f(a) for f in binaries) and any(f(b) for f in binaries):
        return pa.large_binary()
    return None


def _max_abs(column: pa.ChunkedArray | pa.Array) -> int:
    if len(column) == 0 or column.null_count == len(column):
        return 0
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return max(abs(int(low or 0)), abs(int(high or 0)))


class SchemaUnion:
    """The merged schema of one segment's tables; refuses a table it cannot merge losslessly."""

    __slots__ = ("_int_max", "schema")

    def __init__(self) -> None:
        self.schema: pa.Schema | None = None
        self._int_max: dict[str, int] = {}

    def accept(self, table: pa.Table) -> bool:
        """Merge ``table``'s schema in; False (state unchanged) when it would lose information."""
        if self.schema is None or self.schema.equals(table.schema):
            self._note_ints(table)
            self.schema = table.schema
            return True
        fields = {f.name: f for f in self.schema}
        merged: list[pa.Field] = list(self.schema)
        index = {f.name: i for i, f in enumerate(merged)}
        int_max = dict(self._int_max)
        for field in table.schema:
            if pa.types.is_integer(field.type):
                int_max[field.name] = max(
                    int_max.get(field.name, 0), _max_abs(table.column(field.name))
                )
            old = fields.get(field.name)
            if old is None:
                index[field.name] = len(merged)
                merged.append(field.with_nullable(True))
                continue
            target = _merge_type(old.type, field.type)
            if target is None:
                return False
            if pa.types.is_floating(target) and int_max.get(field.name, 0) > _FLOAT_EXACT:
                return False
            merged[index[field.name]] = old.with_type(target).with_nullable(True)
        self._int_max = int_max
        self.schema = pa.schema(merged)
        return True

    def _note_ints(self, table: pa.Table) -> None:
        for field in table.schema:
            if pa.types.is_integer(field.type):
                self._int_max[field.name] = max(
                    self._int_max.get(field.name, 0), _max_abs(table.column(field.name))
                )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if not column.type.equals(field.type):
                column = column.cast(field.type)
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def unify(tables: Iterable[pa.Table]) -> pa.Table:
    """One table from tables whose schemas merge losslessly (see ``SchemaUnion``)."""
    tables = list(tables)
    union = SchemaUnion()
    for table in tables:
        if not union.accept(table):
            raise ValueError(f"schemas cannot be merged losslessly: {table.schema}")
    if union.schema is None:
        return pa.table({})
    return pa.concat_tables([_conform(t, union.schema) for t in tables])


def _as_json_columns(table: pa.Table) -> pa.Table:
    """Last resort for a column Parquet cannot store: keep it as JSON text."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        try:
            pq.write_table(pa.table({name: column.slice(0, 1)}), io.BytesIO())
        except (pa.ArrowException, ValueError, TypeError):
            values = [_text(v) if v is not None else None for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.large_string())])
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _data_as_text(table: pa.Table) -> pa.Table:
    fields = []
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if field.name not in ENVELOPE_COLUMNS:
            values = [_text(v) if v is not None else None for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.large_string())])
            field = pa.field(field.name, pa.large_string())
        fields.append(field)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _write_parquet(table: pa.Table, target: Path) -> None:
    # dictionary encoding pays for strings (the envelope repeats per row), not for numbers
    textual = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_dictionary(f.type)
    ]
    # statistics (min/max for pruning) for the envelope and non-text columns; min/max of
    # free text costs a sixth of the write and prunes little
    with_statistics = [
        f.name for f in table.schema if f.name in ENVELOPE_COLUMNS or f.name not in textual
    ]
    pq.write_table(
        table,
        target,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=textual,
        write_statistics=with_statistics,
    )


def spool_to_parquet(source: Path, target: Path, *, durable: bool = False) -> int:
    """Convert a spool segment of frames into a Parquet file; return the number of rows.
    ``durable`` fsyncs the file before returning (fsync policy ``commit`` or ``always``)."""
    with pa.memory_map(str(source), "r") as mapped:
        tables = read_frames(mapped.read_buffer())  # zero-copy over the page cache
        try:
            table = unify(tables)
        except (ValueError, pa.ArrowException):
            # the writer keeps segments mergeable; should one not be, keep the data as text
            table = unify(_data_as_text(t) for t in tables)
        table = _decode_constants(table)
        chunks = table.column(0).num_chunks if table.num_columns else 0
        if chunks > 64 and table.num_rows // chunks < 4_096:
            table = table.combine_chunks()  # many small events: one pass, not one per event
        try:
            _write_parquet(table, target)
        except (pa.ArrowException, ValueError, TypeError):
            _write_parquet(_as_json_columns(table), target)
    if durable:
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())
    return int(table.num_rows)


def read_table(blob: bytes) -> pa.Table:
    """A committed Parquet file as an Arrow table."""
    return pq.read_table(pa.py_buffer(blob))
