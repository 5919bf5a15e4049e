"""How the Spark engine reads a source: the DataFrame of a window's rows, planned on the cluster.

Collected data is read by :mod:`modeltap.reading.spark` (the window's partition folders listed
by the driver, JSON lines exploded, Parquet schema groups unified, duplicate deliveries dropped,
object-store URLs translated for Hadoop), filtered to the window by event time. Training files
(Parquet, CSV, JSON lines) are typed as ``pyarrow.dataset`` types them on the driver (from the
Parquet footers or the first block of text), then read by Spark with that schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from modeltap.errors import MonitorError, StoreError
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window
from modeltap.reading.spark import (
    SparkRows,
    cast_to,
    hadoop_options,
    hadoop_url,
    parquet_frame,
    quoted,
    read_collected,
    spark_type,
    time_filter,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["read_side"]


def _files(spark: SparkSession, source: Source, window: Window) -> SparkRows:
    from pyspark.sql import functions as F

    dataset = source.dataset()
    location = str(source.location)
    protocol = location.split("://", 1)[0] + "://" if "://" in location else ""
    urls = [protocol + path if protocol else path for path in dataset.files]
    has_time = "time" in dataset.schema.names
    if (window.start is not None or window.end is not None) and not has_time:
        raise MonitorError(
            f"{source.label} has no 'time' column to select the window "
            f"[{window.start}, {window.end}) by: drop the data_window of training data"
        )
    if not urls:
        return SparkRows(None, {})
    options = hadoop_options(urls[0], source.storage_options)
    paths = [hadoop_url(u, source.storage_options) for u in urls]
    if source.file_format == "parquet":
        frame, schema = parquet_frame(spark, urls, source.storage_options)
    else:
        schema = pa.schema(
            [
                pa.field(f.name, pa.string())
                if pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)
                else f
                for f in dataset.schema
            ]
        )
        from pyspark.sql import types as T

        if source.file_format == "csv":
            text = T.StructType([T.StructField(f.name, T.StringType()) for f in schema])
            read = spark.read.options(**options).csv(
                paths, header=True, schema=text, mode="FAILFAST", enforceSchema=False
            )
            frame = read.select(
                *[
                    cast_to(F.col(quoted(f.name)), f.type).alias(f.name)
                    if not pa.types.is_string(f.type)
                    else F.col(quoted(f.name))
                    for f in schema
                ]
            )
        else:
            struct = T.StructType([T.StructField(f.name, spark_type(f.type)) for f in schema])
            frame = spark.read.options(**options).json(paths, schema=struct, mode="FAILFAST")
    if has_time:
        frame = time_filter(frame, F.col("time").cast("timestamp"), window.start, window.end)
    return SparkRows(frame, {f.name: f.type for f in schema})


def read_side(spark: SparkSession, source: Source, window: Window) -> SparkRows:
    """The rows of ``source`` over ``window`` as a (lazy) Spark DataFrame."""
    if source.kind == "files":
        return _files(spark, source, window)
    from modeltap.reading.sources import find_collection

    try:
        found = find_collection(
            source.location, window.start, window.end, None, source.storage_options
        )
    except Exception as exc:  # StoreError, OSError: say which source
        raise MonitorError(f"cannot read {source.label}: {exc}") from None
    if found.payload:
        raise MonitorError(
            f"{source.label} is a payload collection (request/response bodies): monitor its "
            "model_inputs/model_outputs, or use the embedded engine"
        )
    try:
        return read_collected(
            spark, found.tree, found.files, window.start, window.end, source.storage_options
        )
    except StoreError as exc:
        raise MonitorError(
            f"cannot read {source.label} on Spark: {exc}; the embedded engine (--engine "
            "embedded) reads every collection"
        ) from None
