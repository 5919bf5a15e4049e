"""Commit-time conversion: a spool segment of frames becomes one Parquet file."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modeltap.formats.parquet.frames import read_frames
from modeltap.formats.parquet.policy import CollectionSchemas, committed_schemas
from modeltap.formats.parquet.tables import ENVELOPE_COLUMNS, decode_constants, text
from modeltap.formats.parquet.union import unify
from modeltap.store.tree import Tree

__all__ = ["COMPRESSION", "ROW_GROUP_ROWS", "spool_to_parquet"]

COMPRESSION = "lz4"  # LZ4_RAW: a third cheaper to write than zstd, files about twice as big
ROW_GROUP_ROWS = 256 * 1024


def _as_json_columns(table: pa.Table) -> pa.Table:
    """Last resort for a column Parquet cannot store: keep it as JSON text."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        try:
            pq.write_table(pa.table({name: column.slice(0, 1)}), io.BytesIO())
        except (pa.ArrowException, ValueError, TypeError):
            values = [text(v) if v is not None else None for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.large_string())])
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _data_as_text(table: pa.Table) -> pa.Table:
    fields = []
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if field.name not in ENVELOPE_COLUMNS:
            values = [text(v) if v is not None else None for v in column.to_pylist()]
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


def spool_to_parquet(
    source: Path,
    target: Path,
    *,
    durable: bool = False,
    schemas: CollectionSchemas | None = None,
    collection: str = "",
    history: Tree | None = None,
) -> int:
    """Convert a spool segment of frames into a Parquet file; return the number of rows.
    ``durable`` fsyncs the file before returning (fsync policy ``commit`` or ``always``).
    Column types follow the schema policy (``modeltap.formats.parquet.policy``), consistent
    with the earlier files of ``collection`` that ``schemas`` remembers or, the first time,
    finds in ``history`` (the collection's folder in the destination)."""
    with pa.memory_map(str(source), "r") as mapped:
        tables = read_frames(mapped.read_buffer())  # zero-copy over the page cache
        try:
            table = unify(tables)
        except (ValueError, pa.ArrowException):
            # the writer keeps segments mergeable; should one not be, keep the data as text
            table = unify(_data_as_text(t) for t in tables)
        table = decode_constants(table)
        earlier = None if history is None else functools.partial(committed_schemas, history)
        table = (schemas or CollectionSchemas()).apply(table, collection, earlier)
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
