"""Reader compatibility: a tree modeltap writes, with every kind of column and the drift it
supports, in both formats, read by DuckDB, pyarrow.dataset, polars and Spark (``local[2]``)
with the same rows and values as ``modeltap.read``.

Two collections per format: ``model_inputs`` widens a column from integers to floats (Spark
cannot merge those Parquet files and is read as documented in ``spark_parquet_widened``);
``model_outputs`` drifts without widening (a new column) and must read in every reader as it is.
Both hold nested lists, zoned datetimes in two zones, unicode text, nulls and an all-null
column; ``request`` holds a payload stored out of line.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector, SkippedRecordsWarning

FORMATS = ("jsonl", "parquet")
UTC = dt.UTC
PARIS = pd.to_datetime(["2024-05-01T12:00:00", "2024-05-01T13:30:00"]).tz_localize("Europe/Paris")
NEW_YORK = pd.to_datetime(["2024-05-01T08:15:00"]).tz_localize("America/New_York")
TEXT = ["plain", "ünïcødé 漢字 🙂"]


def _batches() -> dict[str, list[pd.DataFrame]]:
    """The frames collected into each collection, one committed file each."""
    inputs = [
        pd.DataFrame({"x": [1, 2], "s": TEXT, "lst": [[1, 2], [3]], "when": PARIS,
                      "empty": [None, None]}),
        pd.DataFrame({"x": [1.5], "s": [None], "lst": [[4]], "when": NEW_YORK, "empty": [None]}),
        pd.DataFrame({"x": [4], "s": ["z"], "lst": [[]], "when": NEW_YORK, "empty": [None],
                      "extra": ["new"]}),
    ]  # fmt: skip
    outputs = [
        pd.DataFrame({"y": [0.25, None], "s": TEXT, "lst": [[1.5], [2.5, 3.5]], "when": PARIS,
                      "empty": [None, None]}),
        pd.DataFrame({"y": [0.75], "s": ["b"], "lst": [[]], "when": NEW_YORK, "empty": [None],
                      "extra": ["new"]}),
    ]  # fmt: skip
    return {"model_inputs": inputs, "model_outputs": outputs}


BATCHES = _batches()
PAYLOAD = {"data": [[float(i)] * 8 for i in range(64)]}


@dataclass(frozen=True)
class Tree:
    """One format's committed tree."""

    fmt: str
    root: Path

    def collection(self, name: str) -> Path:
        """The folder of a collection."""
        return self.root / "ep" / "dep" / name

    def files(self, name: str) -> list[str]:
        """The committed data files of a collection, in path order."""
        return sorted(str(p) for p in self.collection(name).rglob(f"*.{self.fmt}"))

    def glob(self, name: str) -> str:
        """A recursive glob of a collection's data files."""
        return f"{self.collection(name)}/**/*.{self.fmt}"


def _write_tree(root: Path, fmt: str) -> Tree:
    """Collect every batch through the real pipeline, one committed file per batch."""
    from modeltap.server.capture import PayloadCapture

    settings = modeltap.configure(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {"destination": str(root), "fsync": "never", "format": fmt},
        }
    )
    try:
        for name, frames in BATCHES.items():
            for index, frame in enumerate(frames):
                context = BasicCorrelationContext(id=f"{name}-{index}")
                Collector(name=name).collect(frame, context)
                assert modeltap.flush(timeout=60)
        capture = PayloadCapture(settings, max_event_bytes=256)
        for body in ({"data": [[1, 2]]}, PAYLOAD):
            capture.capture(
                BasicCorrelationContext(),
                path="/score",
                method="POST",
                request_headers=[],
                request_body=orjson.dumps(body),
                request_type="application/json",
                status=200,
                response_headers=[],
                response_body=b'"ok"',
                response_type="application/json",
                latency_ms=1.0,
            )
        assert modeltap.flush(timeout=60)
        assert modeltap.stats().total("dropped_total") == 0
    finally:
        modeltap.shutdown(timeout=60)
    return Tree(fmt, root)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Tree]]:
    """Both formats' trees (written once for the module)."""
    base = tmp_path_factory.mktemp("compat")
    yield {fmt: _write_tree(base / fmt, fmt) for fmt in FORMATS}
    shutil.rmtree(base, ignore_errors=True)


# -- what every reader must see ---------------------------------------------------------------


def _instant(value: Any) -> dt.datetime:
    """A datetime, RFC 3339 text or pandas Timestamp as an aware UTC datetime (naive is UTC)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _cell(value: Any) -> Any:
    """A cell in comparable form: NaN and NA as None, arrays as lists, numbers as floats."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _rows(frame: pd.DataFrame, names: list[str]) -> list[tuple[Any, ...]]:
    """The rows of ``names`` (``when`` as UTC instants), sorted, comparable across readers."""
    rows = []
    for record in frame.to_dict("records"):
        row = []
        for name in names:
            value = _cell(record.get(name))
            if name == "when" and value is not None:
                value = _instant(value)
            row.append(value)
        rows.append(tuple(row))
    return sorted(rows, key=repr)


def _expected(collection: str, names: list[str]) -> list[tuple[Any, ...]]:
    frames = [f.astype(object).where(f.notna(), None) for f in BATCHES[collection]]
    return _rows(pd.concat(frames, ignore_index=True), names)


def _columns(collection: str) -> list[str]:
    first = "x" if collection == "model_inputs" else "y"
    return [first, "s", "lst", "when", "empty", "extra"]


def _check(frame: pd.DataFrame, collection: str, reader: str) -> None:
    names = _columns(collection)
    missing = set(names) - set(frame.columns)
    assert not missing, f"{reader} lacks {missing}"
    assert _rows(frame, names) == _expected(collection, names), reader


# -- the readers ------------------------------------------------------------------------------


def _duckdb(tree: Tree, collection: str) -> pd.DataFrame:
    if tree.fmt == "parquet":
        sql = f"SELECT * FROM read_parquet('{tree.glob(collection)}', union_by_name = true)"
    else:
        sql = (
            "SELECT unnest(d) FROM (SELECT unnest(data) AS d FROM read_json("
            f"'{tree.glob(collection)}', format = 'newline_delimited', union_by_name = true))"
        )
    return duckdb.sql(sql).df()


def _unified(schemas: list[pa.Schema]) -> pa.Schema:
    return pa.unify_schemas(schemas, promote_options="permissive")


def _pyarrow(tree: Tree, collection: str) -> pd.DataFrame:
    files = tree.files(collection)
    if tree.fmt == "parquet":
        schema = _unified([pq.read_schema(f) for f in files])
        return ds.dataset(files, schema=schema, format="parquet").to_table().to_pandas()
    import pyarrow.json as pajson

    schema = _unified([pajson.read_json(f).schema for f in files])
    table = ds.dataset(files, schema=schema, format="json").to_table()
    return pa.Table.from_struct_array(table.column("data").combine_chunks().flatten()).to_pandas()


def _polars(tree: Tree, collection: str) -> pd.DataFrame:
    files = tree.files(collection)
    if tree.fmt == "parquet":
        schema = _unified([pq.read_schema(f) for f in files])
        frame = pl.scan_parquet(
            files,
            schema=pl.from_arrow(schema.empty_table()).schema,  # type: ignore[union-attr]
            missing_columns="insert",
            cast_options=pl.ScanCastOptions(integer_cast=["upcast", "allow-float"]),
        ).collect()
    else:
        frames = [pl.read_ndjson(f).select("data").explode("data").unnest("data") for f in files]
        frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.to_pandas()


@pytest.mark.parametrize(
    "reader", [_duckdb, _pyarrow, _polars], ids=["duckdb", "pyarrow", "polars"]
)
@pytest.mark.parametrize("collection", list(BATCHES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_readers_see_every_row_and_value(
    trees: dict[str, Tree], fmt: str, collection: str, reader: Any
) -> None:
    """DuckDB, pyarrow.dataset and polars read a collection's files together, drift included,
    with every row and value modeltap.read gives."""
    tree = trees[fmt]
    _check(modeltap.read(tree.collection(collection)), collection, "modeltap")
    _check(reader(tree, collection), collection, reader.__name__)


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_of_line_payloads_are_referenced(trees: dict[str, Tree], fmt: str) -> None:
    """A big payload is stored out of line: readers see its record with a ``dataref`` to a
    file in the collection, and modeltap.read resolves it."""
    tree = trees[fmt]
    bodies = modeltap.read(tree.collection("request"))["data"].tolist()
    assert bodies == [{"data": [[1, 2]]}, PAYLOAD]
    refs = duckdb.sql(
        f"SELECT dataref FROM read_{'parquet' if fmt == 'parquet' else 'json_auto'}"
        f"('{tree.glob('request')}') WHERE dataref IS NOT NULL"
    ).fetchall()
    assert len(refs) == 1
    assert orjson.loads((tree.collection("request") / refs[0][0]).read_bytes()) == PAYLOAD


# -- Spark --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local[2] Spark session in UTC (skipped when pyspark or java is missing)."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None:
        pytest.skip("Spark needs java: apt-get install default-jre-headless")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("modeltap-compat")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()


def _spark_frame(frame: Any) -> pd.DataFrame:
    return pd.DataFrame([row.asDict(recursive=True) for row in frame.collect()])


def spark_parquet_widened(spark: Any, files: list[str]) -> Any:
    """Read Parquet files whose column types widened (int64 in older files, double in newer):
    Spark's mergeSchema refuses to merge them, so read each group of files that share a
    schema on its own, cast to the unified type, and union by name."""
    from pyspark.sql import functions as F

    unified = _unified([pq.read_schema(f) for f in files])
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(str(pq.read_schema(f)), []).append(f)
    frames = []
    for group in groups.values():
        frame = spark.read.parquet(*group)
        for field in unified:
            if field.name in frame.columns and pa.types.is_floating(field.type):
                frame = frame.withColumn(field.name, F.col(field.name).cast("double"))
        frames.append(frame)
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame, allowMissingColumns=True)
    return result


@pytest.mark.slow  # starts a JVM
@pytest.mark.parametrize("collection", list(BATCHES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_spark_reads_the_tree(
    trees: dict[str, Tree], spark: Any, fmt: str, collection: str
) -> None:
    """Spark (local[2]) reads JSON lines with recursiveFileLookup and Parquet with mergeSchema
    as they are; a collection that widened int to float is read as documented."""
    from pyspark.sql import functions as F

    tree = trees[fmt]
    folder = str(tree.collection(collection))
    if fmt == "jsonl":
        records = spark.read.option("recursiveFileLookup", "true").json(folder)
        frame = records.select(F.explode("data").alias("d")).select("d.*")
    elif collection == "model_inputs":
        frame = spark_parquet_widened(spark, tree.files(collection))
    else:
        frame = (
            spark.read.option("mergeSchema", "true")
            .option("recursiveFileLookup", "true")
            .parquet(folder)
        )
    _check(_spark_frame(frame), collection, "spark")


@pytest.mark.slow  # starts a JVM
@pytest.mark.parametrize("collection", list(BATCHES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_read_spark_gives_modeltaps_rows(
    trees: dict[str, Tree], spark: Any, fmt: str, collection: str
) -> None:
    """modeltap.reading.read_spark reads any collection (widened or not) with the envelope
    columns and the rows modeltap.read gives."""
    from modeltap.reading import read_spark

    frame = read_spark(spark, trees[fmt].collection(collection))
    assert frame.columns[:4] == ["correlationid", "xrequestid", "time", "row_index"]
    rows = _spark_frame(frame)
    _check(rows, collection, "read_spark")
    expected = modeltap.read(trees[fmt].collection(collection))
    assert sorted(rows["row_index"]) == sorted(expected["row_index"])


@pytest.mark.slow  # starts a JVM
@pytest.mark.parametrize("fmt", FORMATS)
def test_read_spark_drops_a_second_delivery(spark: Any, tmp_path: Path, fmt: str) -> None:
    """An event delivered twice (at-least-once) is read once by read_spark, as by modeltap.read;
    the other events' rows are all kept."""
    from modeltap.reading import read_spark

    hour = tmp_path / "ep" / "dep" / "model_inputs" / "2024" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    events = [
        {
            "specversion": "1.0",
            "id": f"event-{index}",
            "source": "/modeltap/ep/dep",
            "type": "azureml.inference.model_inputs",
            "time": f"2024-05-01T12:0{index}:00.000Z",
            "correlationid": f"c{index}",
            "xrequestid": f"c{index}",
            "data": [{"x": float(index * 10 + row)} for row in range(3)],
        }
        for index in range(3)
    ]
    events.append(events[1])  # the second event again
    if fmt == "jsonl":
        (hour / "part-0.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    else:
        rows = [(e, i, r["x"]) for e in events for i, r in enumerate(e["data"])]
        table = pa.table(
            {
                "correlationid": [e["correlationid"] for e, _, _ in rows],
                "xrequestid": [e["xrequestid"] for e, _, _ in rows],
                "time": pa.array(
                    [_instant(e["time"]) for e, _, _ in rows], pa.timestamp("us", tz="UTC")
                ),
                "id": [e["id"] for e, _, _ in rows],
                "row_index": pa.array([i for _, i, _ in rows], pa.int64()),
                "modelversion": ["1"] * len(rows),
                "x": [x for _, _, x in rows],
            }
        )
        pq.write_table(table, hour / "part-0.parquet")
    collection = tmp_path / "ep" / "dep" / "model_inputs"
    expected = modeltap.read(collection)
    frame = _spark_frame(read_spark(spark, collection))
    assert len(expected) == 9
    assert sorted(frame["x"]) == sorted(expected["x"]) == [0, 1, 2, 10, 11, 12, 20, 21, 22]


@pytest.mark.slow  # starts a JVM
def test_read_spark_skips_a_damaged_line_and_says_so(spark: Any, tmp_path: Path) -> None:
    """A line that is not JSON is skipped by read_spark, as by modeltap.read, with a
    SkippedRecordsWarning naming its file and count; the other records' rows are all kept."""
    from modeltap.reading import read_spark

    hour = tmp_path / "ep" / "dep" / "model_inputs" / "2024" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    lines = [
        orjson.dumps(
            {
                "specversion": "1.0",
                "id": f"event-{index}",
                "time": f"2024-05-01T12:0{index}:00.000Z",
                "correlationid": f"c{index}",
                "xrequestid": f"c{index}",
                "data": [{"x": float(index * 10 + row)} for row in range(2)],
            }
        )
        for index in range(3)
    ]
    lines.insert(1, b'{"specversion":"1.0","id":"torn","da')
    (hour / "part-0.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    collection = tmp_path / "ep" / "dep" / "model_inputs"
    with pytest.warns(SkippedRecordsWarning, match=r"skipped 1 line.*part-0\.jsonl: 1 line"):
        frame = _spark_frame(read_spark(spark, collection))
    assert sorted(frame["x"]) == [0, 1, 10, 11, 20, 21]
    with pytest.warns(SkippedRecordsWarning):
        assert sorted(modeltap.read(collection)["x"]) == [0, 1, 10, 11, 20, 21]
