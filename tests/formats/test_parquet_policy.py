"""The Parquet schema policy: microsecond UTC timestamps, no null-typed columns, and types
that only widen across a collection's files, so every reader reads the files together."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.formats.parquet.policy import CollectionSchemas, collection_key, portable_type
from tests.conftest import ConfigureTap


def _files(data_dir: Path) -> list[Path]:
    """Committed Parquet files of model_inputs, oldest first (names carry a sequence)."""
    assert modeltap.flush(timeout=30)
    return sorted((data_dir / "ep" / "dep" / "model_inputs").rglob("*.parquet"))


def _collect(frame: pd.DataFrame, data_dir: Path) -> pa.Schema:
    """Collect one frame, commit it, and give the schema of the file it made."""
    before = set(_files(data_dir))
    Collector(name="model_inputs").collect(frame, BasicCorrelationContext(id="r"))
    new = [p for p in _files(data_dir) if p not in before]
    assert len(new) == 1
    return pq.read_schema(new[0])


def test_timestamps_are_microseconds_in_utc(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """Nanosecond and zoned datetimes (also in lists) are stored as microseconds, zoned ones in
    UTC, same instants; an all-null column is a string column, not null-typed."""
    configure_tap(format="parquet")
    paris = pd.to_datetime(["2024-05-01T12:00:00.123456789"]).tz_localize("Europe/Paris")
    frame = pd.DataFrame(
        {
            "naive": pd.to_datetime(["2024-05-01T10:00:00.5"]),
            "zoned": paris,
            "empty": [None],
        }
    )
    schema = _collect(frame, data_dir)
    assert schema.field("naive").type == pa.timestamp("us")
    assert schema.field("zoned").type == pa.timestamp("us", tz="UTC")
    assert schema.field("empty").type == pa.large_string()
    table = pq.read_table(_files(data_dir)[0])
    assert table.column("zoned")[0].as_py() == dt.datetime(
        2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC
    )
    nested = pa.list_(pa.timestamp("ns", tz="Asia/Tokyo"))
    assert portable_type(nested) == pa.list_(pa.timestamp("us", tz="UTC"))
    assert portable_type(pa.struct({"n": pa.null()})) == pa.struct({"n": pa.large_string()})


def test_types_only_widen_across_a_collections_files(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """After a file with floats, later integer values are stored as floats, and an all-null
    column takes the type the collection had; DuckDB, pyarrow.dataset and polars read the
    files together with nothing rounded."""
    configure_tap(format="parquet")
    assert _collect(pd.DataFrame({"x": [1], "s": ["a"]}), data_dir).field("x").type == pa.int64()
    assert _collect(pd.DataFrame({"x": [1.5], "s": ["b"]}), data_dir).field("x").type == (
        pa.float64()
    )
    later = _collect(pd.DataFrame({"x": [2], "s": [None]}), data_dir)
    assert later.field("x").type == pa.float64()
    assert later.field("s").type == pa.large_string()
    files = [str(p) for p in _files(data_dir)]
    expected = [1.0, 1.5, 2.0]
    glob = str(data_dir / "ep" / "dep" / "model_inputs" / "**" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT x FROM read_parquet('{glob}', union_by_name = true) ORDER BY time, x"
    ).fetchall()
    assert sorted(r[0] for r in rows) == expected
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    dataset = ds.dataset(files, schema=schema, format="parquet")
    assert sorted(dataset.to_table().column("x").to_pylist()) == expected
    frame = pl.scan_parquet(
        files,
        schema=pl.from_arrow(schema.empty_table()).schema,  # type: ignore[union-attr]
        missing_columns="insert",
        cast_options=pl.ScanCastOptions(integer_cast=["upcast", "allow-float"]),
    ).collect()
    assert sorted(frame["x"].to_list()) == expected


def test_collection_key_drops_file_and_partition() -> None:
    """The key of a committed file is its collection folder."""
    assert collection_key("s3://b/ep/dep/c/2024/05/01/12/h-1-000001.parquet") == "s3://b/ep/dep/c"
    assert collection_key("/d/c/x.parquet") == "/d/c"


def test_integers_too_big_for_float_stay_integers() -> None:
    """A later integer column that a float64 cannot hold exactly keeps its type."""
    schemas = CollectionSchemas()
    schemas.apply(pa.table({"x": pa.array([0.5])}), "k")
    table = schemas.apply(pa.table({"x": pa.array([2**60])}), "k")
    assert table.schema.field("x").type == pa.int64()
    assert table.column("x").to_pylist() == [2**60]
