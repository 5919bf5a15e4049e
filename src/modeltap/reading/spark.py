"""Reading a collection with Spark: its committed files as one Spark DataFrame, one row per
data row, envelope columns first (``correlationid``, ``xrequestid``, ``time``, ``row_index``).

Spark's own readers need help with what modeltap writes: partition folders are not
``key=value`` (so files are listed here, not discovered), JSON lines hold rows in a ``data``
array (exploded here), and Parquet files of a collection whose column widened from integers to
floats cannot be merged by ``mergeSchema``: files are read per group sharing a schema, the
widened columns cast to the unified type, and the groups unioned by name. Duplicates from
at-least-once delivery are not removed (``modeltap.read`` does).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from modeltap.catalog.model import DataAsset
from modeltap.errors import MissingDependencyError
from modeltap.formats import format_for_path
from modeltap.reading.sources import find_collection, open_file
from modeltap.store import Tree

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_spark"]

_ENVELOPE = ("correlationid", "xrequestid", "time", "row_index")


def _functions() -> Any:
    try:
        from pyspark.sql import functions
    except ImportError as exc:
        raise MissingDependencyError(
            f"read_spark needs pyspark ({exc}): pip install pyspark, and java to run it"
        ) from exc
    return functions


def _schema(tree: Tree, relative: str) -> pa.Schema:
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = tree.local_path(relative)
    if local is not None:
        return pq.read_schema(local)
    return pq.read_schema(pa.BufferReader(open_file(tree, relative)))


def _parquet(spark: Any, tree: Tree, files: list[str]) -> Any:
    import pyarrow as pa

    functions = _functions()
    schemas = {relative: _schema(tree, relative) for relative in files}
    unified = pa.unify_schemas(list(schemas.values()), promote_options="permissive")
    groups: dict[str, list[str]] = {}
    for relative, schema in schemas.items():
        groups.setdefault(str(schema), []).append(tree.join(relative))
    frames = []
    for paths in groups.values():
        frame = spark.read.parquet(*paths)
        for field in unified:
            if field.name in frame.columns and pa.types.is_floating(field.type):
                frame = frame.withColumn(field.name, functions.col(field.name).cast("double"))
        frames.append(frame)
    return _union(frames).drop("id", "modelversion")


def _jsonl(spark: Any, tree: Tree, files: list[str]) -> Any:
    functions = _functions()
    records = spark.read.json([tree.join(relative) for relative in files])
    kind = records.schema["data"].dataType.simpleString() if "data" in records.columns else ""
    if not kind.startswith("array<struct"):
        return records  # payloads: one record per call, ``data`` as Spark inferred it
    rows = records.select(
        "correlationid",
        "xrequestid",
        functions.to_timestamp("time").alias("time"),
        functions.posexplode("data").alias("row_index", "__row"),
    )
    return rows.select(*_ENVELOPE, "__row.*")


def _union(frames: list[Any]) -> Any:
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame, allowMissingColumns=True)
    return result


_READERS = {"jsonl": _jsonl, "parquet": _parquet}  # a Spark adapter per format


def read_spark(
    spark: Any,
    asset_or_path: str | os.PathLike[str] | DataAsset,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
    allow_external_root: bool = False,
) -> Any:
    """A collection (asset name, :class:`DataAsset` or path, as for :func:`modeltap.read`) as a
    Spark DataFrame read by the session ``spark``. The paths handed to Spark are the store's
    (``s3://`` needs Spark's own ``s3a://`` configuration for object stores)."""
    collection = find_collection(
        asset_or_path,
        None,
        None,
        destination,
        storage_options,
        allow_external_root=allow_external_root,
    )
    by_format: dict[str, list[str]] = {}
    for relative in collection.files:
        found = format_for_path(relative)
        if found is not None:
            by_format.setdefault(found.name, []).append(relative)
    frames = [_READERS[name](spark, collection.tree, files) for name, files in by_format.items()]
    if not frames:
        return spark.createDataFrame(
            [], "correlationid string, xrequestid string, time timestamp, row_index bigint"
        )
    return _union(frames)
