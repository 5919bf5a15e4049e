"""One captured event: the envelope fields of a collect() call plus its data snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modeltap.snapshot import Snapshot, pack_snapshot, unpack_snapshot

__all__ = ["Event", "PackedEvent", "pack_event", "rfc3339_ms"]

PackedEvent = tuple[Any, ...]
"""An event as a queue holds it: (approx_bytes, collection, time_ns, correlation_id,
xrequest_id, data_type, root, extra, *the snapshot's parts)."""


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

    def pack(self) -> PackedEvent:
        """The event as one flat exact tuple: with a small pandas snapshot and no extra
        fields, the garbage collector stops tracking it (see ``pack_snapshot``)."""
        return pack_event(
            self.collection,
            self.time_ns,
            self.correlation_id,
            self.xrequest_id,
            self.data_type,
            self.snapshot,
            self.root,
            self.extra,
        )

    @classmethod
    def unpack(cls, packed: PackedEvent) -> Event:
        """The event ``pack`` gave ``packed`` for."""
        _, collection, time_ns, correlation_id, xrequest_id, data_type, root, extra = packed[:8]
        snapshot = unpack_snapshot(packed[8:])
        if packed[8] is None:  # made of atoms by a named function: it brings its envelope fields
            extra = snapshot.extra  # type: ignore[attr-defined]
        return cls(
            collection, time_ns, correlation_id, xrequest_id, data_type, snapshot, root, extra
        )


def pack_event(
    collection: str,
    time_ns: int,
    correlation_id: str,
    xrequest_id: str,
    data_type: str,
    snapshot: Snapshot,
    root: str,
    extra: dict[str, Any] | None = None,
) -> PackedEvent:
    """``Event(...).pack()`` without making the Event (the request path's form)."""
    return (
        snapshot.approx_bytes,
        collection,
        time_ns,
        correlation_id,
        xrequest_id,
        data_type,
        root,
        extra,
        *pack_snapshot(snapshot),
    )

