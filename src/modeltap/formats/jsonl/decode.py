"""JSON lines decoding: records to the reader's rows.

Arrow's multithreaded JSON reader parses a file whose records type cleanly, and the records are
exploded to rows in Arrow. Anything else (mixed types, payload bodies, out-of-line ``dataref``
payloads, a damaged line) takes a per-record Python path, which skips a record it cannot read
and notes its file, line and reason.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import BadRecordError
from modeltap.formats.base import FileRead
from modeltap.formats.rows import (
    EVENT,
    EVENT_ID,
    RECORD_FIELDS,
    TIME_TYPE,
    as_array,
    as_utc,
    put_data_column,
    time_mask,
)

__all__ = ["decode_file", "decode_records"]


def decode_records(blob: bytes) -> Iterator[dict[str, Any]]:
    """Parse the records of a JSON lines file (blank lines skipped)."""
    for line in blob.splitlines():
        if line.strip():
            record = orjson.loads(line)
            if isinstance(record, dict):
                yield record


def decode_file(file: FileRead) -> pa.Table:
    """The rows of one JSON lines file (see ``modeltap.formats.rows``)."""
    table = None if file.payload else _fast_records(file.content)
    if table is not None:
        try:
            return _explode(table, file.event_base, file.start, file.end)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass  # e.g. a time that is not a time: the record-by-record path finds it
    return _decode_slowly(file)


# -- the Arrow path ---------------------------------------------------------------------------


def _block_size(buffer: pa.Buffer) -> int:
    """An Arrow JSON block size larger than the longest line (Arrow needs whole lines)."""
    size = int(buffer.size)
    if size <= 1 << 20:
        return max(size + 1, 1 << 16)
    raw = np.frombuffer(buffer, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    if len(newlines) == 0:
        return size + 1
    gaps = int(np.diff(newlines).max(initial=0))
    longest = max(int(newlines[0]) + 1, gaps, size - int(newlines[-1]))
    return max(1 << 20, longest + 1)


def _fast_records(buffer: pa.Buffer) -> pa.Table | None:
    """Records via Arrow when they type cleanly; None means: take the Python path."""
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            pa.BufferReader(buffer),
            read_options=pajson.ReadOptions(use_threads=True, block_size=_block_size(buffer)),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    names = table.column_names
    if "data" not in names or "time" not in names:
        return None
    kind = table.schema.field("data").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return None
    if not pa.types.is_struct(kind.value_type):
        return None
    if "dataref" in names and table.column("dataref").null_count < len(table):
        return None
    for name in ("id", "correlationid", "xrequestid"):  # inference may type them otherwise
        if name not in names:
            table = table.append_column(name, pa.nulls(len(table), pa.string()))
        elif not pa.types.is_string(table.schema.field(name).type):
            try:
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.cast(table.column(name), pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
    return table


def _explode(
    table: pa.Table, event_base: int, start: dt.datetime | None, end: dt.datetime | None
) -> pa.Table:
    """Records (one per line) -> rows, in Arrow."""
    times = as_utc(table.column("time"))
    if times.null_count:
        raise pa.ArrowInvalid("records without a time")
    table = table.set_column(table.schema.get_field_index("time"), "time", times)
    table = table.append_column(EVENT, pa.array(np.arange(event_base, event_base + len(table))))
    mask = time_mask(times, start, end)
    if mask is not None:
        table = table.filter(mask)
    data = table.column("data").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(data), 0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64, copy=False)
    parents = np.repeat(np.arange(len(table), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    row_index = np.arange(len(parents), dtype=np.int64) - np.repeat(starts, lengths)
    flat = pc.list_flatten(data)
    take = pa.array(parents)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: table.column(name).take(take) for name in ("correlationid", "xrequestid", "time")
    }
    columns["row_index"] = pa.array(row_index)
    columns[EVENT_ID] = table.column("id").take(take)
    columns[EVENT] = table.column(EVENT).take(take)
    for field, child in zip(flat.type, flat.flatten(), strict=True):
        put_data_column(columns, field.name, child)
    for name in table.column_names:
        if name not in RECORD_FIELDS and name != EVENT:
            put_data_column(columns, name, table.column(name).take(take))
    return pa.table(columns)


# -- the record-by-record path ----------------------------------------------------------------


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _event_time(value: Any) -> int | None:
    """Microseconds since the epoch of a record's ``time`` (RFC 3339; naive is UTC), or None
    when it is not a time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        try:  # forms Python does not parse (nanoseconds, lowercase t/z) but Arrow does
            scalar = pc.cast(pa.array([value], pa.string()), TIME_TYPE)[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return None if scalar.value is None else int(scalar.value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _decode_body(blob: bytes) -> Any:
    """An out-of-line payload as ``data`` would have held it."""
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError:
        try:
            return blob.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(blob).decode()


def _decode_slowly(file: FileRead) -> pa.Table:
    """Records -> rows in Python: any data shape, ``dataref`` payloads, mixed types; records
    that cannot be read are skipped and noted."""
    envelope: dict[str, list[Any]] = {
        "correlationid": [], "xrequestid": [], "time": [], "row_index": [], EVENT_ID: [],
        EVENT: [],
    }  # fmt: skip
    data: dict[str, list[Any]] = {}
    extra: dict[str, list[Any]] = {}
    count = 0
    for index, line in enumerate(file.content.to_pybytes().splitlines()):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            file.bad.skip(file.name, index + 1, f"not JSON ({exc})")
            continue
        if not isinstance(record, dict):
            file.bad.skip(file.name, index + 1, f"a JSON {type(record).__name__}, not a record")
            continue
        time_us = _event_time(record.get("time"))
        if time_us is None:
            file.bad.skip(file.name, index + 1, f"time {record.get('time')!r} is not a time")
            continue
        value = record.get("data")
        if value is None and record.get("dataref") is not None:
            try:
                if file.load_ref is None:
                    raise BadRecordError("out-of-line payloads are not read here")
                value = _decode_body(file.load_ref(str(record["dataref"])))
            except BadRecordError as exc:
                file.bad.skip(file.name, index + 1, str(exc))
                continue
        if file.payload or not (
            isinstance(value, list) and all(isinstance(r, dict) for r in value)
        ):
            body = orjson.dumps(value).decode() if file.payload else value
            rows: list[dict[str, Any]] = [{"data": body}]
        else:
            rows = value
        meta = {k: v for k, v in record.items() if k not in RECORD_FIELDS}
        for row_index, row in enumerate(rows):
            envelope["correlationid"].append(record.get("correlationid"))
            envelope["xrequestid"].append(record.get("xrequestid"))
            envelope["time"].append(time_us)
            envelope["row_index"].append(row_index)
            envelope[EVENT_ID].append(record.get("id"))
            envelope[EVENT].append(file.event_base + index)
            for target, source in ((data, row), (extra, meta)):
                for key in target.keys() - source.keys():
                    target[key].append(None)
                for key, cell in source.items():
                    if key not in target:
                        target[key] = [None] * count
                    target[key].append(cell)
            count += 1
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "correlationid": as_array(envelope["correlationid"]).cast(pa.string()),
        "xrequestid": as_array(envelope["xrequestid"]).cast(pa.string()),
        "time": pa.array(envelope["time"], pa.int64()).cast(TIME_TYPE),
        "row_index": pa.array(envelope["row_index"], pa.int64()),
        EVENT_ID: as_array(envelope[EVENT_ID]).cast(pa.string()),
        EVENT: pa.array(envelope[EVENT], pa.int64()),
    }
    for source in (data, extra):
        for key, values in source.items():
            put_data_column(columns, key, as_array(values))
    table = pa.table(columns)
    mask = time_mask(table.column("time"), file.start, file.end)
    return table if mask is None else table.filter(mask)
