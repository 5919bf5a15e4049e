"""The bounded event queue: full policies, byte bound, control items, draining."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pandas as pd
import pytest

from modeltap.config import FullPolicy
from modeltap.errors import DataDroppedError, QueueFullError
from modeltap.event import FROZEN_FRAME, KIND, Event
from modeltap.pipeline.queue import EventQueue
from modeltap.snapshot import take_snapshot


def event(tag: int, collection: str = "model_inputs", rows: int = 1) -> Event:
    """A small event whose correlation id is its tag."""
    return Event(
        collection=collection,
        time_ns=1_700_000_000_000_000_000 + tag,
        correlation_id=str(tag),
        xrequest_id=str(tag),
        data_type="python.list",
        snapshot=take_snapshot([{"tag": tag}] * rows),
        root=f"ep/dep/{collection}",
    )


def queue(
    policy: FullPolicy, max_events: int = 3, max_bytes: int = 1 << 30, timeout: float = 0.01
) -> EventQueue:
    """A queue with small bounds."""
    return EventQueue(
        max_events=max_events, max_bytes=max_bytes, policy=policy, block_timeout=timeout
    )


def tags(items: Iterable[object]) -> list[str]:
    """Correlation ids of the events among ``items``."""
    return [i.correlation_id for i in items if isinstance(i, Event)]


def test_drop_newest_refuses_and_keeps_the_queue() -> None:
    """Under drop_newest a full queue refuses the new event and keeps what it holds."""
    q = queue(FullPolicy.DROP_NEWEST)
    for tag in range(3):
        assert q.put(event(tag)) is None
    with pytest.raises(QueueFullError) as info:
        q.put(event(99))
    assert isinstance(info.value, DataDroppedError)
    assert "queue full (3 events" in str(info.value)
    assert "'model_inputs'" in str(info.value)
    assert q.depth == 3
    assert tags(q.take_all(0)) == ["0", "1", "2"]


def test_drop_oldest_evicts_the_oldest() -> None:
    """Under drop_oldest the oldest event is evicted and returned; the new one is kept."""
    q = queue(FullPolicy.DROP_OLDEST)
    for tag in range(3):
        q.put(event(tag))
    evicted = q.put(event(3))
    assert evicted is not None and evicted.correlation_id == "0"
    evicted = q.put(event(4))
    assert evicted is not None and evicted.correlation_id == "1"
    assert tags(q.take_all(0)) == ["2", "3", "4"]


def test_drop_oldest_skips_control_items() -> None:
    """Eviction takes the oldest event, never a control item queued before it."""
    q = queue(FullPolicy.DROP_OLDEST, max_events=2)
    marker = object()
    q.put_control(marker)
    q.put(event(0))
    assert q.put(event(1)) is None, "a control item takes no event's room"
    evicted = q.put(event(2))
    assert evicted is not None and evicted.correlation_id == "0"
    items = list(q.take_all(0))
    assert items[0] is marker and tags(items) == ["1", "2"]


def test_block_times_out_with_queue_full() -> None:
    """Under block a full queue waits up to block_timeout, then refuses with QueueFullError."""
    q = queue(FullPolicy.BLOCK, max_events=1, timeout=0.05)
    q.put(event(0))
    with pytest.raises(QueueFullError):
        q.put(event(1))
    assert tags(q.take_all(0)) == ["0"]


def test_block_succeeds_when_room_is_made() -> None:
    """A blocked put completes once the consumer drains the queue."""
    q = queue(FullPolicy.BLOCK, max_events=1, timeout=30.0)
    q.put(event(0))
    drained: list[object] = []
    waiting = threading.Event()

    def consumer() -> None:
        waiting.wait(30)
        drained.extend(q.take_all(30))

    thread = threading.Thread(target=consumer)
    thread.start()
    waiting.set()
    q.put(event(1))  # blocks until the consumer has taken event 0
    thread.join(30)
    assert tags(drained) == ["0"]
    assert tags(q.take_all(0)) == ["1"]


def test_byte_bound() -> None:
    """The byte bound refuses an event that would pass max_bytes, once something is queued."""
    size = event(0, rows=10).approx_bytes
    q = queue(FullPolicy.DROP_NEWEST, max_events=1000, max_bytes=size * 2)
    q.put(event(0, rows=10))
    q.put(event(1, rows=10))
    assert q.nbytes == size * 2
    with pytest.raises(QueueFullError):
        q.put(event(2, rows=10))
    assert q.depth == 2


def test_oversized_event_fits_into_an_empty_queue() -> None:
    """One event larger than max_bytes is still accepted by an empty queue."""
    q = queue(FullPolicy.DROP_NEWEST, max_bytes=10)
    q.put(event(0, rows=100))
    assert q.depth == 1
    with pytest.raises(QueueFullError):
        q.put(event(1))


def test_control_items_bypass_the_bounds() -> None:
    """Control items are accepted by a full queue and do not count as bytes."""
    q = queue(FullPolicy.DROP_NEWEST, max_events=1)
    q.put(event(0))
    before = q.nbytes
    for _ in range(3):
        q.put_control("flush")
    assert q.depth == 4
    assert q.nbytes == before


def test_take_all_empties_and_frees_room() -> None:
    """take_all returns everything in order and resets the counts, making room again."""
    q = queue(FullPolicy.DROP_NEWEST, max_events=2)
    q.put(event(0))
    q.put_control("mark")
    items = list(q.take_all(0))
    assert tags(items) == ["0"] and items[1] == "mark"
    assert (q.depth, q.nbytes) == (0, 0)
    q.put(event(1))
    q.put(event(2))
    assert tags(q.take_all(0)) == ["1", "2"]


def test_take_all_returns_empty_after_timeout() -> None:
    """take_all on an empty queue returns an empty list once its wait ends."""
    assert list(queue(FullPolicy.DROP_NEWEST).take_all(0.01)) == []


def test_discard_all() -> None:
    """discard_all empties the queue without waiting and reports what it held."""
    q = queue(FullPolicy.DROP_NEWEST)
    q.put(event(0))
    q.put(event(1))
    assert tags(q.discard_all()) == ["0", "1"]
    assert (q.depth, q.nbytes) == (0, 0)
    assert list(q.discard_all()) == []


def test_queued_small_pandas_events_wait_as_their_frozen_parts() -> None:
    """Events wait as flat tuples holding a small frame's frozen parts, and the writer gets
    the same events back."""
    q = queue(FullPolicy.DROP_NEWEST, max_events=100)
    frame = pd.DataFrame({"x": [1.5], "name": pd.array(["a"], dtype="str")})
    for tag in range(20):
        q.put(
            Event(
                collection="model_inputs",
                time_ns=tag,
                correlation_id=str(tag),
                xrequest_id=str(tag),
                data_type="pandas.core.frame.DataFrame",
                snapshot=take_snapshot(frame),
                root="ep/dep/model_inputs",
            )
        )
    assert all(type(item) is tuple and item[KIND] == FROZEN_FRAME for item in q._items)
    taken = list(q.take_all(0))
    assert tags(taken) == [str(t) for t in range(20)]
    assert all(e.snapshot.to_json_rows() == b'[{"x":1.5,"name":"a"}]' for e in taken)


def test_wake_hands_a_waiting_or_busy_writer_what_is_queued_without_its_tick() -> None:
    """wake() (ack: spool) makes a writer waiting on an hour-long tick take at once, and a
    writer busy at the time take at once next, with the puts numbered and the take marked."""
    q = queue(FullPolicy.DROP_NEWEST, max_events=10_000)
    q.put(event(1))
    q.wake()  # nobody waits: the next take does not
    assert len(q.take_all_packed(3600)) == 1
    assert (q.put_count, q.take_mark) == (1, 1)
    taken: list[int] = []
    waiting = threading.Thread(target=lambda: taken.append(len(q.take_all_packed(3600))))
    waiting.start()
    while not q._writer_waiting:  # the writer thread waits on its tick now
        threading.Event().wait(0.001)
    q.put(event(2))
    q.put(event(3))
    q.wake()
    waiting.join(30)
    assert not waiting.is_alive()
    assert taken == [2]
    assert (q.put_count, q.take_mark) == (3, 3)
