"""Reading a collection with Spark: its committed files as one Spark DataFrame, planned on the
cluster, one row per data row, envelope columns first (``correlationid``, ``xrequestid``,
``time``, ``row_index``), as :func:`modeltap.read` gives them.

Spark's own readers need help with what modeltap writes, and get it here:

- partition folders are not ``key=value``: the driver lists the files of the window's folders
  (``modeltap.reading.sources``), so files outside it are never opened;
- JSON lines hold rows in a ``data`` array: records are read by Spark's JSON source, filtered by
  event time, and the rows exploded with their positions (``row_index``); record fields other
  than the envelope become columns, and a column with no value anywhere has no type (Arrow
  ``null``) once counted;
- Parquet files of a collection whose column widened (int64 in some files, double in others)
  cannot be merged by ``mergeSchema``: files are grouped by schema (read from their footers on
  the driver), each group read on its own and cast to the types the groups unify to (numbers
  promoted, types that do not unify as text), and the groups unioned by name;
- a line Spark cannot parse (damaged on disk) is skipped, as :func:`modeltap.read` skips it:
  counted by file, logged and warned (``SkippedRecordsWarning``), which costs one more Spark
  job only when the schema inference met such a line;
- at-least-once delivery can leave an event twice: the first copy is kept, and only the
  repeated events are shuffled to find it;
- object-store URLs are translated for Hadoop (``s3://`` -> ``s3a://``, modeltap's ``az://``
  -> ``abfss://``) and modeltap's ``storage_options`` become Hadoop options of the reads
  (:func:`hadoop_options`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modeltap.catalog.model import DataAsset
from modeltap.errors import MissingDependencyError, StoreError
from modeltap.formats import format_for_path
from modeltap.formats.rows import ENVELOPE_COLUMNS
from modeltap.formats.rows import RECORD_FIELDS as _RECORD_FIELDS
from modeltap.reading.collection import warn_skipped
from modeltap.reading.sources import find_collection
from modeltap.store import Tree

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "SparkRows",
    "arrow_type",
    "cast_to",
    "hadoop_options",
    "hadoop_url",
    "parquet_frame",
    "quoted",
    "read_collected",
    "read_spark",
    "spark_type",
    "time_filter",
]

_PARQUET_HIDDEN = frozenset({"id", "modelversion"})
_DAMAGED = "_modeltap_damaged_line"  # the JSON source's column of lines it cannot parse
_TIME_TYPE = pa.timestamp("us", tz="UTC")
_ENVELOPE_TYPES = {
    "correlationid": pa.string(),
    "xrequestid": pa.string(),
    "time": _TIME_TYPE,
    "row_index": pa.int64(),
}


@dataclass(frozen=True)
class SparkRows:
    """Rows as a Spark DataFrame, with the Arrow type modeltap gives each column (``frame`` is
    None when no file is read). ``untyped_unless_valued``: columns of JSON lines whose type is
    Arrow ``null`` if they hold no value in any row (Spark's inference calls them text; known
    once the rows are counted, see :meth:`typed`)."""

    frame: DataFrame | None
    schema: dict[str, pa.DataType]
    untyped_unless_valued: frozenset[str] = frozenset()

    def typed(self) -> dict[str, pa.DataType]:
        """The schema with the columns that hold no value in any row typed Arrow ``null``: one
        aggregate over the rows when some column may be untyped."""
        from pyspark.sql import functions as F

        names = sorted(self.untyped_unless_valued)
        if self.frame is None or not names:
            return self.schema
        counts = self.frame.agg(
            *[F.count(F.col(quoted(n))).alias(f"c{i}") for i, n in enumerate(names)]
        )
        row = counts.collect()[0]
        out = dict(self.schema)
        for index, name in enumerate(names):
            if int(row[f"c{index}"]) == 0:
                out[name] = pa.null()
        return out


def _require_pyspark() -> None:
    try:
        import pyspark.sql  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"read_spark needs pyspark ({exc}): pip install pyspark, and java to run it"
        ) from exc


def quoted(name: str) -> str:
    """``name`` as a Spark column reference (backquoted)."""
    return "`" + name.replace("`", "``") + "`"


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
            raise StoreError(
                f"{url}: Spark reads Azure storage as abfss://CONTAINER@ACCOUNT.dfs.core."
                "windows.net/PATH; give storage_options.account_name or use that URL"
            )
        container, _, path = rest.partition("/")
        return f"abfss://{container}@{account}.dfs.core.windows.net/{path}"
    if protocol in ("file", "abfs", "abfss", "gs", "gcs", "hdfs", "wasb", "wasbs", "dbfs"):
        return ("gs://" + rest) if protocol == "gcs" else url
    raise StoreError(
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


def spark_type(kind: pa.DataType) -> Any:
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


def cast_to(column: Column, kind: pa.DataType) -> Column:
    """``column`` as Arrow type ``kind`` (values that do not convert become null)."""
    return column.try_cast(spark_type(kind))


# -- Parquet ------------------------------------------------------------------------------------


def _parquet_schema(url: str, storage_options: Mapping[str, Any] | None) -> pa.Schema:
    import pyarrow.parquet as pq

    try:
        if "://" not in url or url.startswith("file://"):
            return pq.read_schema(url.removeprefix("file://"))
        import fsspec

        with fsspec.open(url, "rb", **dict(storage_options or {})) as handle:
            return pq.read_schema(handle)
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"cannot read the Parquet footer of {url}: {exc}") from None


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


def parquet_frame(
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
                columns.append(F.lit(None).cast(spark_type(kind)).alias(name))
            elif schema.field(name).type.equals(kind):
                columns.append(F.col(quoted(name)))
            else:
                columns.append(cast_to(F.col(quoted(name)), kind).alias(name))
        part = read.select(*columns)
        frame = part if frame is None else frame.unionByName(part)
    assert frame is not None
    return frame, pa.schema([unified.field(n) for n in names])


def time_filter(
    frame: DataFrame, time: Column, start: dt.datetime | None, end: dt.datetime | None
) -> DataFrame:
    """The rows of ``frame`` whose ``time`` is in [start, end) (None: unbounded)."""
    from pyspark.sql import functions as F

    if start is not None:
        frame = frame.filter(time >= F.lit(start))
    if end is not None:
        frame = frame.filter(time < F.lit(end))
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
    spark: SparkSession,
    urls: Sequence[str],
    storage_options: Mapping[str, Any] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> SparkRows:
    from pyspark.sql import functions as F

    frame, schema = parquet_frame(
        spark, urls, storage_options, drop=_PARQUET_HIDDEN, keep=frozenset({"id"})
    )
    if "time" in schema.names:
        frame = frame.withColumn("time", F.col("time").cast("timestamp"))
        frame = time_filter(frame, F.col("time"), start, end)
    if "id" in schema.names and "row_index" in schema.names:
        frame = _deduplicated(frame, ["id", "row_index"], F.col("row_index") == 0)
    order = [n for n in ENVELOPE_COLUMNS if n in schema.names]
    order += [n for n in schema.names if n not in order and n not in _PARQUET_HIDDEN]
    types = {n: (_TIME_TYPE if n == "time" else schema.field(n).type) for n in order}
    return SparkRows(frame.select(*[F.col(quoted(n)) for n in order]), types)


def _without_damaged_lines(records: Any) -> Any:
    """``records`` without the lines Spark could not parse, each file's count of them logged
    and warned as :func:`modeltap.read` does (one small job: the counts by file)."""
    from pyspark.sql import functions as F

    damaged = F.col(_DAMAGED).isNotNull()
    others = [name for name in records.columns if name != _DAMAGED]
    if not others:
        raise StoreError("no line of these files is a JSON record: they are not modeltap's")
    # the JSON source refuses a query that reads its damaged-line column alone: count another
    counts = (
        records.where(damaged)
        .groupBy(F.input_file_name().alias("file"))
        .agg(F.count(F.lit(1)).alias("count"), F.count(F.col(quoted(others[0]))))
        .collect()
    )
    skipped = sorted(f"{row['file']}: {row['count']} line(s)" for row in counts)
    if skipped:
        damaged_lines = sum(int(row["count"]) for row in counts)
        warn_skipped(f"{damaged_lines} line(s) that are not JSON records", skipped, stacklevel=4)
    return records.where(~damaged).drop(_DAMAGED)


def _collected_jsonl(
    spark: SparkSession,
    urls: Sequence[str],
    storage_options: Mapping[str, Any] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> SparkRows:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    options = {
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _DAMAGED,
        **hadoop_options(urls[0], storage_options),
    }
    records = spark.read.options(**options).json([hadoop_url(u, storage_options) for u in urls])
    if _DAMAGED in records.columns:  # the schema inference met a line it cannot parse
        records = _without_damaged_lines(records)
    fields = {f.name: f.dataType for f in records.schema.fields}
    data = fields.get("data")
    if "time" not in fields or not (
        isinstance(data, T.ArrayType) and isinstance(data.elementType, T.StructType)
    ):
        raise StoreError(
            "Spark reads collected records whose data is a list of rows; these records' data "
            "is not (modeltap.read reads them)"
        )
    if "dataref" in fields:
        raise StoreError(
            "these records have out-of-line payloads (dataref), which Spark does not follow "
            "(modeltap.read does)"
        )
    for name in ("id", "correlationid", "xrequestid"):
        if name not in fields:
            records = records.withColumn(name, F.lit(None).cast("string"))
        elif not isinstance(fields[name], T.StringType):
            records = records.withColumn(name, F.col(name).cast("string"))
    records = records.withColumn("time", F.to_timestamp(F.col("time")))
    records = time_filter(records, F.col("time"), start, end)
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
    pieces += [(n, F.col(quoted(n)), t) for n, t in extra]
    for name, column, kind in pieces:
        target = name
        while target in columns:
            target = f"data_{target}"
        columns[target] = column
        spark_types[target] = kind
    order = list(columns)
    first = _first_record_columns(urls[0], storage_options)
    if first:  # the order of the first record's fields, as Arrow's JSON reader gives it
        rank = {name: index for index, name in enumerate(first)}
        data_names = sorted(order[4:], key=lambda n: (rank.get(n, len(rank)), order.index(n)))
        order = order[:4] + data_names
    frame = rows.select(*[columns[n].alias(n) for n in order])
    schema = {n: _ENVELOPE_TYPES[n] for n in order[:4]}
    for name in order[4:]:
        schema[name] = arrow_type(spark_types[name])
    return SparkRows(frame, schema, frozenset(order[4:]))


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


def _union(parts: Sequence[SparkRows]) -> SparkRows:
    """Rows read from files of different formats (a collection whose format changed) as one,
    their types unified as modeltap's reader unifies them."""
    from pyspark.sql import functions as F

    schemas = [part.typed() for part in parts]
    unified = _unified([pa.schema(list(schema.items())) for schema in schemas])
    frame: DataFrame | None = None
    for part, schema in zip(parts, schemas, strict=True):
        assert part.frame is not None
        columns = []
        for field in unified:
            if field.name not in schema:
                columns.append(F.lit(None).cast(spark_type(field.type)).alias(field.name))
            elif schema[field.name].equals(field.type):
                columns.append(F.col(quoted(field.name)))
            else:
                columns.append(cast_to(F.col(quoted(field.name)), field.type).alias(field.name))
        piece = part.frame.select(*columns)
        frame = piece if frame is None else frame.unionByName(piece)
    return SparkRows(frame, {f.name: f.type for f in unified})


_READERS = {"jsonl": _collected_jsonl, "parquet": _collected_parquet}  # a Spark reader a format


def read_collected(
    spark: SparkSession,
    tree: Tree,
    files: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> SparkRows:
    """The rows of a collection's committed ``files`` (relative to ``tree``, JSON lines and
    Parquet) whose event time is in [start, end), as one lazy Spark DataFrame.

    Raises StoreError for what Spark cannot read (records whose data is not a list of rows,
    out-of-line payloads, a Parquet footer that cannot be read, a URL Hadoop has no name for)."""
    by_format: dict[str, list[str]] = {}  # in the order each format first appears
    for relative in files:
        found = format_for_path(relative)
        if found is not None:
            by_format.setdefault(found.name, []).append(tree.join(relative))
    parts = [
        _READERS[name](spark, urls, storage_options, start, end) for name, urls in by_format.items()
    ]
    if not parts:
        return SparkRows(None, {})
    return parts[0] if len(parts) == 1 else _union(parts)


def read_spark(
    spark: Any,
    asset_or_path: str | os.PathLike[str] | DataAsset,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
    allow_external_root: bool = False,
) -> Any:
    """A collection (asset name, :class:`DataAsset` or path, as for :func:`modeltap.read`) as a
    Spark DataFrame read by the session ``spark``: the rows :func:`modeltap.read` gives,
    duplicates removed, widened columns cast to the type they widened to. Payload collections
    (``request``/``response``) are read as their records, one row per call. Object stores need
    Spark's own connector (``s3a://``, ``abfss://``, ``gs://``) on the cluster; modeltap's
    ``storage_options`` are passed on as Hadoop options where they translate. A damaged JSON
    line fails the read (:func:`modeltap.read` skips it with a warning)."""
    _require_pyspark()
    collection = find_collection(
        asset_or_path,
        None,
        None,
        destination,
        storage_options,
        allow_external_root=allow_external_root,
    )
    if collection.payload:
        urls = [collection.tree.join(relative) for relative in collection.files]
        if not urls:
            return spark.createDataFrame([], "correlationid string, xrequestid string")
        options = hadoop_options(urls[0], storage_options)
        return spark.read.options(**options).json([hadoop_url(u, storage_options) for u in urls])
    rows = read_collected(spark, collection.tree, collection.files, None, None, storage_options)
    if rows.frame is None:
        return spark.createDataFrame(
            [], "correlationid string, xrequestid string, time timestamp, row_index bigint"
        )
    return rows.frame
