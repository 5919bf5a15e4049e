"""Parquet: envelope and typed data columns, lossless schema drift, payload bodies as JSON text,
torn spool frames, and the committed tree read as one dataset by pyarrow and DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.formats import parquet
from tests.conftest import ConfigureTap


def _files(data_dir: Path, collection: str = "model_inputs") -> list[Path]:
    """Committed Parquet files of a collection, in name order."""
    assert modeltap.flush(timeout=30)
    return sorted((data_dir / "ep" / "dep" / collection).rglob("*.parquet"))


def _table(data_dir: Path, collection: str = "model_inputs") -> pa.Table:
    """Every committed row of a collection."""
    return pa.concat_tables(
        [pq.read_table(p) for p in _files(data_dir, collection)], promote_options="permissive"
    )


def test_envelope_and_typed_data_columns(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """One row per data row, envelope columns first, the data's own types kept."""
    configure_tap(format="parquet", model_version="7")
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "f": [0.5, 1.5, None],
            "b": [True, False, True],
            "s": ["a", "b", None],
            "t": pd.to_datetime(["2024-05-01T10:00:00Z"] * 3),
        }
    )
    Collector(name="model_inputs").collect(frame, BasicCorrelationContext(id="req-1"))
    nested = pa.table(
        {"v": pa.array([[1, 2], [3]]), "st": pa.array([{"k": 1}, {"k": 2}])}
    )
    Collector(name="model_outputs").collect(nested, BasicCorrelationContext(id="req-1"))
    table = _table(data_dir)
    assert table.column_names[:6] == list(parquet.ENVELOPE_COLUMNS)
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("n").type == pa.int64()
    assert table.schema.field("f").type == pa.float64()
    assert table.schema.field("b").type == pa.bool_()
    assert pa.types.is_timestamp(table.schema.field("t").type)
    assert table.column("row_index").to_pylist() == [0, 1, 2]
    assert set(table.column("correlationid").to_pylist()) == {"req-1"}
    assert len(set(table.column("id").to_pylist())) == 1
    assert set(table.column("modelversion").to_pylist()) == {"7"}
    assert table.column("f").to_pylist() == [0.5, 1.5, None]
    assert table.column("s").to_pylist() == ["a", "b", None]
    outputs = _table(data_dir, "model_outputs")
    assert outputs.column("v").to_pylist() == [[1, 2], [3]]
    assert outputs.column("st").to_pylist() == [{"k": 1}, {"k": 2}]


def test_new_missing_and_widened_columns_share_one_file(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """New and missing columns become nulls, int widens to float, all in one file."""
    configure_tap(format="parquet", segment_max_age=3600)
    inputs = Collector(name="model_inputs")
    inputs.collect(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    inputs.collect(pd.DataFrame({"a": [1.5], "c": [True]}))
    files = _files(data_dir)
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.schema.field("a").type == pa.float64()
    assert table.column("a").to_pylist() == [1.0, 2.0, 1.5]
    assert table.column("b").to_pylist() == ["x", "y", None]
    assert table.column("c").to_pylist() == [None, None, True]


def test_lossy_widening_starts_a_new_file(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """An integer too large for a float and a float column later go to separate files, each
    value exact."""
    configure_tap(format="parquet", segment_max_age=3600)
    inputs = Collector(name="model_inputs")
    big = 2**60 + 1
    inputs.collect(pd.DataFrame({"a": [big]}))
    inputs.collect(pd.DataFrame({"a": [0.25]}))
    inputs.collect(pd.DataFrame({"a": ["text"]}))
    files = _files(data_dir)
    assert len(files) == 3
    values = [pq.read_table(f).column("a").to_pylist() for f in files]
    assert values == [[big], [0.25], ["text"]]


def test_payload_collections_keep_the_body_as_json_text(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """request/response store the body as one JSON string per event."""
    configure_tap(format="parquet")
    body = [{"data": {"a": [1, 2], "nested": {"k": "v"}}}]
    Collector(name="request").collect(body, BasicCorrelationContext(id="r1"))
    table = _table(data_dir, "request")
    assert table.num_rows == 1
    assert table.schema.field("data").type == pa.large_string()
    assert orjson.loads(table.column("data")[0].as_py()) == body


def test_data_columns_named_like_the_envelope_are_prefixed(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """A data column called ``time`` or ``id`` is kept as ``data_time`` / ``data_id``."""
    configure_tap(format="parquet")
    Collector(name="model_inputs").collect({"time": [1, 2], "id": ["u", "v"]})
    table = _table(data_dir)
    assert table.column("data_time").to_pylist() == [1, 2]
    assert table.column("data_id").to_pylist() == ["u", "v"]
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")


def test_data_arrow_cannot_type_is_kept_as_json_text(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """A column mixing types Arrow cannot hold is stored as JSON text, not dropped."""
    configure_tap(format="parquet")
    Collector(name="model_inputs").collect(pd.DataFrame({"m": [1, "two", 3.0]}))
    table = _table(data_dir)
    assert orjson.loads(table.column("data")[0].as_py()) == [{"m": 1}, {"m": "two"}, {"m": 3.0}]
    assert modeltap.stats().dropped_total == 0


def test_committed_tree_reads_as_one_dataset(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """pyarrow.dataset and DuckDB read every committed file of a collection together."""
    configure_tap(format="parquet", segment_max_bytes=20_000)
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": range(100), "y": [0.5] * 100})
    for i in range(30):
        inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))
        if i % 10 == 9:
            assert modeltap.flush(timeout=30)  # a file per flush at least
    files = _files(data_dir)
    assert len(files) > 1
    root = data_dir / "ep" / "dep" / "model_inputs"
    dataset = ds.dataset(root, format="parquet")
    assert dataset.count_rows() == 3_000
    query = f"select count(*), count(distinct correlationid), sum(x) from read_parquet('{root}/**/*.parquet', hive_partitioning=false)"  # noqa: E501
    rows = duckdb.connect().execute(query).fetchall()
    assert rows == [(3_000, 30, 30 * sum(range(100)))]
    assert all(len(f.relative_to(root).parts) == 5 for f in files)  # yyyy/MM/dd/HH/name


def _frame_table(i: int) -> pa.Table:
    """A small table for frame tests."""
    return pa.table({"i": [i, i + 1]})


def test_torn_last_frame_is_cut(tmp_path: Path) -> None:
    """A crash mid-append leaves a partial frame; repair cuts it and keeps the whole ones."""
    path = tmp_path / "seg.parquet.part"
    whole = parquet.encode_frame(_frame_table(0)) + parquet.encode_frame(_frame_table(2))
    torn = parquet.encode_frame(_frame_table(4))[:-7]
    path.write_bytes(whole + torn)
    with open(path, "rb+") as handle:
        assert parquet.repair_frames(handle) == len(torn)
    assert path.read_bytes() == whole
    tables = parquet.read_frames(path.read_bytes())
    assert [t.column("i").to_pylist() for t in tables] == [[0, 1], [2, 3]]
    target = tmp_path / "out.parquet"
    assert parquet.spool_to_parquet(path, target) == 4
    assert pq.read_table(target).column("i").to_pylist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.uint32(), pa.int32(), pa.int64()),
        (pa.uint64(), pa.int64(), None),
        (pa.float32(), pa.float64(), pa.float64()),
        (pa.int64(), pa.float64(), pa.float64()),
        (pa.null(), pa.string(), pa.string()),
        (pa.string(), pa.large_string(), pa.large_string()),
        (pa.int64(), pa.string(), None),
        (pa.timestamp("ms"), pa.timestamp("ns"), None),
        (pa.bool_(), pa.int64(), None),
    ],
)
def test_schema_union_merges_only_lossless_changes(
    first: pa.DataType, second: pa.DataType, merged: pa.DataType | None
) -> None:
    """The union accepts a type change only when no value can lose information."""
    union = parquet.SchemaUnion()
    values: dict[Any, list[Any]] = {pa.null(): [None]}

    def one(t: pa.DataType) -> pa.Table:
        """A one-row table of type ``t``."""
        if pa.types.is_timestamp(t):
            value: Any = dt.datetime(2024, 1, 1)
        elif pa.types.is_boolean(t):
            value = True
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            value = "s"
        elif pa.types.is_null(t):
            value = values[pa.null()][0]
        else:
            value = 1
        return pa.table({"c": pa.array([value], t)})

    assert union.accept(one(first))
    accepted = union.accept(one(second))
    assert accepted == (merged is not None)
    assert union.schema is not None
    assert union.schema.field("c").type == (merged if merged is not None else first)


def test_extra_envelope_fields_become_columns_and_override_the_envelope() -> None:
    """Payload/ingest extras: scalars keep their type, dicts become JSON text, and an event's
    own id and time replace the generated ones."""
    from modeltap.event import Event
    from modeltap.formats.jsonl import EnvelopeSource
    from modeltap.snapshot import take_snapshot

    event = Event(
        collection="model_inputs",
        time_ns=0,
        correlation_id="c1",
        xrequest_id="x1",
        data_type="cloudevent",
        snapshot=take_snapshot([{"a": 1}, {"a": 2}]),
        root="ep/dep/model_inputs",
        extra={
            "id": "event-7",
            "time": "2024-05-01T12:00:00.250Z",
            "statuscode": 200,
            "headers": {"user-agent": "t"},
            "note": None,
        },
    )
    table = parquet.event_table(event, EnvelopeSource("ep", "dep", "v1", "agent"))
    assert table.column("id").to_pylist() == ["event-7", "event-7"]
    assert table.column("time").to_pylist()[0] == dt.datetime(
        2024, 5, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC
    )
    assert table.schema.field("statuscode").type == pa.int64()
    assert orjson.loads(table.column("headers")[0].as_py()) == {"user-agent": "t"}
    assert table.column("note").to_pylist() == [None, None]
    assert table.column("a").to_pylist() == [1, 2]


def test_small_events_share_frames_and_keep_their_envelope(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """Many small events batched into shared frames still get their own id, time,
    correlation id and row indexes; the spool counts every event."""
    configure_tap(format="parquet", segment_max_age=3600)
    inputs = Collector(name="model_inputs")
    for i in range(300):
        inputs.collect(pd.DataFrame({"v": [i, i]}), BasicCorrelationContext(id=f"e{i}"))
    table = _table(data_dir)
    assert table.num_rows == 600
    assert table.column("correlationid").to_pylist() == [f"e{i}" for i in range(300) for _ in "ab"]
    assert table.column("row_index").to_pylist() == [0, 1] * 300
    assert table.column("v").to_pylist() == [i for i in range(300) for _ in "ab"]
    assert len(set(table.column("id").to_pylist())) == 300
    assert table.schema.field("correlationid").type == pa.large_string()
    assert modeltap.stats().total("events_written") == 300


def test_frames_count_their_events(tmp_path: Path) -> None:
    """A frame holding several events counts them all (drops and recovery use the count)."""
    path = tmp_path / "seg.parquet.part"
    path.write_bytes(
        parquet.encode_frame(_frame_table(0), events=5) + parquet.encode_frame(_frame_table(1))
    )
    with open(path, "rb") as handle:
        assert parquet.count_frames(handle) == 6
