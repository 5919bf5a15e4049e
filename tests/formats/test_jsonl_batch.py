"""Records encoded together (the writer's batches) are byte for byte those encoded one by one."""

from __future__ import annotations

import os
import re
import uuid

import numpy as np
import orjson
import pandas as pd
import pytest

from modeltap._ids import new_uuid4
from modeltap.event import Event
from modeltap.formats.jsonl import EnvelopeSource, encode_event, encode_events
from modeltap.snapshot import take_snapshot, type_fullname

ENVELOPE = EnvelopeSource(
    endpoint="my-endpoint", deployment="blue", model_version="3", agent="modeltap/9.9.9"
)
RECORD_ID = re.compile(rb'"id":"[0-9a-f-]{36}"')


def _event(data: object, extra: dict[str, object] | None = None) -> Event:
    return Event(
        collection="model_inputs",
        time_ns=1_714_566_896_789_123_456,
        correlation_id='corr "1"',
        xrequest_id="req-1",
        data_type=type_fullname(data),
        snapshot=take_snapshot(data),
        root="my-endpoint/blue/model_inputs",
        extra=extra,
    )


def _without_id(line: bytes) -> bytes:
    return RECORD_ID.sub(b'"id":"-"', line)


def _frames() -> list[object]:
    rng = np.random.default_rng(3)
    frames: list[object] = []
    for i in range(12):
        rows = 1 + i % 3
        frame = pd.DataFrame(
            {
                "f": rng.normal(size=rows),
                "g": np.arange(rows, dtype=np.float32) / 3,
                "i": rng.integers(0, 100, size=rows),
                "s": [f"w{i}-{r}" for r in range(rows)],
                "b": [r % 2 == 0 for r in range(rows)],
            }
        )
        if i % 4 == 0:
            frame.loc[0, "f"] = np.nan
        frames.append(frame)
    for day in ("2024-01-01", "2024-01-02"):
        frames.append(
            pd.DataFrame(
                {
                    "t": pd.to_datetime([day, None]),
                    "n": pd.array([1, None], dtype="Int64"),
                    "o": [{"x": 1}, None],
                }
            )
        )
    frames += [pd.DataFrame({"c": [1 + 2j]}), pd.DataFrame(index=range(2)), [{"a": 1}]]
    return frames


def test_batch_matches_one_by_one() -> None:
    """Every kind of small frame, mixed with other snapshots, encodes as encode_event does."""
    events = [_event(data) for data in _frames()]
    events.append(_event([{"a": 2}], extra={"statuscode": 200, "datacontenttype": "text/plain"}))
    together = encode_events(events, ENVELOPE)
    assert len(together) == len(events)
    for event, line in zip(events, together, strict=True):
        assert isinstance(line, bytes)
        assert _without_id(line) == _without_id(encode_event(event, ENVELOPE))
        orjson.loads(line)


def test_a_failing_snapshot_fails_alone() -> None:
    """An exception while encoding one event is returned in its place; the others encode."""

    class Broken:
        rows = 1
        approx_bytes = 1

        def to_json_rows(self) -> bytes:
            raise ValueError("broken")

    good = _event(pd.DataFrame({"a": [1]}))
    bad = _event(pd.DataFrame({"a": [2]}))
    bad.snapshot = Broken()  # type: ignore[assignment]
    lines = encode_events([good, bad, good], ENVELOPE)
    assert isinstance(lines[1], ValueError)
    assert isinstance(lines[0], bytes) and isinstance(lines[2], bytes)


def test_pooled_ids_are_uuid4_and_unique() -> None:
    """Ids drawn from the pool are distinct version-4 UUIDs in their canonical form."""
    ids = [new_uuid4() for _ in range(2_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_its_own_ids() -> None:
    """A child never hands out ids its parent still holds in its pool."""
    new_uuid4()  # fill the pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(write, new_uuid4().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    parent = [new_uuid4() for _ in range(600)]
    assert child not in parent
