"""The writer: small JSON lines events are encoded in batches bounded by events and rows."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pandas as pd
import pytest

from modeltap import Collector
from modeltap.event import Event
from modeltap.formats.jsonl import EnvelopeSource, encode_events
from modeltap.pipeline import writer
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

    monkeypatch.setattr(writer, "encode_events", spy)
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
