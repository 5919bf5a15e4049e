"""One captured event: the envelope fields of a collect() call plus its data snapshot, and the
flat tuple a queue holds it as (``QueuedEvent``) until the writer restores it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from modeltap.snapshot import PandasSnapshot, Snapshot, payload_from_parts

__all__ = [
    "APPROX_BYTES",
    "COLLECTION",
    "CORRELATION_ID",
    "DATA",
    "DATA_TYPE",
    "EXTRA",
    "FROZEN_FRAME",
    "KIND",
    "PAYLOAD",
    "ROOT",
    "SNAPSHOT",
    "TIME_NS",
    "XREQUEST_ID",
    "Event",
    "QueuedEvent",
    "pack_event",
    "pack_payload",
    "rfc3339_ms",
]

QueuedEvent: TypeAlias = tuple[
    int, str, int, str, str, str, str, dict[str, Any] | None, int, *tuple[Any, ...]
]
"""An event as a queue holds it and a writer process is sent it: one flat, exact tuple of the
envelope fields (at the indices ``APPROX_BYTES`` ... ``KIND`` below), then from ``DATA`` on the
data in the form its ``KIND`` names, which ``Event.unpack`` restores on the writer.

Flat and exact on purpose: the garbage collector stops tracking a tuple once every item is
untracked, but only an exact tuple, and one level of nesting per collection. A queued small
frame is then made of atoms (bytes, strings, numbers, object arrays) and tuples long shared
(``modeltap.snapshot.blocks``), so it is untracked at the first young collection and a backlog
adds nothing to the full collections that would otherwise walk it on the request thread. A
NamedTuple, or a fresh inner tuple of the data, kept every queued event tracked into the old
generation: 2-4 full collections of 24-42 ms each per burst while the writer is behind,
against none (``bench/collector.py``, "full GCs" column)."""

APPROX_BYTES: Final = 0
"""``QueuedEvent[APPROX_BYTES]``: the memory estimate the queue's byte bound counts."""
COLLECTION: Final = 1
"""``QueuedEvent[COLLECTION]``: the collection's name."""
TIME_NS: Final = 2
CORRELATION_ID: Final = 3
XREQUEST_ID: Final = 4
DATA_TYPE: Final = 5
ROOT: Final = 6
EXTRA: Final = 7
"""``QueuedEvent[TIME_NS]`` ... ``QueuedEvent[EXTRA]``: the other envelope fields of ``Event``."""
KIND: Final = 8
"""``QueuedEvent[KIND]``: ``FROZEN_FRAME``, ``SNAPSHOT`` or ``PAYLOAD``."""
DATA: Final = 9
"""``QueuedEvent[DATA:]``: the data, in the form its kind names."""

FROZEN_FRAME: Final = 0
"""The data is a small pandas frame's frozen parts (``PandasSnapshot.frozen_parts``)."""
SNAPSHOT: Final = 1
"""The data is the snapshot itself (one part)."""
PAYLOAD: Final = 2
"""The data is one side of an HTTP call as payload capture keeps it: the arguments of
``payload_from_parts`` (bytes, strings and numbers), which also give the envelope's extra
fields."""


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
        kind, extra = queued[KIND], queued[EXTRA]
        data: tuple[Any, ...] = queued[DATA:]
        snapshot: Snapshot
        if kind == FROZEN_FRAME:
            snapshot = PandasSnapshot.from_parts(data)
        elif kind == PAYLOAD:
            payload = payload_from_parts(*data)
            snapshot, extra = payload, payload.extra
        else:
            snapshot = data[0]
        return cls(
            queued[COLLECTION],
            queued[TIME_NS],
            queued[CORRELATION_ID],
            queued[XREQUEST_ID],
            queued[DATA_TYPE],
            snapshot,
            queued[ROOT],
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
    if parts is None:
        return (snapshot.approx_bytes, collection, time_ns, correlation_id, xrequest_id,
                data_type, root, extra, SNAPSHOT, snapshot)
    return (snapshot.approx_bytes, collection, time_ns, correlation_id, xrequest_id, data_type,
            root, extra, FROZEN_FRAME, *parts)


def pack_payload(
    approx_bytes: int,
    collection: str,
    time_ns: int,
    correlation_id: str,
    xrequest_id: str,
    data_type: str,
    root: str,
    parts: tuple[Any, ...],
) -> QueuedEvent:
    """One side of an HTTP call queued as payload capture keeps it (kind ``PAYLOAD``): ``parts``
    are the arguments of ``payload_from_parts``, so the request path builds no snapshot."""
    return (approx_bytes, collection, time_ns, correlation_id, xrequest_id, data_type, root,
            None, PAYLOAD, *parts)
