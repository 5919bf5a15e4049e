"""The schema policy of committed Parquet files: what makes one collection's files readable
together by DuckDB, pyarrow.dataset, polars and Spark.

- Timestamps are stored in microseconds (Spark has no nanosecond type; pandas 2 makes every
  datetime nanoseconds: the digits below a microsecond are dropped). Zoned timestamps are
  stored in UTC (the same instants; JSON lines does the same). Nested ones too.
- No column has the null type (an all-null column, or a list column of empty lists): it gets
  the type the collection's earlier files gave it, else string (``list<string>``).
- Types only widen within a collection: once a column was written as floating point, a later
  file whose values are integers stores them as float64 too (while they are exact), so readers
  that unify schemas see one wider type and none meets a narrower file after a wider one.

The memory of a collection's types is per writer process (``CollectionSchemas``); a restart
forgets it, so after a restart a column can go back to its narrower type in new files.

What each reader needs to read a collection's files together (``tests/compat`` runs each):

- DuckDB: ``read_parquet('{collection}/**/*.parquet', union_by_name = true)`` (without
  ``union_by_name`` DuckDB takes the first file's types and rounds 1.5 to 2 when that file had
  integers). JSON lines: ``read_json('{collection}/**/*.jsonl', format = 'newline_delimited',
  union_by_name = true)``, then ``unnest(data)``.
- pyarrow.dataset: pass the unified schema, ``ds.dataset(files, format="parquet",
  schema=pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive"))``;
  without it the first file's schema drops later columns and refuses widened ones.
- polars: ``pl.scan_parquet(files, schema=<that unified schema>, missing_columns="insert",
  cast_options=pl.ScanCastOptions(integer_cast=["upcast", "allow-float"]))``.
- Spark: partition folders are not ``key=value``, so use ``recursiveFileLookup``:
  ``spark.read.option("mergeSchema", "true").option("recursiveFileLookup", "true")
  .parquet(collection)``, and ``spark.read.option("recursiveFileLookup", "true").json(...)``
  for JSON lines (then ``explode("data")``). Every tree without int-to-float widening reads so.
  ``mergeSchema`` cannot merge int64 with double files: read such a collection per group of
  files sharing a schema, cast the widened columns to double and ``unionByName(...,
  allowMissingColumns=True)`` (``spark_parquet_widened`` in ``tests/compat/test_readers.py``).
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.compute as pc

from modeltap.formats.parquet.union import FLOAT_EXACT
from modeltap.store.layout import split_partition

__all__ = ["CollectionSchemas", "collection_key", "portable_type"]


def portable_type(kind: pa.DataType) -> pa.DataType:
    """``kind`` with timestamps in microseconds (zoned ones in UTC) and null as string, also
    inside lists, structs and maps."""
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC" if kind.tz is not None else None)
    if pa.types.is_time64(kind):
        return pa.time64("us")
    if pa.types.is_null(kind):
        return pa.large_string()
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(portable_type(kind.value_type)))
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(portable_type(kind.value_type)))
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(kind.value_field.with_type(portable_type(kind.value_type)), kind.list_size)
    if pa.types.is_map(kind):
        return pa.map_(portable_type(kind.key_type), portable_type(kind.item_type))
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(portable_type(f.type)) for f in kind])
    return kind


def collection_key(committed_as: str) -> str:
    """The collection folder of a committed file's URL or path (file name and partition
    folders removed)."""
    return split_partition(committed_as.replace("\\", "/").rsplit("/", 1)[0])[0]


def _has_null(kind: pa.DataType) -> bool:
    """Whether ``kind`` is null or holds null-typed values (``list<null>`` of empty lists)."""
    if pa.types.is_null(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _has_null(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_has_null(f.type) for f in kind)
    return False


def _castable(column: pa.ChunkedArray, kind: pa.DataType) -> bool:
    try:
        column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _fits_float(column: pa.ChunkedArray) -> bool:
    if column.null_count == len(column):
        return True
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return max(abs(int(low or 0)), abs(int(high or 0))) <= FLOAT_EXACT


class CollectionSchemas:
    """The column types each collection's committed files have had, to keep new files
    consistent with them (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, pa.DataType]] = {}

    def apply(self, table: pa.Table, key: str) -> pa.Table:
        """``table`` with portable types, consistent with what ``key``'s collection had; the
        types written are remembered."""
        with self._lock:
            seen = dict(self._types.get(key, {}))
        fields = []
        columns = []
        for field, column in zip(table.schema, table.columns, strict=True):
            kind = field.type
            before = seen.get(field.name)
            if before is not None and _has_null(kind) and _castable(column, before):
                target = before  # nulls, or empty lists: the type the collection had
            else:
                target = portable_type(kind)
                if (
                    before is not None
                    and pa.types.is_floating(before)
                    and pa.types.is_integer(target)
                    and _fits_float(column)
                ):
                    target = before
            if not target.equals(kind):
                column = column.cast(target, safe=False)
            fields.append(field.with_type(target))
            columns.append(column)
            if before is None or not (pa.types.is_floating(before) and pa.types.is_integer(target)):
                seen[field.name] = target
        with self._lock:
            self._types.setdefault(key, {}).update(seen)
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))
