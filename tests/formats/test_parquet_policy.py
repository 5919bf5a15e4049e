"""The Parquet schema policy: microsecond UTC timestamps, no null-typed columns, and types
that only widen across a collection's files, so every reader reads the files together."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.errors import StoreError
from modeltap.formats.parquet.policy import (
    CollectionSchemas,
    collection_key,
    committed_schemas,
    portable_type,
)
from modeltap.store.fsspec_store import FsspecDestination
from modeltap.store.local import LocalDestination
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


def test_a_widening_survives_a_restart_of_the_writer(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """A column widened to float64 stays float64 in the files of a new writer process (a
    restart): it learns the collection's types from the committed files."""
    configure_tap(format="parquet")
    assert _collect(pd.DataFrame({"x": [1]}), data_dir).field("x").type == pa.int64()
    assert _collect(pd.DataFrame({"x": [1.5]}), data_dir).field("x").type == pa.float64()
    modeltap.shutdown(timeout=30)
    before = set(_files(data_dir))
    script = textwrap.dedent(
        f"""
        import pandas as pd
        import modeltap
        from modeltap import BasicCorrelationContext, Collector
        modeltap.configure({{"endpoint_name": "ep", "name": "dep", "data_collector": {{
            "destination": {str(data_dir)!r}, "format": "parquet", "fsync": "never"}}}})
        Collector(name="model_inputs").collect(pd.DataFrame({{"x": [2], "y": [None]}}),
                                               BasicCorrelationContext(id="r"))
        assert modeltap.flush(timeout=60)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    new = [p for p in _files(data_dir) if p not in before]
    assert len(new) == 1
    assert pq.read_schema(new[0]).field("x").type == pa.float64()
    assert pq.read_table(new[0]).column("x").to_pylist() == [2.0]


def _parquet(path: Path, table: pa.Table) -> None:
    """Write ``table`` as a Parquet file at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_the_types_of_a_collection_are_learnt_from_its_newest_files(tmp_path: Path) -> None:
    """A fresh memory takes the newest partition's files' types the first time it sees a
    collection: a float in any of them wins over an integer, an all-null column gets the
    type they had; an older partition is not read."""
    collection = tmp_path / "ep" / "dep" / "c"
    _parquet(collection / "2024/05/01/10/a-000001.parquet", pa.table({"s": [1]}))
    _parquet(collection / "2024/05/01/11/a-000002.parquet", pa.table({"x": [0.5], "s": ["a"]}))
    _parquet(collection / "2024/05/01/11/b-000001.parquet", pa.table({"x": [3]}))
    (collection / "2024/05/01/11/z-broken.parquet").write_bytes(b"not parquet")
    destination = LocalDestination(tmp_path, durable=False)
    history = destination.tree("ep/dep/c")
    assert history is not None
    assert len(committed_schemas(history)) == 2
    schemas = CollectionSchemas()
    key = collection_key(destination.join("ep/dep/c/2024/05/01/12/a-000003.parquet"))
    table = pa.table({"x": pa.array([7]), "s": pa.nulls(1)})
    applied = schemas.apply(table, key, lambda: committed_schemas(history))
    assert applied.schema.field("x").type == pa.float64()
    assert applied.schema.field("s").type == pa.string()
    assert applied.column("x").to_pylist() == [7.0]


def test_a_collection_whose_files_cannot_be_read_back_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Looking back that fails (a store that refuses listings) is logged and the file is
    written with its own types; the next file of the collection does not try again."""
    calls: list[str] = []

    def refused() -> list[pa.Schema]:
        calls.append("listed")
        raise StoreError("cannot list s3://b/c: access denied")

    schemas = CollectionSchemas()
    with caplog.at_level(logging.WARNING, logger="modeltap.commit"):
        table = schemas.apply(pa.table({"x": [1]}), "s3://b/c", refused)
        schemas.apply(pa.table({"x": [2]}), "s3://b/c", refused)
    assert table.schema.field("x").type == pa.int64()
    assert calls == ["listed"]
    assert "cannot read the earlier Parquet files of s3://b/c" in caplog.text
    assert "access denied" in caplog.text


def test_an_object_store_collection_is_read_back_through_its_destination() -> None:
    """An fsspec destination gives its collection folder as a tree whose files' footers are
    read (here ``memory://``)."""
    destination = FsspecDestination("memory://policy-look-back")
    folder = "memory://policy-look-back/ep/dep/c/2024/05/01/11"
    destination.fs.makedirs(folder, exist_ok=True)
    with destination.fs.open(f"{folder}/a-000001.parquet", "wb") as handle:
        pq.write_table(pa.table({"x": [0.5]}), handle)
    history = destination.tree("ep/dep/c")
    assert history is not None
    assert [s.field("x").type for s in committed_schemas(history)] == [pa.float64()]
