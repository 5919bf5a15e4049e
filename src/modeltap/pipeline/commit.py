"""The committer: moves closed spool segments to their destination, retrying with backoff.

A segment waits in the spool until its destination accepts it. Failures are counted and retried
with exponential backoff and jitter, never on the request path. Object names are deterministic,
so a retry after an ambiguous failure overwrites instead of duplicating.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modeltap.errors import ModelTapError
from modeltap.stats import StatsRecorder
from modeltap.store.destination import Destination

__all__ = ["Committer", "PendingSegment"]

logger = logging.getLogger("modeltap.commit")


@dataclass
class PendingSegment:
    """A closed segment waiting to be published."""

    key: int
    path: Path
    relative_path: str
    destination: Destination
    collection: str
    size: int
    events: int
    closed_at: float = field(default_factory=time.monotonic)
    attempts: int = 0
    next_attempt: float = 0.0


class Committer:
    """Publishes pending segments in order; keeps failures for later with backoff."""

    def __init__(
        self,
        stats: StatsRecorder,
        *,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        on_committed: Callable[[PendingSegment], None] | None = None,
    ) -> None:
        self._stats = stats
        self._pending: deque[PendingSegment] = deque()
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._on_committed = on_committed
        self._next_key = 0

    def add(
        self,
        path: Path,
        relative_path: str,
        destination: Destination,
        collection: str,
        size: int,
        events: int,
    ) -> PendingSegment:
        """Queue a closed segment for publishing."""
        pending = PendingSegment(
            self._next_key, path, relative_path, destination, collection, size, events
        )
        self._next_key += 1
        self._pending.append(pending)
        return pending

    @property
    def last_key(self) -> int:
        """The key of the most recently added segment (-1 before any)."""
        return self._next_key - 1

    @property
    def backlog(self) -> list[PendingSegment]:
        """Segments not yet published, oldest first."""
        return list(self._pending)

    @property
    def backlog_bytes(self) -> int:
        """Bytes waiting in closed segments."""
        return sum(p.size for p in self._pending)

    def oldest_age(self) -> float:
        """Seconds the oldest waiting segment has waited."""
        return time.monotonic() - self._pending[0].closed_at if self._pending else 0.0

    def is_done(self, key: int) -> bool:
        """Whether segment ``key`` (and so every earlier one) has left the backlog."""
        return all(p.key > key for p in self._pending)

    def commit_due(self) -> int:
        """Try every segment whose retry time has come; return how many were published."""
        now = time.monotonic()
        done = 0
        for pending in list(self._pending):
            if pending.next_attempt > now:
                continue
            if self._publish(pending):
                self._pending.remove(pending)
                done += 1
        return done

    def _publish(self, pending: PendingSegment) -> bool:
        if pending.attempts:
            self._stats.commit_retries += 1
        try:
            if pending.size == 0:
                pending.path.unlink(missing_ok=True)
            else:
                pending.destination.publish(pending.path, pending.relative_path)
        except (OSError, ModelTapError) as exc:
            pending.attempts += 1
            delay = min(self._max_delay, self._base_delay * 2 ** (pending.attempts - 1))
            pending.next_attempt = time.monotonic() + delay * random.uniform(0.5, 1.5)
            self._stats.commit_failures += 1
            message = (
                f"commit of {pending.relative_path} failed "
                f"(attempt {pending.attempts}): {exc}"
            )
            self._stats.error(message)
            if pending.attempts == 1 or pending.attempts % 10 == 0:
                logger.warning("%s; it waits in the spool and is retried", message)
            return False
        if pending.size:
            self._stats.committed(pending.collection)
        if self._on_committed is not None:
            self._on_committed(pending)
        return True

    def drop_oldest(self) -> PendingSegment | None:
        """Delete the oldest waiting segment (spool full, policy ``drop_oldest``)."""
        if not self._pending:
            return None
        pending = self._pending.popleft()
        pending.path.unlink(missing_ok=True)
        return pending
