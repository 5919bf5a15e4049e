"""Counters of everything the pipeline did: what was collected, sampled out, dropped and written.

Every drop has a reason (``disabled``, ``invalid_data``, ``invalid_name``, ``queue_full``,
``spool_full``, ``spool_lost``, ``encode_error``, ``write_error``, ``torn_by_crash``,
``writer_crashed``, ``writer_lost``) and is
counted per collection; ``stats()`` returns a frozen snapshot and the scoring server exposes the
same numbers as Prometheus metrics.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CollectionStats", "PipelineStats", "StatsRecorder"]


@dataclass(frozen=True)
class CollectionStats:
    """Counters of one collection."""

    collected: int = 0
    sampled_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    events_written: int = 0
    rows_written: int = 0
    bytes_written: int = 0
    files_committed: int = 0

    @property
    def dropped_total(self) -> int:
        """All drops of this collection, whatever the reason."""
        return sum(self.dropped.values())


@dataclass(frozen=True)
class PipelineStats:
    """A point-in-time copy of every counter, per collection and in total."""

    collections: dict[str, CollectionStats]
    queue_depth: int
    queue_bytes: int
    spool_bytes: int
    spool_segments: int
    commit_failures: int
    commit_retries: int
    oldest_waiting_age: float
    last_error: str | None
    last_error_time: float | None
    spool_write_failing: int = 0  # 1 while the writer cannot write to its spool

    def total(self, name: str) -> int:
        """Sum of one integer counter (e.g. ``"collected"``) over every collection."""
        return sum(int(getattr(c, name)) for c in self.collections.values())

    @property
    def dropped_total(self) -> int:
        """Every drop of every collection."""
        return sum(c.dropped_total for c in self.collections.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for JSON or metrics)."""
        return asdict(self)


class _Counters:
    __slots__ = (
        "bytes_written",
        "collected",
        "dropped",
        "events_written",
        "files_committed",
        "rows_written",
        "sampled_out",
    )

    def __init__(self) -> None:
        self.collected = 0
        self.sampled_out = 0
        self.dropped: Counter[str] = Counter()
        self.events_written = 0
        self.rows_written = 0
        self.bytes_written = 0
        self.files_committed = 0


class StatsRecorder:
    """The live, thread-safe counters behind ``modeltap.stats()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._collections: dict[str, _Counters] = {}
        self.commit_failures = 0
        self.commit_retries = 0
        self.last_error: str | None = None
        self.last_error_time: float | None = None

    def _get(self, collection: str) -> _Counters:
        counters = self._collections.get(collection)
        if counters is None:
            counters = self._collections.setdefault(collection, _Counters())
        return counters

    def collected(self, collection: str) -> None:
        """One event accepted into the queue."""
        with self._lock:
            self._get(collection).collected += 1

    def sampled_out(self, collection: str) -> None:
        """One event skipped by sampling (not a drop)."""
        with self._lock:
            self._get(collection).sampled_out += 1

    def dropped(self, collection: str, reason: str, count: int = 1) -> None:
        """``count`` events of ``collection`` lost for ``reason``."""
        with self._lock:
            self._get(collection).dropped[reason] += count

    def written(self, collection: str, rows: int, nbytes: int, events: int = 1) -> None:
        """``events`` events (``rows`` rows, ``nbytes`` bytes) appended to a spool segment."""
        with self._lock:
            counters = self._get(collection)
            counters.events_written += events
            counters.rows_written += rows
            counters.bytes_written += nbytes

    def committed(self, collection: str) -> None:
        """One file made visible at the destination."""
        with self._lock:
            self._get(collection).files_committed += 1

    def error(self, message: str) -> None:
        """Remember the last error for ``stats()``."""
        self.last_error = message
        self.last_error_time = time.time()

    def snapshot(
        self,
        *,
        queue_depth: int = 0,
        queue_bytes: int = 0,
        spool_bytes: int = 0,
        spool_segments: int = 0,
        oldest_waiting_age: float = 0.0,
        spool_write_failing: bool = False,
    ) -> PipelineStats:
        """Copy every counter, with the gauges the caller measured."""
        with self._lock:
            collections = {
                name: CollectionStats(
                    collected=c.collected,
                    sampled_out=c.sampled_out,
                    dropped=dict(c.dropped),
                    events_written=c.events_written,
                    rows_written=c.rows_written,
                    bytes_written=c.bytes_written,
                    files_committed=c.files_committed,
                )
                for name, c in sorted(self._collections.items())
            }
        return PipelineStats(
            collections=collections,
            queue_depth=queue_depth,
            queue_bytes=queue_bytes,
            spool_bytes=spool_bytes,
            spool_segments=spool_segments,
            commit_failures=self.commit_failures,
            commit_retries=self.commit_retries,
            oldest_waiting_age=oldest_waiting_age,
            last_error=self.last_error,
            last_error_time=self.last_error_time,
            spool_write_failing=int(spool_write_failing),
        )
