"""The bounded queue between the request threads and the writer thread.

Bounded by events and by (approximate) bytes. When full, the policy decides: ``drop_newest``
refuses the new event, ``drop_oldest`` evicts the oldest queued event, ``block`` waits up to a
timeout for room. Control items (flush, stop) bypass the bounds. The writer is woken when enough
has piled up or a control item arrives; otherwise it polls on its own tick, so a put is cheap.

Events wait in their queued form (``QueuedEvent``: one flat tuple, a small pandas frame's
blocks frozen, a payload as its atoms; control items are never plain tuples). They are
unpacked one by one as the writer iterates what it took, so the writer's own working set stays
small.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from modeltap.config import FullPolicy
from modeltap.errors import QueueFullError
from modeltap.event import APPROX_BYTES, COLLECTION, Event, QueuedEvent

__all__ = ["EventQueue"]


class EventQueue:
    """A deque with event and byte bounds, a full policy and a writer wake-up."""

    def __init__(
        self,
        *,
        max_events: int,
        max_bytes: int,
        policy: FullPolicy,
        block_timeout: float,
        wake_events: int = 2_048,
        wake_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._items: deque[Any] = deque()
        self._bytes = 0
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._policy = policy
        self._block_timeout = block_timeout
        self._wake_events = min(wake_events, max(1, max_events // 2))
        self._wake_bytes = min(wake_bytes, max(1, max_bytes // 2))
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._writer_waiting = False
        self._nudged = False  # wake() came while the writer was busy
        self._events = 0  # events only: control items never take an event's room
        self.taken = 0  # events handed out by take_all since the queue was made
        self.put_count = 0  # events ever put: the next one is numbered this (see pipeline.ack)
        self.take_mark = 0  # put_count at the last take: every event below it has left

    @property
    def depth(self) -> int:
        """Items waiting (events and control items)."""
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Approximate bytes held by queued events."""
        return self._bytes

    def _full(self, size: int) -> bool:
        return self._events >= self._max_events or (
            self._bytes + size > self._max_bytes and self._bytes > 0
        )

    def put(self, event: Event) -> Event | None:
        """Enqueue ``event``. Returns an evicted event under ``drop_oldest``; raises
        QueueFullError when the new event itself is refused."""
        return self.put_packed(event.pack())

    def put_packed(self, packed: QueuedEvent) -> Event | None:
        """``put`` for an event already in its queued form (``Event.pack``)."""
        size = packed[APPROX_BYTES]
        evicted: Event | None = None
        with self._lock:
            if self._full(size):
                if self._policy is FullPolicy.DROP_OLDEST:
                    evicted = self._evict_oldest()
                elif self._policy is FullPolicy.BLOCK:
                    deadline = time.monotonic() + self._block_timeout
                    while self._full(size):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise self._refused(packed)
                        self._wake()
                        self._has_room.wait(remaining)
                else:
                    raise self._refused(packed)
            self._items.append(packed)
            self._events += 1
            self._bytes += size
            self.put_count += 1
            if self._writer_waiting and (
                self._events >= self._wake_events or self._bytes >= self._wake_bytes
            ):
                self._wake()
        return evicted

    def _refused(self, packed: QueuedEvent) -> QueueFullError:
        return QueueFullError(
            f"queue full ({self._events} events, {self._bytes} bytes queued): dropped an "
            f"event of collection {packed[COLLECTION]!r}; raise queue_max_events/queue_max_bytes "
            "or choose full_policy 'block'"
        )

    def _evict_oldest(self) -> Event | None:
        for index, item in enumerate(self._items):
            if type(item) is tuple:  # a QueuedEvent; control items are other types
                del self._items[index]
                self._events -= 1
                self._bytes -= item[APPROX_BYTES]
                return Event.unpack(item)
        return None

    def _wake(self) -> None:
        self._writer_waiting = False
        self._has_work.notify()

    def wake(self) -> None:
        """Wake the writer now if it waits (``ack: spool``: a request waits for what is
        queued; whatever piles up while the writer writes goes in its next turn together)."""
        with self._lock:
            if self._writer_waiting:
                self._wake()
            else:
                self._nudged = True  # the writer is busy: its next take does not wait

    def put_control(self, item: object) -> None:
        """Enqueue a control item (never refused) and wake the writer."""
        with self._lock:
            self._items.append(item)
            self._wake()

    def take_all(self, timeout: float) -> Iterator[Any]:
        """Everything queued (events and control items, in order), waiting up to ``timeout``
        seconds for a wake-up first."""
        return _unpacking(self.take_all_packed(timeout))

    def take_all_packed(self, timeout: float) -> list[Any]:
        """``take_all`` with the events left packed (``Event.pack``)."""
        with self._lock:
            if (
                self._events < self._wake_events
                and len(self._items) == self._events
                and not self._nudged
            ):
                self._writer_waiting = True
                self._has_work.wait(timeout)
                self._writer_waiting = False
            self._nudged = False
            items = list(self._items)
            self._items.clear()
            self.taken += self._events
            self.take_mark = self.put_count
            self._events = 0
            self._bytes = 0
            self._has_room.notify_all()
        return items

    def discard_all(self) -> Iterator[Any]:
        """Empty the queue without waiting (used at shutdown and after fork)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self.taken += self._events
            self.take_mark = self.put_count
            self._events = 0
            self._bytes = 0
            self._has_room.notify_all()
        return _unpacking(items)


def _unpacking(items: list[Any]) -> Iterator[Any]:
    """The items with each event unpacked as it is reached."""
    for item in items:
        yield Event.unpack(item) if type(item) is tuple else item
