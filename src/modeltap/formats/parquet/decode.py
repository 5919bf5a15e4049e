"""Parquet decoding: a committed file to the reader's rows, with column pruning."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modeltap.errors import BadRecordError
from modeltap.formats.base import FileRead
from modeltap.formats.rows import ENVELOPE_COLUMNS, EVENT, EVENT_ID, as_utc, time_mask

__all__ = ["decode_file", "read_table"]

_HIDDEN = frozenset({"id", "modelversion"})


def read_table(blob: bytes) -> pa.Table:
    """A committed Parquet file as an Arrow table."""
    return pq.read_table(pa.py_buffer(blob))


def _resolve_refs(table: pa.Table, file: FileRead) -> pa.Table:
    """Payload rows stored out of line get their body (as JSON text) in ``data``; a row whose
    reference cannot be followed is skipped and noted (row numbers count from 1)."""
    refs = table.column("dataref").to_pylist()
    data = table.column("data").to_pylist() if "data" in table.column_names else [None] * len(refs)
    keep = [True] * len(refs)
    for row, ref in enumerate(refs):
        if ref is None:
            continue
        try:
            if file.load_ref is None:
                raise BadRecordError("out-of-line payloads are not read here")
            data[row] = file.load_ref(str(ref)).decode("utf-8")
        except (BadRecordError, UnicodeDecodeError) as exc:
            file.bad.skip(file.name, row + 1, str(exc))
            keep[row] = False
    column = pa.array(data, pa.large_string())
    if "data" in table.column_names:
        table = table.set_column(table.schema.get_field_index("data"), "data", column)
    else:
        table = table.append_column("data", column)
    return table if all(keep) else table.filter(pa.array(keep))


def decode_file(file: FileRead) -> pa.Table:
    """The rows of one Parquet file (see ``modeltap.formats.rows``); a file that cannot be
    read is skipped whole and noted."""
    try:
        handle = pq.ParquetFile(pa.BufferReader(file.content))
        names = handle.schema_arrow.names
        wanted = None
        if file.columns is not None:
            keep = set(file.columns) | {"id", "time", "row_index"}
            wanted = [n for n in names if n in keep]
        table = handle.read(columns=wanted, use_threads=True)
        if "time" in table.column_names:
            times = as_utc(table.column("time"))
            table = table.set_column(table.schema.get_field_index("time"), "time", times)
            mask = time_mask(times, file.start, file.end)
            if mask is not None:
                table = table.filter(mask)
    except (pa.ArrowException, OSError) as exc:
        file.bad.skip(file.name, None, f"not a readable Parquet file ({exc})")
        return pa.table({})
    if "dataref" in table.column_names and table.column("dataref").null_count < len(table):
        table = _resolve_refs(table, file)
    row_index = table.column("row_index") if "row_index" in table.column_names else None
    if row_index is not None:
        # an event's rows are contiguous and start at row_index 0: number the events
        starts = pc.equal(row_index, 0).to_numpy(zero_copy_only=False)
        ev = file.event_base + np.cumsum(starts.astype(np.int64)) - 1
    else:
        ev = np.full(len(table), file.event_base, dtype=np.int64)
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in ENVELOPE_COLUMNS:
        if name in table.column_names:
            out[name] = table.column(name)
    has_id = "id" in table.column_names
    out[EVENT_ID] = table.column("id") if has_id else pa.nulls(len(table), pa.string())
    out[EVENT] = pa.array(ev, pa.int64())
    for name in table.column_names:
        if name not in out and name not in _HIDDEN:
            out[name] = table.column(name)
    return pa.table(out)
