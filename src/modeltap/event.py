"""One captured event: the envelope fields of a collect() call plus its data snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modeltap.snapshot import Snapshot

__all__ = ["Event", "rfc3339_ms"]


_last: tuple[int, str] = (-1, "")  # (second, its formatted stamp), swapped atomically


def rfc3339_ms(epoch_ns: int) -> str:
    """``2024-05-01T12:34:56.789Z`` for a time in nanoseconds since the epoch."""
    global _last
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    cached_second, stamp = _last
    if seconds != cached_second:  # one strftime per second, not per event
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last = (seconds, stamp)
    return f"{stamp}.{rest // 1_000_000:03d}Z"


@dataclass(slots=True)
class Event:
    """A collect() call waiting to be written: who, when, correlated how, and what."""

    collection: str
    time_ns: int
    correlation_id: str
    xrequest_id: str
    data_type: str
    snapshot: Snapshot
    root: str
    extra: dict[str, Any] | None = field(default=None)

    @property
    def approx_bytes(self) -> int:
        """An estimate of the memory the event holds, for the queue's byte bound."""
        return self.snapshot.approx_bytes
