"""How the writer gathers events before it writes them: small events batched together, JSON
lines waiting as bytes for one write per segment per turn, and what a segment is told of the
events appended to it (their times and, once per schema, their columns for the catalog)."""

from __future__ import annotations

from modeltap.catalog.schema import snapshot_columns
from modeltap.event import Event
from modeltap.pipeline.spool import Segment

__all__ = ["PendingLines", "SegmentNotes", "SmallBatch", "note_events"]


class SmallBatch:
    """Small events gathered to be written together, up to a number of events and (JSON lines)
    about a number of rows in all."""

    __slots__ = ("_events", "_max_events", "_max_rows", "_max_total_rows", "_rows")

    def __init__(self, max_rows: int, max_events: int, max_total_rows: int | None) -> None:
        self._max_rows = max_rows
        self._max_events = max_events
        self._max_total_rows = max_total_rows
        self._events: list[Event] = []
        self._rows = 0

    def takes(self, event: Event) -> bool:
        """Add ``event`` if it is small (fewer than ``max_rows`` rows); True if it was."""
        rows = event.snapshot.rows
        if rows >= self._max_rows:
            return False
        self._events.append(event)
        self._rows += rows
        return True

    @property
    def full(self) -> bool:
        """Whether the batch should be written now."""
        return len(self._events) >= self._max_events or (
            self._max_total_rows is not None and self._rows >= self._max_total_rows
        )

    def take(self) -> list[Event]:
        """The events gathered so far; the batch starts empty again."""
        events, self._events, self._rows = self._events, [], 0
        return events


class PendingLines:
    """JSON lines gathered for one open segment, appended together: bytes and counts only (no
    events: those would stay alive, and tracked by the garbage collector, until the append)."""

    __slots__ = ("count", "lines", "notes", "room", "rows", "segment", "size")

    def __init__(self, segment: Segment, max_bytes: int) -> None:
        self.segment = segment
        self.lines: list[bytes] = []
        self.count = 0
        self.rows = 0
        self.size = 0
        self.room = max_bytes - segment.size  # bytes the segment takes before it is full
        self.notes = SegmentNotes(segment)

    def add(self, event: Event, line: bytes) -> bool:
        """Gather one line; True once the segment is full with the lines gathered."""
        self.lines.append(line)
        self.count += 1
        self.rows += event.snapshot.rows
        self.size += len(line)
        self.notes.add(event)
        return self.size >= self.room


class SegmentNotes:
    """What a segment is told of the events appended to it: their first and last time and,
    when an event's schema is new to the segment, its columns for the catalog (costly to
    derive, so once per schema, not once per event)."""

    __slots__ = ("columns", "first_ns", "last_ns", "signature")

    def __init__(self, segment: Segment) -> None:
        self.first_ns = self.last_ns = -1
        self.signature = segment.schema_signature
        self.columns: list[tuple[int, dict[str, str]]] = []  # (time, columns) when new

    def add(self, event: Event) -> None:
        """Note one event."""
        time_ns = event.time_ns
        if self.first_ns < 0 or time_ns < self.first_ns:
            self.first_ns = time_ns
        if time_ns > self.last_ns:
            self.last_ns = time_ns
        # pandas snapshots have a signature: a cheap fingerprint of their columns and types
        signature = getattr(event.snapshot, "signature", None)
        if not isinstance(signature, tuple):
            signature = None
        if signature is None or signature != self.signature:
            self.signature = signature
            columns = snapshot_columns(event.snapshot)
            if not self.columns or columns != self.columns[-1][1]:  # the same again add nothing
                self.columns.append((time_ns, columns))

    def tell(self, segment: Segment) -> None:
        """Tell ``segment`` (the events now appended to it)."""
        segment.note(self.first_ns, {})
        segment.note(self.last_ns, {})
        for time_ns, columns in self.columns:
            segment.note(time_ns, columns)
        segment.schema_signature = self.signature


def note_events(segment: Segment, events: list[Event]) -> None:
    """Tell the segment of the events just appended to it (see ``SegmentNotes``)."""
    notes = SegmentNotes(segment)
    for event in events:
        notes.add(event)
    notes.tell(segment)
