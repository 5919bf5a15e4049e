"""One captured event: the envelope fields of a collect() call plus its data snapshot, and the
declared form a queue holds it in (``QueuedEvent``) until the writer restores it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from modeltap.snapshot import PandasSnapshot, Snapshot, payload_from_parts

__all__ = [
    "FROZEN_FRAME",
    "PAYLOAD",
    "SNAPSHOT",
    "Event",
    "QueuedEvent",
    "pack_event",
    "rfc3339_ms",
]

FROZEN_FRAME: Final = 0
"""``QueuedEvent.data`` is a small pandas frame's frozen parts (``PandasSnapshot.frozen_parts``)."""
SNAPSHOT: Final = 1
"""``QueuedEvent.data`` is the snapshot itself."""
PAYLOAD: Final = 2
"""``QueuedEvent.data`` is one side of an HTTP call as payload capture keeps it: the arguments of
``payload_from_parts`` (bytes, strings and numbers), which also give the envelope's extra fields.
"""


class QueuedEvent(NamedTuple):
    """An event as a queue holds it and a writer process is sent it: the envelope fields, and
    the data in the form its ``kind`` (``FROZEN_FRAME``, ``SNAPSHOT`` or ``PAYLOAD``) names,
    which ``Event.unpack`` restores on the writer."""

    approx_bytes: int
    collection: str
    time_ns: int
    correlation_id: str
    xrequest_id: str
    data_type: str
    root: str
    extra: dict[str, Any] | None
    kind: int
    data: Any


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

    def pack(self) -> QueuedEvent:
        """The event as a queue holds it."""
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
    def unpack(cls, queued: QueuedEvent) -> Event:
        """The event ``queued`` holds, its snapshot restored as its kind says."""
        kind, data, extra = queued.kind, queued.data, queued.extra
        snapshot: Snapshot
        if kind == FROZEN_FRAME:
            snapshot = PandasSnapshot.from_parts(data)
        elif kind == PAYLOAD:
            payload = payload_from_parts(*data)
            snapshot, extra = payload, payload.extra
        else:
            snapshot = data
        return cls(
            queued.collection,
            queued.time_ns,
            queued.correlation_id,
            queued.xrequest_id,
            queued.data_type,
            snapshot,
            queued.root,
            extra,
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
) -> QueuedEvent:
    """``Event(...).pack()`` without making the Event (the request path's form): a small pandas
    snapshot is queued as its frozen parts, any other snapshot as it is."""
    parts = snapshot.frozen_parts() if type(snapshot) is PandasSnapshot else None
    return QueuedEvent(
        snapshot.approx_bytes,
        collection,
        time_ns,
        correlation_id,
        xrequest_id,
        data_type,
        root,
        extra,
        SNAPSHOT if parts is None else FROZEN_FRAME,
        snapshot if parts is None else parts,
    )
