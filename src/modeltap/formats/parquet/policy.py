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

What a collection's files had is learnt from the files themselves: the first time a writer
process commits a file of a collection, it reads the schemas (the footers only) of the newest
partition folder's Parquet files in the destination (``committed_schemas``, at most 64 files),
and from then on remembers what it writes (``CollectionSchemas``). A widening thus survives a
restart of the writer, a new spool folder and a new machine, and a writer also follows a
widening that another writer of the same collection committed before it started. A column
absent from the newest partition's files is not remembered (its next file may again be
narrower); a destination that cannot be listed or read (write-only credentials) is logged once
per collection and the writer goes on with what it writes itself.

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

import logging
import threading
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modeltap.errors import ModelTapError
from modeltap.formats.parquet.union import FLOAT_EXACT
from modeltap.store.layout import newest_files, split_partition
from modeltap.store.tree import Tree

__all__ = ["CollectionSchemas", "collection_key", "committed_schemas", "portable_type"]

logger = logging.getLogger("modeltap.commit")

LOOK_BACK_FILES = 64
"""At most this many files of the newest partition folder are looked at."""


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


def committed_schemas(collection: Tree) -> list[pa.Schema]:
    """The schemas of the Parquet files in the newest partition folder of ``collection`` (the
    collection's folder in the destination) that has any, read from their footers. A file that
    cannot be read is skipped; a folder that cannot be listed raises ``StoreError``."""
    schemas = []
    for relative in newest_files(collection, (".parquet",), limit=LOOK_BACK_FILES):
        try:
            with collection.open_input(relative) as handle:
                schemas.append(pq.read_schema(handle))
        except (ModelTapError, OSError, pa.ArrowException) as exc:
            logger.debug("left out %s when looking back: %s", collection.join(relative), exc)
    return schemas


def _remember(seen: dict[str, pa.DataType], field: pa.Field) -> None:
    """Note the type ``field`` was written with: a float column stays float once it was."""
    before = seen.get(field.name)
    if before is not None and pa.types.is_floating(before) and pa.types.is_integer(field.type):
        return
    seen[field.name] = field.type


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

    def apply(
        self,
        table: pa.Table,
        key: str,
        earlier: Callable[[], Iterable[pa.Schema]] | None = None,
    ) -> pa.Table:
        """``table`` with portable types, consistent with what ``key``'s collection had; the
        types written are remembered. The first time ``key`` is seen, ``earlier`` gives the
        schemas of the collection's committed files (see ``committed_schemas``)."""
        with self._lock:
            known = key in self._types
        if not known:
            self._look_back(key, earlier)
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
            _remember(seen, field.with_type(target))
        with self._lock:
            self._types.setdefault(key, {}).update(seen)
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))

    def _look_back(self, key: str, earlier: Callable[[], Iterable[pa.Schema]] | None) -> None:
        """Learn ``key``'s types from its committed files (once; outside the lock: it may
        read from a store)."""
        seen: dict[str, pa.DataType] = {}
        if earlier is not None:
            try:
                for schema in earlier():
                    for field in schema:
                        _remember(seen, field)
            except (ModelTapError, OSError, pa.ArrowException) as exc:
                logger.warning(
                    "cannot read the earlier Parquet files of %s (%s): its column types follow "
                    "what this process writes, so a column widened before it started may be "
                    "narrower again in its files",
                    key,
                    exc,
                )
        with self._lock:
            known = self._types.setdefault(key, {})
            for name, kind in seen.items():
                known.setdefault(name, kind)
