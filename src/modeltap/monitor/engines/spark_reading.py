"""How the Spark engine reads a source: the DataFrame of a window's rows, planned on the cluster.

The driver lists the partition folders that overlap the window (``{yyyy}/{MM}/{dd}/{HH}``, as
modeltap's reader does, so files outside the window are never opened) and reads Parquet footers
for their schemas; Spark reads the files themselves.

- JSON lines: records read by Spark's JSON source, filtered by event time, duplicate event ids
  dropped (at-least-once delivery), and the ``data`` rows exploded with their positions
  (``row_index``). Record fields other than the envelope become columns, as modeltap's reader
  makes them; a column with no value anywhere has no type (Arrow ``null``).
- Parquet: files grouped by schema; each group read on its own and cast to the schema the
  files share once their types are unified (int64 in some files and double in others become
  double; types that do not unify become text), so trees whose files disagree on a column's
  type read as one table (Spark refuses them in one read).
- Training files (Parquet, CSV, JSON lines): typed as ``pyarrow.dataset`` types them on the
  driver (from the Parquet footers or the first block of text), then read by Spark with that
  schema.

Object-store URLs are translated for Hadoop (``s3://`` -> ``s3a://``, modeltap's ``az://`` ->
``abfss://``) and modeltap's ``storage_options`` become Hadoop options of the reads
(:func:`hadoop_options`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modeltap.errors import MonitorError
from modeltap.formats.rows import RECORD_FIELDS as _RECORD_FIELDS
from modeltap.monitor.source import ENVELOPE_COLUMNS, Source
from modeltap.monitor.windows import Window

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SideFrame", "hadoop_options", "hadoop_url", "read_side"]

_PARQUET_HIDDEN = frozenset({"id", "modelversion"})
_TIME_TYPE = pa.timestamp("us", tz="UTC")
_ENVELOPE_TYPES = {
    "correlationid": pa.string(),
    "xrequestid": pa.string(),
    "time": _TIME_TYPE,
    "row_index": pa.int64(),
}
_PAYLOAD_COLLECTIONS = frozenset({"request", "response"})


@dataclass(frozen=True)
class SideFrame:
    """A side's rows as a Spark DataFrame, with the Arrow type modeltap gives each column
    (``frame`` is None when no file overlaps the window). ``untyped_unless_valued``: columns
    of JSON lines whose type is Arrow ``null`` if they hold no value in any row (known once the
    side is counted)."""

    frame: DataFrame | None
    schema: dict[str, pa.DataType]
    untyped_unless_valued: frozenset[str] = frozenset()


# -- object stores ------------------------------------------------------------------------------


def hadoop_url(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """``url`` as Hadoop's file systems name it: local paths as ``file://``, ``s3://`` as
    ``s3a://``, modeltap's ``az://CONTAINER/PATH`` as ``abfss://CONTAINER@ACCOUNT.dfs...``
    (the account from ``storage_options``); ``abfs[s]://``, ``gs://``, ``hdfs://`` unchanged."""
    if "://" not in url:
        return "file://" + os.path.abspath(os.path.expanduser(url))
    protocol, rest = url.split("://", 1)
    protocol = protocol.lower()
    if protocol in ("s3", "s3a", "s3n"):
        return "s3a://" + rest
    if protocol in ("az", "adl"):
        account = (storage_options or {}).get("account_name")
        if not account:
            raise MonitorError(
                f"{url}: Spark reads Azure storage as abfss://CONTAINER@ACCOUNT.dfs.core."
                "windows.net/PATH; give storage_options.account_name or use that URL"
            )
        container, _, path = rest.partition("/")
        return f"abfss://{container}@{account}.dfs.core.windows.net/{path}"
    if protocol in ("file", "abfs", "abfss", "gs", "gcs", "hdfs", "wasb", "wasbs", "dbfs"):
        return ("gs://" + rest) if protocol == "gcs" else url
    raise MonitorError(
        f"Spark cannot read {protocol}:// URLs ({url}): use a local path or an object store "
        "(s3://, abfss://, gs://, hdfs://)"
    )


def hadoop_options(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, str]:
    """modeltap's ``storage_options`` for ``url`` as Hadoop settings of a read (credentials,
    endpoint); settings modeltap cannot translate are left to the cluster's configuration."""
    options = dict(storage_options or {})
    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    out: dict[str, str] = {}
    if protocol in ("s3", "s3a", "s3n"):
        pairs = {"key": "fs.s3a.access.key", "secret": "fs.s3a.secret.key",
                 "token": "fs.s3a.session.token", "endpoint_url": "fs.s3a.endpoint"}  # fmt: skip
        client = options.get("client_kwargs") or {}
        if "endpoint_url" in client and "endpoint_url" not in options:
            options["endpoint_url"] = client["endpoint_url"]
        for key, setting in pairs.items():
            if options.get(key):
                out[setting] = str(options[key])
        if options.get("endpoint_url"):
            out["fs.s3a.path.style.access"] = "true"
            if str(options["endpoint_url"]).startswith("http://"):
                out["fs.s3a.connection.ssl.enabled"] = "false"
        region = client.get("region_name") or options.get("region_name")
        if region:
            out["fs.s3a.endpoint.region"] = str(region)
        if options.get("anon"):
            out["fs.s3a.aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider"
            )
    elif protocol in ("az", "adl", "abfs", "abfss"):
        account = options.get("account_name")
        if account is None and "@" in url:
            account = url.split("@", 1)[1].split(".", 1)[0]
        host = f"{account}.dfs.core.windows.net"
        if account and options.get("account_key"):
            out[f"fs.azure.account.key.{host}"] = str(options["account_key"])
        if account and options.get("sas_token"):
            out[f"fs.azure.account.auth.type.{host}"] = "SAS"
            out[f"fs.azure.sas.fixed.token.{host}"] = str(options["sas_token"]).lstrip("?")
        if account and options.get("client_id") and options.get("client_secret"):
            out[f"fs.azure.account.auth.type.{host}"] = "OAuth"
            out[f"fs.azure.account.oauth.provider.type.{host}"] = (
                "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider"
            )
            out[f"fs.azure.account.oauth2.client.id.{host}"] = str(options["client_id"])
            out[f"fs.azure.account.oauth2.client.secret.{host}"] = str(options["client_secret"])
            tenant = options.get("tenant_id", "")
            out[f"fs.azure.account.oauth2.client.endpoint.{host}"] = (
                f"https://login.microsoftonline.com/{tenant}/oauth2/token"
            )
    elif protocol in ("gs", "gcs"):
        token = options.get("token")
        if isinstance(token, str) and token not in ("anon", "google_default", "cloud", "cache"):
            out["google.cloud.auth.type"] = "SERVICE_ACCOUNT_JSON_KEYFILE"
            out["google.cloud.auth.service.account.json.keyfile"] = token
        if options.get("project"):
            out["fs.gs.project.id"] = str(options["project"])
        if options.get("endpoint_url"):
            out["fs.gs.storage.root.url"] = str(options["endpoint_url"])
    return out


# -- types ----------------------------------------------------------------------------------------


def _spark_type(kind: pa.DataType) -> Any:
    """The Spark type a column of Arrow type ``kind`` is read as."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return T.StringType()
    if pa.types.is_large_binary(kind):
        return T.BinaryType()
    if pa.types.is_null(kind):
        return T.NullType()
    if pa.types.is_timestamp(kind):
        return T.TimestampType()
    try:
        return from_arrow_type(kind, prefer_timestamp_ntz=False)
    except Exception:  # pyspark refuses some nested types: read them as text
        return T.StringType()


def arrow_type(kind: Any) -> pa.DataType:
    """The Arrow type of a Spark type (text for what pyspark cannot convert)."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_type

    if isinstance(kind, T.NullType):
        return pa.null()
    if isinstance(kind, T.TimestampType | T.TimestampNTZType):
        return _TIME_TYPE
    try:
        return to_arrow_type(kind)
    except Exception:
        return pa.string()


def _cast(column: Column, kind: pa.DataType) -> Column:
    """``column`` as Arrow type ``kind`` (values that do not convert become null)."""
    return column.try_cast(_spark_type(kind))


# -- listing ------------------------------------------------------------------------------------


def _collected_files(source: Source, window: Window) -> tuple[Any, list[str], bool]:
    """(tree, files relative to it overlapping ``window``, payload collection?)."""
    from modeltap.reading.sources import find_collection

    try:
        found = find_collection(
            source.location, window.start, window.end, None, source.storage_options
        )
    except Exception as exc:  # StoreError, OSError: say which source
        raise MonitorError(f"cannot read {source.label}: {exc}") from None
    return found.tree, found.files, found.payload


def _parquet_schema(url: str, storage_options: Mapping[str, Any] | None) -> pa.Schema:
    import pyarrow.parquet as pq

    try:
        if "://" not in url or url.startswith("file://"):
            return pq.read_schema(url.removeprefix("file://"))
        import fsspec

        with fsspec.open(url, "rb", **dict(storage_options or {})) as handle:
            return pq.read_schema(handle)
    except (OSError, pa.ArrowException) as exc:
        raise MonitorError(f"cannot read the Parquet footer of {url}: {exc}") from None


def _unified(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for files that disagree: numbers promoted (int64 + double -> double),
    string flavours to string, types that do not unify as text."""
    cleaned = [
        pa.schema(
            [
                pa.field(f.name, pa.string())
                if pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)
                else pa.field(f.name, f.type)
                for f in schema
            ]
        )
        for schema in schemas
    ]
    try:
        return pa.unify_schemas(cleaned, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    fields: dict[str, pa.DataType] = {}
    for schema in cleaned:
        for field in schema:
            seen = fields.get(field.name)
            if seen is None or pa.types.is_null(seen):
                fields[field.name] = field.type
            elif not pa.types.is_null(field.type) and not seen.equals(field.type):
                try:
                    fields[field.name] = (
                        pa.unify_schemas(
                            [
                                pa.schema([(field.name, seen)]),
                                pa.schema([(field.name, field.type)]),
                            ],
                            promote_options="permissive",
                        )
                        .field(0)
                        .type
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    fields[field.name] = pa.string()
    return pa.schema(list(fields.items()))


def _parquet_frame(
    spark: SparkSession,
    urls: Sequence[str],
    storage_options: Mapping[str, Any] | None,
    drop: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
) -> tuple[DataFrame, pa.Schema]:
    """Parquet files read per schema group and cast to their unified schema."""
    from pyspark.sql import functions as F

    groups: dict[pa.Schema, list[str]] = {}
    for url in urls:
        schema = _parquet_schema(url, storage_options)
        groups.setdefault(schema, []).append(url)
    unified = _unified(list(groups))
    names = [f.name for f in unified if f.name not in drop or f.name in keep]
    frame: DataFrame | None = None
    for schema, members in groups.items():
        options = hadoop_options(members[0], storage_options)
        read = spark.read.options(**options).parquet(
            *[hadoop_url(u, storage_options) for u in members]
        )
        present = set(schema.names)
        columns = []
        for name in names:
            kind = unified.field(name).type
            if name not in present:
                columns.append(F.lit(None).cast(_spark_type(kind)).alias(name))
            elif schema.field(name).type.equals(kind):
                columns.append(F.col(_quoted(name)))
            else:
                columns.append(_cast(F.col(_quoted(name)), kind).alias(name))
        part = read.select(*columns)
        frame = part if frame is None else frame.unionByName(part)
    assert frame is not None
    return frame, pa.schema([unified.field(n) for n in names])


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _time_filter(frame: DataFrame, time: Column, window: Window) -> DataFrame:
    from pyspark.sql import functions as F

    if window.start is not None:
        frame = frame.filter(time >= F.lit(window.start))
    if window.end is not None:
        frame = frame.filter(time < F.lit(window.end))
    return frame


def _deduplicated(frame: DataFrame, keys: Sequence[str], start: Column | None = None) -> DataFrame:
    """The first of rows repeating ``keys`` when ``id`` is set (copies of one event are equal);
    rows without an id are all kept.

    Only the events delivered more than once are shuffled: the ids seen at more than one event
    start (``start``: the rows that begin an event; every row when None) are found by a small
    aggregate and broadcast, the rows of other events pass through untouched (a broadcast
    anti-join), and the repeated events' rows are deduplicated on ``keys``."""
    from pyspark.sql import functions as F

    starts = frame.filter(F.col("id").isNotNull())
    if start is not None:
        starts = starts.filter(start)
    repeated = F.broadcast(
        starts.groupBy("id")
        .agg(F.count(F.lit(1)).alias("copies"))
        .filter(F.col("copies") > 1)
        .select(F.col("id").alias("__repeated"))
    )
    match = F.col("id") == F.col("__repeated")
    once = frame.join(repeated, match, "left_anti")
    twice = frame.join(repeated, match, "left_semi").dropDuplicates(list(keys))
    return once.unionByName(twice)


# -- collected data -----------------------------------------------------------------------------


def _collected_parquet(
    spark: SparkSession, source: Source, urls: Sequence[str], window: Window
) -> SideFrame:
    from pyspark.sql import functions as F

    frame, schema = _parquet_frame(
        spark, urls, source.storage_options, drop=_PARQUET_HIDDEN, keep=frozenset({"id"})
    )
    if "time" in schema.names:
        frame = frame.withColumn("time", F.col("time").cast("timestamp"))
        frame = _time_filter(frame, F.col("time"), window)
    if "id" in schema.names and "row_index" in schema.names:
        frame = _deduplicated(frame, ["id", "row_index"], F.col("row_index") == 0)
    order = [n for n in ENVELOPE_COLUMNS if n in schema.names]
    order += [n for n in schema.names if n not in order and n not in _PARQUET_HIDDEN]
    types = {n: (_TIME_TYPE if n == "time" else schema.field(n).type) for n in order}
    return SideFrame(frame.select(*[F.col(_quoted(n)) for n in order]), types)


def _collected_jsonl(
    spark: SparkSession, source: Source, urls: Sequence[str], window: Window
) -> SideFrame:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    options = {"mode": "FAILFAST", **hadoop_options(urls[0], source.storage_options)}
    records = spark.read.options(**options).json(
        [hadoop_url(u, source.storage_options) for u in urls]
    )
    fields = {f.name: f.dataType for f in records.schema.fields}
    data = fields.get("data")
    if "time" not in fields or not (
        isinstance(data, T.ArrayType) and isinstance(data.elementType, T.StructType)
    ):
        raise MonitorError(
            f"{source.label}: the Spark engine reads collected records whose data is a list "
            "of rows; use the embedded engine (--engine embedded) for this collection"
        )
    if "dataref" in fields:
        raise MonitorError(
            f"{source.label} has out-of-line payloads (dataref): use the embedded engine"
        )
    for name in ("id", "correlationid", "xrequestid"):
        if name not in fields:
            records = records.withColumn(name, F.lit(None).cast("string"))
        elif not isinstance(fields[name], T.StringType):
            records = records.withColumn(name, F.col(name).cast("string"))
    records = records.withColumn("time", F.to_timestamp(F.col("time")))
    records = _time_filter(records, F.col("time"), window)
    records = _deduplicated(records, ["id"])
    rows = records.select("*", F.posexplode("data").alias("row_index", "__row")).withColumn(
        "row_index", F.col("row_index").cast("long")
    )
    columns: dict[str, Column] = {n: F.col(n) for n in ("correlationid", "xrequestid", "time")}
    columns["row_index"] = F.col("row_index")
    spark_types: dict[str, Any] = {}
    assert isinstance(data, T.ArrayType) and isinstance(data.elementType, T.StructType)
    extra = [(n, t) for n, t in fields.items() if n not in _RECORD_FIELDS]
    pieces = [(f.name, F.col("__row").getField(f.name), f.dataType) for f in data.elementType]
    pieces += [(n, F.col(_quoted(n)), t) for n, t in extra]
    for name, column, kind in pieces:
        target = name
        while target in columns:
            target = f"data_{target}"
        columns[target] = column
        spark_types[target] = kind
    order = list(columns)
    first = _first_record_columns(urls[0], source.storage_options)
    if first:  # the order of the first record's fields, as Arrow's JSON reader gives it
        rank = {name: index for index, name in enumerate(first)}
        data_names = sorted(order[4:], key=lambda n: (rank.get(n, len(rank)), order.index(n)))
        order = order[:4] + data_names
    frame = rows.select(*[columns[n].alias(n) for n in order])
    schema = {n: _ENVELOPE_TYPES[n] for n in order[:4]}
    for name in order[4:]:
        schema[name] = arrow_type(spark_types[name])
    return SideFrame(frame, schema, frozenset(order[4:]))


def _first_record_columns(url: str, storage_options: Mapping[str, Any] | None) -> list[str]:
    """The data columns of the first record of a JSON lines file, in their order (Spark's
    inference sorts them by name): one line read on the driver."""
    import fsspec
    import orjson

    try:
        with fsspec.open(url, "rb", **dict(storage_options or {})) as handle:
            record = orjson.loads(handle.readline(1 << 24))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict):
        return []
    rows = record.get("data")
    names = list(rows[0]) if isinstance(rows, list) and rows and isinstance(rows[0], dict) else []
    return names + [n for n in record if n not in _RECORD_FIELDS]


def _typed(part: SideFrame) -> dict[str, pa.DataType]:
    """``part``'s schema with its columns that hold no value in any row typed Arrow ``null``,
    as Arrow's JSON reader types them (Spark's inference calls them text): one aggregate."""
    from pyspark.sql import functions as F

    names = sorted(part.untyped_unless_valued)
    if part.frame is None or not names:
        return part.schema
    counts = part.frame.agg(
        *[F.count(F.col(_quoted(n))).alias(f"c{i}") for i, n in enumerate(names)]
    )
    row = counts.collect()[0]
    out = dict(part.schema)
    for index, name in enumerate(names):
        if int(row[f"c{index}"]) == 0:
            out[name] = pa.null()
    return out


# -- training files -----------------------------------------------------------------------------


def _files(spark: SparkSession, source: Source, window: Window) -> SideFrame:
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
        return SideFrame(None, {})
    options = hadoop_options(urls[0], source.storage_options)
    paths = [hadoop_url(u, source.storage_options) for u in urls]
    if source.file_format == "parquet":
        frame, schema = _parquet_frame(spark, urls, source.storage_options)
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
                    _cast(F.col(_quoted(f.name)), f.type).alias(f.name)
                    if not pa.types.is_string(f.type)
                    else F.col(_quoted(f.name))
                    for f in schema
                ]
            )
        else:
            struct = T.StructType([T.StructField(f.name, _spark_type(f.type)) for f in schema])
            frame = spark.read.options(**options).json(paths, schema=struct, mode="FAILFAST")
    if has_time:
        frame = _time_filter(frame, F.col("time").cast("timestamp"), window)
    return SideFrame(frame, {f.name: f.type for f in schema})


def read_side(spark: SparkSession, source: Source, window: Window) -> SideFrame:
    """The rows of ``source`` over ``window`` as a (lazy) Spark DataFrame."""
    if source.kind == "files":
        return _files(spark, source, window)
    tree, files, payload = _collected_files(source, window)
    if payload:
        raise MonitorError(
            f"{source.label} is a payload collection (request/response bodies): monitor its "
            "model_inputs/model_outputs, or use the embedded engine"
        )
    if not files:
        return SideFrame(None, {})
    urls = [tree.join(relative) for relative in files]
    parquet = [u for u in urls if u.endswith(".parquet")]
    jsonl = [u for u in urls if not u.endswith(".parquet")]
    parts = []
    for group in sorted((g for g in (parquet, jsonl) if g), key=lambda g: urls.index(g[0])):
        reader = _collected_parquet if group is parquet else _collected_jsonl
        parts.append(reader(spark, source, group, window))
    return parts[0] if len(parts) == 1 else _union(parts)


def _union(parts: Sequence[SideFrame]) -> SideFrame:
    """Sides read from files of different formats (a collection whose format changed) as one,
    their types unified as modeltap's reader unifies them."""
    from pyspark.sql import functions as F

    schemas = [_typed(part) for part in parts]
    unified = _unified([pa.schema(list(schema.items())) for schema in schemas])
    frame: DataFrame | None = None
    for part, schema in zip(parts, schemas, strict=True):
        assert part.frame is not None
        columns = []
        for field in unified:
            if field.name not in schema:
                columns.append(F.lit(None).cast(_spark_type(field.type)).alias(field.name))
            elif schema[field.name].equals(field.type):
                columns.append(F.col(_quoted(field.name)))
            else:
                columns.append(_cast(F.col(_quoted(field.name)), field.type).alias(field.name))
        piece = part.frame.select(*columns)
        frame = piece if frame is None else frame.unionByName(piece)
    return SideFrame(frame, {f.name: f.type for f in unified})
