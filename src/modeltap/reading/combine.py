"""Rows of several files as one table: columns united, duplicates removed, columns picked."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from modeltap.formats.rows import ENVELOPE_COLUMNS, EVENT, EVENT_ID, TIME_TYPE, as_text

__all__ = ["concat", "deduplicate", "empty", "ordered"]


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables with different columns or types as one: missing columns null, types promoted,
    and columns whose types cannot be promoted turned into JSON text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    kinds: dict[str, list[pa.Field]] = {}
    for table in tables:
        for field in table.schema:
            if not pa.types.is_null(field.type):
                kinds.setdefault(field.name, []).append(field)
    clash = {name for name, fields in kinds.items() if not _promotable(fields)}
    fixed = []
    for table in tables:
        for name in clash & set(table.column_names):
            values = table.column(name).to_pylist()
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, as_text(values))
        fixed.append(table)
    return pa.concat_tables(fixed, promote_options="permissive")


def _promotable(fields: list[pa.Field]) -> bool:
    """Whether Arrow can promote the types of one column's fields to one type."""
    try:
        pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def deduplicate(table: pa.Table) -> pa.Table:
    """Keep the first copy of every event id (copies come from at-least-once delivery)."""
    import polars as pl

    if len(table) == 0:
        return table
    starts = pc.equal(table.column("row_index"), 0)
    ids = pl.Series("id", pc.filter(table.column(EVENT_ID), starts))
    if ids.null_count() == len(ids) or ids.drop_nulls().n_unique() == len(ids) - ids.null_count():
        return table
    events = (
        pl.DataFrame({"id": ids, "ev": pl.Series("ev", pc.filter(table.column(EVENT), starts))})
        .unique()
        .sort("ev")
    )
    first = pl.col("id").is_first_distinct()
    dropped = events.filter(pl.col("id").is_not_null() & ~first)["ev"].to_arrow()
    if len(dropped) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table.column(EVENT), dropped)))


def ordered(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """The hidden columns dropped; ``columns`` picked in order (absent ones as nulls)."""
    table = table.drop_columns([c for c in (EVENT_ID, EVENT) if c in table.column_names])
    if columns is None:
        return table
    present = set(table.column_names)
    arrays = [table.column(name) if name in present else pa.nulls(len(table)) for name in columns]
    return pa.table(arrays, names=list(columns))


def empty(columns: Sequence[str] | None) -> pa.Table:
    """No rows, with the envelope columns (or ``columns``)."""
    types = {
        "correlationid": pa.string(),
        "xrequestid": pa.string(),
        "time": TIME_TYPE,
        "row_index": pa.int64(),
    }
    names = list(columns) if columns is not None else list(ENVELOPE_COLUMNS)
    return pa.table({n: pa.array([], types.get(n, pa.null())) for n in names})
