"""Reading collected data back: modeltap.read / read_arrow / scan / join."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap.reading import collection, sources
from tests.conftest import ConfigureTap

UTC = dt.UTC
DAY = dt.datetime(2024, 5, 1, tzinfo=UTC)


def stamp(when: dt.datetime) -> str:
    """RFC 3339 with milliseconds and Z, as the writer records it."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def record(
    when: dt.datetime,
    rows: Any,
    *,
    event_id: str | None = None,
    correlation: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One JSON-lines record shaped like the writer's."""
    cid = correlation or str(uuid.uuid4())
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "/endpoints/ep/deployments/dep",
        "type": "modeltap.inference.model_inputs",
        "datacontenttype": "application/json",
        "time": stamp(when),
        "correlationid": cid,
        "xrequestid": cid,
        "modelversion": "default",
        "collectdatatype": "pandas.core.frame.DataFrame",
        "agent": "modeltap/test",
    }
    if rows is not None:
        body["data"] = rows
    body.update(extra)
    return body


def partition(root: Path, when: dt.datetime, minute: bool = False) -> Path:
    """The partition folder of ``when`` (hourly, or per minute)."""
    folder = root / when.strftime("%Y/%m/%d/%H")
    return folder / when.strftime("%M") if minute else folder


def write_jsonl(
    root: Path, when: dt.datetime, records: Sequence[dict[str, Any]], name: str
) -> Path:
    """Commit ``records`` as one file in the partition of ``when``."""
    folder = partition(root, when)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def write_parquet(
    root: Path, when: dt.datetime, events: Sequence[dict[str, Any]], name: str
) -> Path:
    """Commit events as one Parquet file with the envelope columns of the parquet format."""
    columns: dict[str, list[Any]] = {
        k: [] for k in ("correlationid", "xrequestid", "time", "id", "row_index", "modelversion")
    }
    data: dict[str, list[Any]] = {}
    for event in events:
        for index, row in enumerate(event["data"]):
            columns["correlationid"].append(event["correlationid"])
            columns["xrequestid"].append(event["xrequestid"])
            columns["time"].append(event["time"])
            columns["id"].append(event["id"])
            columns["row_index"].append(index)
            columns["modelversion"].append("default")
            for key, value in row.items():
                data.setdefault(key, []).append(value)
    table = pa.table(
        {
            **{k: v for k, v in columns.items() if k != "time"},
            "time": pa.compute.cast(pa.array(columns["time"]), pa.timestamp("us", tz="UTC")),
            **data,
        }
    )
    folder = partition(root, when)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(table, path)
    return path


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The relative paths of every file the reader opens, in order."""
    seen: list[str] = []
    original = sources.open_file

    def counting(tree: Any, relative: str) -> Any:
        seen.append(relative)
        return original(tree, relative)

    monkeypatch.setattr(sources, "open_file", counting)
    monkeypatch.setattr(collection, "open_file", counting)
    yield seen


def test_reads_back_what_a_scoring_run_wrote(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """Inputs collected through Collector come back by asset name, one row per data row."""
    configure_tap()
    inputs = modeltap.Collector(name="model_inputs")
    contexts = []
    for i in range(4):
        frame = pd.DataFrame({"x": [i, i + 1], "label": ["a", "b"], "score": [0.5, None]})
        contexts.append(inputs.collect(frame))
    assert modeltap.flush(timeout=30)
    frame = modeltap.read("ep-dep-model_inputs", destination=str(data_dir))
    assert list(frame.columns) == [
        "correlationid", "xrequestid", "time", "row_index", "x", "label", "score"
    ]  # fmt: skip
    assert len(frame) == 8
    assert sorted(set(frame["correlationid"])) == sorted(c.id for c in contexts)
    assert frame["row_index"].tolist() == [0, 1] * 4
    assert str(frame["time"].dt.tz) == "UTC"
    first = frame[frame["correlationid"] == contexts[2].id]
    assert first["x"].tolist() == [2, 3]
    assert first["label"].tolist() == ["a", "b"]


def test_window_opens_only_files_of_overlapping_partitions(
    tmp_path: Path, opened: list[str]
) -> None:
    """A one-hour window opens only that hour's files; the rows are those of the window."""
    root = tmp_path / "ep" / "dep" / "model_inputs"
    for hour in range(6):
        when = DAY + dt.timedelta(hours=hour, minutes=30)
        for n in range(2):
            write_jsonl(root, when, [record(when, [{"hour": hour, "n": n}])], f"w-{n}.jsonl")
    frame = modeltap.read(root, DAY + dt.timedelta(hours=3), DAY + dt.timedelta(hours=4))
    assert sorted(opened) == ["2024/05/01/03/w-0.jsonl", "2024/05/01/03/w-1.jsonl"]
    assert frame["hour"].tolist() == [3, 3]


def test_window_filters_rows_inside_a_boundary_partition(tmp_path: Path) -> None:
    """Events of a partly covered partition are filtered by their exact time."""
    root = tmp_path / "c"
    times = [DAY + dt.timedelta(hours=10, minutes=m) for m in (5, 20, 40, 55)]
    records = [record(t, [{"m": t.minute}]) for t in times]
    write_jsonl(root, times[0], records, "a.jsonl")
    frame = modeltap.read(root, "2024-05-01T10:20:00Z", "2024-05-01T10:55")
    assert frame["m"].tolist() == [20, 40]


def test_minute_partitions_and_partial_paths(tmp_path: Path, opened: list[str]) -> None:
    """Per-minute folders prune too, and a reader may start at a partition folder."""
    root = tmp_path / "c"
    for minute in range(5):
        when = DAY + dt.timedelta(hours=2, minutes=minute)
        folder = partition(root, when, minute=True)
        folder.mkdir(parents=True)
        (folder / "x.jsonl").write_bytes(orjson.dumps(record(when, [{"m": minute}])) + b"\n")
    frame = modeltap.read(root / "2024" / "05", "2024-05-01T02:03", "2024-05-01T02:04")
    assert frame["m"].tolist() == [3]
    assert opened == ["01/02/03/x.jsonl"]


def test_duplicate_events_are_removed(tmp_path: Path) -> None:
    """The same event id twice (in one file or in two) is read once, the first copy kept."""
    root = tmp_path / "c"
    when = DAY + dt.timedelta(hours=1)
    twice = record(when, [{"v": 1}, {"v": 2}], event_id="dup-1")
    other = record(when, [{"v": 3}], event_id="other")
    write_jsonl(root, when, [twice, other, twice], "a.jsonl")
    write_jsonl(root, when, [twice], "b.jsonl")
    frame = modeltap.read(root)
    assert frame["v"].tolist() == [1, 2, 3]


def test_only_committed_files_are_seen(tmp_path: Path, opened: list[str]) -> None:
    """Spool parts, hidden files, temp files and the catalog folder are never read."""
    root = tmp_path / "c"
    when = DAY
    write_jsonl(root, when, [record(when, [{"v": 1}])], "good.jsonl")
    folder = partition(root, when)
    (folder / "seg.jsonl.part").write_text("{broken")
    (folder / ".good.jsonl.1234.tmp").write_text("{broken")
    (folder / ".hidden.jsonl").write_text("{broken")
    (root / "_assets").mkdir()
    (root / "_assets" / "x.jsonl").write_text("{broken")
    (root / ".modeltap").mkdir()
    (root / ".modeltap" / "y.jsonl").write_text("{broken")
    assert modeltap.read(root)["v"].tolist() == [1]
    assert opened == ["2024/05/01/00/good.jsonl"]


def test_dataref_payload_is_followed(tmp_path: Path, opened: list[str]) -> None:
    """Out-of-line data (``dataref``) reads as if inline, relative to the collection folder as
    the server writes it; its folder is not read as data."""
    root = tmp_path / "c"
    when = DAY
    folder = partition(root, when)
    (folder / "_payloads").mkdir(parents=True)
    (folder / "_payloads" / "big.json").write_bytes(orjson.dumps([{"v": 7}, {"v": 8}]))
    (folder / "_payloads" / "side.jsonl").write_bytes(b"{broken")
    inline = record(when, [{"v": 1}])
    from_root = record(when, None, dataref="2024/05/01/00/_payloads/big.json")
    write_jsonl(root, when, [inline, from_root], "a.jsonl")
    frame = modeltap.read(root)
    assert frame["v"].tolist() == [1, 7, 8]
    assert frame["row_index"].tolist() == [0, 0, 1]
    assert opened == ["2024/05/01/00/a.jsonl", "2024/05/01/00/_payloads/big.json"]


def test_payload_collection_keeps_body_and_metadata(tmp_path: Path) -> None:
    """A request collection gives one row per request: parsed body plus metadata columns."""
    root = tmp_path / "ep" / "dep" / "request"
    when = DAY
    body = {"data": [[1, 2, 3]]}
    records = [
        record(when, body, method="POST", path="/score", status=200),
        record(when, "plain text body", method="POST", path="/score", status=415),
    ]
    path = write_jsonl(root, when, records, "a.jsonl")
    frame = modeltap.read(root)
    assert len(frame) == 2
    assert frame["data"].tolist() == [body, "plain text body"]
    assert modeltap.read(path)["data"].tolist() == [body, "plain text body"]
    assert modeltap.read(root / "2024" / "05")["data"].tolist() == [body, "plain text body"]
    assert frame["method"].tolist() == ["POST", "POST"]
    assert frame["status"].tolist() == [200, 415]


def test_mixed_types_are_kept_not_crashed(tmp_path: Path) -> None:
    """A column typed differently across events is read (as text), nothing is dropped."""
    root = tmp_path / "c"
    when = DAY
    records = [record(when, [{"v": 1, "w": 1}]), record(when, [{"v": "one", "w": 2.5}])]
    write_jsonl(root, when, records, "a.jsonl")
    frame = modeltap.read(root)
    assert frame["v"].tolist() == ["1", "one"]
    assert frame["w"].tolist() == [1.0, 2.5]


def test_schema_drift_across_files_unites_columns(tmp_path: Path) -> None:
    """A column that appears later is null where it is absent."""
    root = tmp_path / "c"
    write_jsonl(root, DAY, [record(DAY, [{"a": 1}])], "1.jsonl")
    later = DAY + dt.timedelta(hours=1)
    write_jsonl(root, later, [record(later, [{"a": 2, "b": "new"}])], "2.jsonl")
    frame = modeltap.read(root)
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].isna().tolist() == [True, False]


def test_parquet_files_read_with_dedup_and_pruning(tmp_path: Path, opened: list[str]) -> None:
    """Parquet files read like JSON lines: envelope columns, window, duplicates dropped."""
    root = tmp_path / "c"
    events = []
    for hour in (1, 2):
        when = DAY + dt.timedelta(hours=hour)
        event = record(when, [{"x": hour, "y": "a"}, {"x": hour * 10, "y": "b"}])
        events.append(event)
        write_parquet(root, when, [event], "p-0.parquet")
    later = DAY + dt.timedelta(hours=2)
    write_parquet(root, later, [events[1]], "p-1.parquet")  # a duplicate delivery
    frame = modeltap.read(root, "2024-05-01T02:00Z")
    assert list(frame.columns) == ["correlationid", "xrequestid", "time", "row_index", "x", "y"]
    assert frame["x"].tolist() == [2, 20]
    assert frame["row_index"].tolist() == [0, 1]
    assert sorted(opened) == ["2024/05/01/02/p-0.parquet", "2024/05/01/02/p-1.parquet"]
    picked = modeltap.read(root, columns=["y", "correlationid"])
    assert list(picked.columns) == ["y", "correlationid"]
    assert picked["y"].tolist() == ["a", "b", "a", "b"]


def test_parquet_written_by_the_pipeline(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """With format parquet, what collect() wrote reads back with its types."""
    configure_tap(format="parquet")
    collector = modeltap.Collector(name="model_outputs")
    context = collector.collect(pd.DataFrame({"p": [0.25, 0.75], "k": [1, 2]}))
    assert modeltap.flush(timeout=30)
    frame = modeltap.read(data_dir / "ep" / "dep" / "model_outputs")
    assert frame["p"].tolist() == [0.25, 0.75]
    assert frame["k"].tolist() == [1, 2]
    assert set(frame["correlationid"]) == {context.id}


def test_scan_gives_a_duckdb_relation(tmp_path: Path) -> None:
    """scan() returns a relation SQL can query."""
    root = tmp_path / "c"
    write_jsonl(root, DAY, [record(DAY, [{"v": i} for i in range(10)])], "a.jsonl")
    relation = modeltap.scan(root)
    assert relation.query("t", "SELECT sum(v), count(*) FROM t").fetchall() == [(45, 10)]


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    """Unknown assets, bad times and missing folders raise modeltap errors that say what."""
    with pytest.raises(modeltap.AssetNotFoundError, match="no data asset nothing"):
        modeltap.read("nothing", destination=str(tmp_path))
    (tmp_path / "c").mkdir()
    with pytest.raises(modeltap.InvalidTimeError, match="not a time"):
        modeltap.read(tmp_path / "c", start="noon-ish")
    with pytest.raises(modeltap.InvalidTimeError, match="after end"):
        modeltap.read(tmp_path / "c", start="2024-05-02", end="2024-05-01")
    with pytest.raises(modeltap.StoreError, match="nothing to read"):
        modeltap.read(tmp_path / "missing" / "folder")


def test_empty_window_has_the_envelope_columns(tmp_path: Path) -> None:
    """A window without data gives an empty frame with the envelope columns."""
    root = tmp_path / "c"
    write_jsonl(root, DAY, [record(DAY, [{"v": 1}])], "a.jsonl")
    frame = modeltap.read(root, "2030-01-01")
    assert list(frame.columns) == ["correlationid", "xrequestid", "time", "row_index"]
    assert len(frame) == 0


def test_reads_from_an_fsspec_store(tmp_path: Path) -> None:
    """A memory:// store is read through fsspec, pruning included."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for hour in (0, 5):
        when = DAY + dt.timedelta(hours=hour)
        blob = orjson.dumps(record(when, [{"h": hour}])) + b"\n"
        fs.pipe_file(f"/readtest/c/{when.strftime('%Y/%m/%d/%H')}/a.jsonl", blob)
    try:
        frame = modeltap.read("memory://readtest/c", "2024-05-01T05:00Z")
        assert frame["h"].tolist() == [5]
    finally:
        fs.rm("/readtest", recursive=True)


def test_duckdb_and_pyarrow_dataset_read_the_tree_directly(tmp_path: Path) -> None:
    """The SQL of the README works on the tree with no modeltap code involved."""
    import duckdb
    import pyarrow.dataset as ds

    root = tmp_path / "c"
    write_jsonl(root, DAY, [record(DAY, [{"v": 1}, {"v": 2}]), record(DAY, [{"v": 3}])], "a.jsonl")
    (partition(root, DAY) / "b.jsonl.part").write_text("{torn")
    sql = f"""
        SELECT correlationid, row_index, v FROM (
            SELECT correlationid, time::TIMESTAMPTZ AS time,
                   generate_subscripts(data, 1) - 1 AS row_index,
                   unnest(data, recursive := true)
            FROM read_json('{root}/*/*/*/*/*.jsonl', format = 'newline_delimited')
        ) WHERE time >= TIMESTAMPTZ '2024-05-01 00:00:00+00'
        ORDER BY time, correlationid, row_index
    """
    rows = duckdb.sql(sql).fetchall()
    assert sorted((r[1], r[2]) for r in rows) == [(0, 1), (0, 3), (1, 2)]

    proot = tmp_path / "p"
    write_parquet(proot, DAY, [record(DAY, [{"v": 1}, {"v": 2}])], "a.parquet")
    (partition(proot, DAY) / "x.parquet.pq-tmp").write_text("junk")
    (partition(proot, DAY) / ".a.parquet.1f2e.tmp").write_text("junk")
    dataset = ds.dataset(proot, format="parquet", exclude_invalid_files=True)
    table = dataset.to_table(filter=ds.field("row_index") >= 0)
    assert table.column("v").to_pylist() == [1, 2]
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{proot}/**/*.parquet')").fetchall()
    assert count == [(2,)]


def test_payloads_captured_by_the_server_read_back(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """Request/response records of the server's payload capture (one stored out of line) read
    back as one row per call with the parsed body and the call's metadata."""
    from modeltap.context import BasicCorrelationContext
    from modeltap.server.capture import PayloadCapture

    settings = configure_tap()
    capture = PayloadCapture(settings, max_event_bytes=200)
    big = {"data": [[float(i)] * 4 for i in range(40)]}
    calls = [({"data": [[1, 2]]}, 200), (big, 200), ({"error": "bad"}, 400)]
    contexts = []
    for body, status in calls:
        context = BasicCorrelationContext()
        contexts.append(context)
        capture.capture(
            context,
            path="/score",
            method="POST",
            request_headers=[],
            request_body=orjson.dumps(body),
            request_type="application/json",
            status=status,
            response_headers=[],
            response_body=b'"ok"',
            response_type="application/json",
            latency_ms=1.5,
        )
    assert modeltap.flush(timeout=30)
    assert len(list((data_dir / "ep" / "dep" / "request").rglob("_payloads/*.json"))) == 1
    requests = modeltap.read("ep-dep-request", destination=str(data_dir))
    assert requests["correlationid"].tolist() == [c.id for c in contexts]
    assert requests["data"].tolist() == [body for body, _ in calls]
    assert requests["statuscode"].tolist() == [200, 200, 400]
    assert set(requests["method"]) == {"POST"}
    responses = modeltap.read(data_dir / "ep" / "dep" / "response")
    assert responses["data"].tolist() == ["ok", "ok", "ok"]
    pairs = modeltap.join(requests, responses)
    assert len(pairs) == 3


def test_reading_while_writers_run_sees_only_whole_events(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """Reads racing the writer and committer never see a partial file or a partial event."""
    configure_tap(segment_max_age=0.02)
    collector = modeltap.Collector(name="model_inputs")
    stop = threading.Event()

    def produce() -> None:
        for i in range(1_000_000):
            if stop.is_set():
                return
            collector.collect(pd.DataFrame({"i": [i] * 3, "r": [0, 1, 2]}))
            time.sleep(0.0005)

    producer = threading.Thread(target=produce)
    producer.start()
    root = data_dir / "ep" / "dep" / "model_inputs"
    reads = 0
    try:
        for _ in range(2_000):
            if reads >= 25:
                break
            if not any(root.rglob("*.jsonl")):
                time.sleep(0.01)
                continue
            frame = modeltap.read(root)
            assert len(frame) % 3 == 0
            assert all(list(rows) == [0, 1, 2] for _, rows in frame.groupby("i")["r"])
            reads += 1
    finally:
        stop.set()
        producer.join(30)
    assert reads >= 25
    assert modeltap.flush(timeout=30)
    final = modeltap.read(root)
    assert len(final) == 3 * final["i"].nunique()


def test_a_collection_that_switched_format_reads_as_one(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """JSON lines written first and Parquet written after a format switch read together."""
    configure_tap()
    collector = modeltap.Collector(name="model_inputs")
    first = collector.collect(pd.DataFrame({"x": [1, 2], "s": ["a", "b"]}))
    assert modeltap.flush(timeout=30)
    configure_tap(format="parquet")
    collector = modeltap.Collector(name="model_inputs")
    second = collector.collect(pd.DataFrame({"x": [3], "s": ["c"]}))
    assert modeltap.flush(timeout=30)
    root = data_dir / "ep" / "dep" / "model_inputs"
    assert {p.suffix for p in root.rglob("*.*")} == {".jsonl", ".parquet"}
    frame = modeltap.read(root).sort_values("x")
    assert frame["x"].tolist() == [1, 2, 3]
    assert frame["s"].tolist() == ["a", "b", "c"]
    assert frame["correlationid"].tolist() == [first.id, first.id, second.id]


def test_a_bad_line_is_skipped_counted_and_named(tmp_path: Path) -> None:
    """A damaged line and a record whose time is not a time cost only themselves: the rest of
    the collection reads, and the warning names each file and line."""
    root = tmp_path / "c"
    good = record(DAY, [{"v": 1}])
    path = write_jsonl(root, DAY, [good], "a.jsonl")
    with open(path, "ab") as handle:
        handle.write(b'{"specversion":"1.0","data":[{"v":\n')
        handle.write(orjson.dumps(record(DAY, [{"v": 2}]) | {"time": "not-a-time"}) + b"\n")
        handle.write(orjson.dumps(record(DAY, [{"v": 3}])) + b"\n")
    write_jsonl(root, DAY + dt.timedelta(hours=1), [record(DAY, [{"v": 4}])], "b.jsonl")
    with pytest.warns(modeltap.SkippedRecordsWarning, match="2 record") as caught:
        frame = modeltap.read(root)
    assert sorted(frame["v"].tolist()) == [1, 3, 4]
    skipped = caught[0].message.skipped  # type: ignore[union-attr]
    assert [(s.file, s.line) for s in skipped] == [(str(path), 2), (str(path), 3)]
    assert "not JSON" in skipped[0].reason
    assert "'not-a-time' is not a time" in skipped[1].reason


def test_on_bad_record_raise_names_file_and_line(tmp_path: Path) -> None:
    """``on_bad_record="raise"`` stops at the first bad record, naming its file and line."""
    root = tmp_path / "c"
    path = write_jsonl(root, DAY, [record(DAY, [{"v": 1}])], "a.jsonl")
    with open(path, "ab") as handle:
        handle.write(b"[1, 2]\n")
    with pytest.raises(modeltap.BadRecordError, match=f"{path} line 2"):
        modeltap.read_arrow(root, on_bad_record="raise")
    with pytest.raises(ValueError, match="'skip' or 'raise'"):
        modeltap.read_arrow(root, on_bad_record="ignore")  # type: ignore[arg-type]


def test_a_damaged_parquet_file_is_skipped(tmp_path: Path) -> None:
    """A Parquet file that cannot be read is skipped whole; the other files read."""
    root = tmp_path / "c"
    write_parquet(root, DAY, [record(DAY, [{"v": 1}])], "a.parquet")
    broken = partition(root, DAY) / "b.parquet"
    broken.write_bytes(b"PAR1 torn")
    with pytest.warns(modeltap.SkippedRecordsWarning, match="b.parquet"):
        frame = modeltap.read(root)
    assert frame["v"].tolist() == [1]


def test_the_read_function_is_not_a_module() -> None:
    """``modeltap.read`` is the function, with no module of that name behind it; the reading
    API lives in ``modeltap.reading``."""
    import importlib.util

    import modeltap.reading

    assert importlib.util.find_spec("modeltap.read") is None
    for name in ("read", "read_arrow", "scan", "join"):
        assert getattr(modeltap, name) is getattr(modeltap.reading, name)
    assert modeltap.reading.__all__ == sorted(modeltap.reading.__all__)
