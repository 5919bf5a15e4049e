"""Acknowledgement once records are in the spool (``ack: spool``), with group commit.

Every event put in the queue gets the next number (``EventQueue.put_count``). A request that
must be answered only once its records are in the spool asks for ``SpoolBarrier.wait(number)``
with the count at its end: everything queued before it, its own records included. The writer
resolves the barrier once per turn, after one write per segment and one fsync per segment of
everything it took (the events of many concurrent requests): the requests share that cost.
Events the writer dropped (counted in ``stats()``) resolve the barrier too: the answer never
waits for what can no longer be written.

The window of loss of each mode, for a crash of the serving process (SIGKILL, out of memory):

* ``ack: queue`` (the default): a request is answered once its records are queued. What waits
  in the in-memory queue is lost, uncounted (the counters die with the process): at most
  ``queue_max_events`` events / ``queue_max_bytes``; in practice what arrived since the writer's
  last turn (its 0.1 s tick, or less under load) plus the turn being written. With the writer
  process (``serve``'s default), what was already sent to it survives: it commits it when it
  sees its parent gone.
* ``ack: spool``: nothing that was answered is lost; a crash can only lose requests not
  answered yet (their clients see the connection fail and may retry).

A power loss or a crash of the machine also loses what is not on disk yet: the ``fsync``
policy decides (``spool`` fsyncs each turn's segments unless ``fsync: never``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from concurrent.futures import Future

__all__ = ["SpoolBarrier"]


class SpoolBarrier:
    """Futures resolved once the writer has handled every event numbered below theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handled = 0  # every event numbered below this is in the spool (or counted)
        self._waiting: list[tuple[int, int, Future[None]]] = []
        self._order = itertools.count()

    @property
    def handled(self) -> int:
        """The number below which every event is in the spool (or dropped and counted)."""
        return self._handled

    def wait(self, upto: int) -> Future[None]:
        """A future done once every event numbered below ``upto`` is handled."""
        future: Future[None] = Future()
        with self._lock:
            if upto <= self._handled:
                future.set_result(None)
            else:
                heapq.heappush(self._waiting, (upto, next(self._order), future))
        return future

    def resolve(self, handled: int) -> None:
        """Every event numbered below ``handled`` is handled: release who waits for them."""
        ready: list[Future[None]] = []
        with self._lock:
            if handled <= self._handled:
                return
            self._handled = handled
            while self._waiting and self._waiting[0][0] <= handled:
                ready.append(heapq.heappop(self._waiting)[2])
        for future in ready:
            future.set_result(None)

    def release_all(self) -> None:
        """The pipeline stopped: nobody waits any longer (what it could not write is
        counted)."""
        with self._lock:
            ready = [entry[2] for entry in self._waiting]
            self._waiting.clear()
        for future in ready:
            if not future.done():
                future.set_result(None)
