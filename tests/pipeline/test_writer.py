"""The writer: small JSON lines events are encoded in batches bounded by events and rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pandas as pd
import pytest

from modeltap import Collector
from modeltap.event import Event
from modeltap.formats.jsonl import EnvelopeSource, JsonLinesFormat, encode_events
from modeltap.pipeline import writer
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.spool import Spool
from modeltap.snapshot import take_snapshot
from modeltap.stats import StatsRecorder
from tests.conftest import ConfigureTap, ReadRecords


def test_small_events_are_encoded_in_bounded_batches(
    configure_tap: ConfigureTap, read_records: ReadRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog of 1-row and 100-row frames is encoded in batches of at most
    ``_LINES_BATCH_EVENTS`` events and about ``_LINES_BATCH_TOTAL_ROWS`` rows (so no encoding
    call holds the GIL long), and every event is written once, in order."""
    batches: list[tuple[int, int]] = []
    encode = encode_events
    busy, backlog_ready = threading.Event(), threading.Event()

    def spy(events: Sequence[Event], envelope: EnvelopeSource) -> list[bytes | Exception]:
        if not busy.is_set():  # hold the writer in its first batch while the backlog piles up
            busy.set()
            assert backlog_ready.wait(30)
        else:
            batches.append((len(events), sum(event.snapshot.rows for event in events)))
        return encode(events, envelope)

    monkeypatch.setattr(JsonLinesFormat, "encode_lines", lambda _, events, env: spy(events, env))
    configure_tap(queue_max_events=100_000)
    collector = Collector(name="model_inputs")
    collector.collect([{"x": 0.0, "s": "first", "i": -1}])
    assert busy.wait(30)
    small = pd.DataFrame({"x": [1.5], "s": ["a"]})
    large = pd.DataFrame({"x": [float(i) for i in range(100)], "s": ["b"] * 100})
    for index in range(400):
        collector.collect(small.assign(i=index))
    for index in range(30):
        collector.collect(large.assign(i=index))
    backlog_ready.set()
    records = read_records("model_inputs")
    assert [record["data"][0]["i"] for record in records] == [-1, *range(400), *range(30)]
    assert sum(events for events, _ in batches) == 430
    assert max(events for events, _ in batches) <= writer._LINES_BATCH_EVENTS
    assert max(rows for _, rows in batches) < writer._LINES_BATCH_TOTAL_ROWS + 100
    assert any(events == writer._LINES_BATCH_EVENTS for events, _ in batches)
    assert max(rows for _, rows in batches) >= writer._LINES_BATCH_TOTAL_ROWS


def bare_writer(
    configure_tap: ConfigureTap, tmp_path: Path
) -> tuple[writer.Writer, StatsRecorder, Spool]:
    """A writer whose thread is not started (its methods are called directly), its stats and
    its spool."""
    settings = configure_tap()
    stats = StatsRecorder()
    queue = EventQueue(
        max_events=10, max_bytes=1 << 20, policy=settings.collector.full_policy, block_timeout=1
    )
    envelope = EnvelopeSource(endpoint="ep", deployment="dep", model_version="1", agent="test")
    spool = Spool(tmp_path / "spool", "test", settings.collector.fsync)
    return writer.Writer(settings, queue, stats, spool, envelope, report_drop=None), stats, spool


def test_spool_room_is_summed_once_per_batch(
    configure_tap: ConfigureTap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of small events well within the spool limit sums the spool's bytes once."""
    tap, stats, spool = bare_writer(configure_tap, tmp_path)
    sums: list[int] = []
    spool_bytes = tap._spool_bytes

    def counted() -> int:
        sums.append(spool_bytes())
        return sums[-1]

    monkeypatch.setattr(tap, "_spool_bytes", counted)
    events = [
        Event(
            "model_inputs",
            time.time_ns(),
            f"c{i}",
            f"c{i}",
            "list",
            take_snapshot([{"i": i}]),
            "ep/dep/model_inputs",
        )
        for i in range(100)
    ]
    tap._write_many(events)
    tap._append_all_pending()
    assert stats.snapshot().collections["model_inputs"].events_written == 100
    assert len(sums) == 1
    spool.release()


def test_lines_of_a_turn_are_appended_with_one_write_per_segment(
    configure_tap: ConfigureTap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches encoded in one turn of the writer wait as bytes and reach each open segment with
    one write at the end of the turn, in order, counted once they are written."""
    tap, stats, spool = bare_writer(configure_tap, tmp_path)
    appended: list[tuple[str, int]] = []
    append = writer.Segment.append

    def spy(segment: writer.Segment, blob: bytes, rows: int, events: int) -> None:
        appended.append((segment.collection, events))
        append(segment, blob, rows, events)

    monkeypatch.setattr(writer.Segment, "append", spy)

    def event(collection: str, i: int) -> Event:
        return Event(
            collection, time.time_ns(), f"c{i}", f"c{i}", "list",
            take_snapshot([{"i": i}]), f"ep/dep/{collection}",
        )

    for start in range(0, 96, 32):  # three batches, each of both collections
        tap._write_many([event(c, i) for i in range(start, start + 32) for c in ("a", "b")])
    assert appended == []
    assert stats.snapshot().collections.get("a") is None
    tap._append_all_pending()
    assert sorted(appended) == [("a", 96), ("b", 96)]
    assert stats.snapshot().collections["a"].events_written == 96
    segment = tap._open["ep/dep/a"][1]
    lines = Path(segment.path).read_bytes().splitlines()
    assert [orjson.loads(line)["data"][0]["i"] for line in lines] == list(range(96))
    spool.release()
