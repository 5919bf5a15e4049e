"""The writer thread: encodes queued events into spool segments and hands closed ones to the
committer.

Segments close on size, on age, when the partition folder changes and on flush. Large frames are
encoded in pieces, small ones in batches bounded by events and rows, and the writer naps once a
turn at the GIL has lasted a couple of milliseconds (``GilCourtesy``), so a request thread waits
for it about that long, not a whole switch interval or more.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from modeltap._ids import top_up_uuids
from modeltap.catalog.registrar import Registrar
from modeltap.catalog.schema import snapshot_columns
from modeltap.config import FsyncPolicy, Settings, SpoolFullPolicy
from modeltap.errors import SpoolFullError
from modeltap.event import Event
from modeltap.formats import EnvelopeSource, get_format
from modeltap.pipeline.commit import Committer
from modeltap.pipeline.courtesy import GilCourtesy
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.spool import Segment, Spool, count_events
from modeltap.stats import StatsRecorder
from modeltap.store import Destination, open_destination
from modeltap.store.layout import PartitionClock, collection_of, segment_name

__all__ = ["FlushRequest", "StopRequest", "Writer"]

logger = logging.getLogger("modeltap.writer")

_ROOTS_FOLDER = "_roots"
_WAKE_UP = object()  # a control item that only wakes the writer
_BATCH_ROWS = 4_096  # Parquet events smaller than this share frames
_BATCH_EVENTS = 1_024  # at most this many events in one Parquet frame
_LINES_BATCH_ROWS = 1_000  # JSON lines events smaller than this are encoded and appended together
# at most this many events in one JSON lines batch: fewer unpacked events alive at once, so fewer
# of them survive into the old generation and bring on a full collection (in interleaved 1-row
# bursts of the collector benchmark, 128 let one in two runs end in a full collection, 32 none)
_LINES_BATCH_EVENTS = 32
# and at most about this many rows, so that no C call of the batch's encoding (one per column of
# the joined frames) holds the GIL for long: the writer's turn ends soon after it is asked to
_LINES_BATCH_TOTAL_ROWS = 512
# JSON lines wait (as bytes) for the end of the writer's turn and are then appended with one write
# per segment, however many batches encoded them; a segment's lines are written earlier once they
# reach this many bytes
_PENDING_MAX_BYTES = 1 << 20


@dataclass
class FlushRequest:
    """Close every open segment and signal once everything before it is committed."""

    done: threading.Event = field(default_factory=threading.Event)
    waits_for: int = -1


@dataclass
class StopRequest:
    """Flush, then end the writer thread."""

    flush: FlushRequest = field(default_factory=FlushRequest)


class Writer:
    """Owns the spool segments and the committer; runs on one daemon thread."""

    def __init__(
        self,
        settings: Settings,
        queue: EventQueue,
        stats: StatsRecorder,
        spool: Spool,
        envelope: EnvelopeSource,
        report_drop: Any,
        tick: float = 0.1,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._stats = stats
        self._spool = spool
        self._envelope = envelope
        self._report_drop = report_drop
        self._tick = tick
        self._clock = PartitionClock(settings.collector.rolling_rate)
        self._registrar = Registrar(settings, spool.instance)
        self._durable = settings.collector.fsync is not FsyncPolicy.NEVER
        self._committer = Committer(
            stats, on_committed=self._segment_committed, durable=self._durable
        )
        self._open: dict[str, tuple[str, Segment]] = {}
        self._pending: dict[str, _Pending] = {}  # root -> lines waiting for its open segment
        self._pending_bytes = 0
        self._destinations: dict[str, Destination] = {}
        self._waiters: list[FlushRequest] = []
        self._seq = 0
        self._format = get_format(settings.collector.format)
        self._extension = self._format.extension
        self._thread = threading.Thread(target=self._run, name="modeltap-writer", daemon=True)
        # open every configured destination now: a missing extra or a bad URL fails here,
        # at start-up, not later on the writer thread
        for url in _destination_urls(settings):
            self._destination(url)

    @staticmethod
    def check_destinations(settings: Settings) -> None:
        """Open every destination ``settings`` name, as the writer will: a missing extra or a
        bad URL raises here (for a writer that runs elsewhere)."""
        durable = settings.collector.fsync is not FsyncPolicy.NEVER
        for url in _destination_urls(settings):
            open_destination(url, settings.collector.storage_options, durable=durable)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread and the committer thread."""
        self._committer.start()
        self._thread.start()

    def join(self, timeout: float | None) -> bool:
        """Wait for the thread to end; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    def abandon_after_fork(self) -> None:
        """In a forked child: let go of the spool without touching the parent's files."""
        self._spool.abandon_after_fork()

    def gauges(self) -> dict[str, float]:
        """Spool and backlog gauges for stats()."""
        open_segments = list(self._open.values())
        open_bytes = sum(seg.size for _, seg in open_segments)
        return {
            "spool_bytes": open_bytes + self._committer.backlog_bytes,
            "spool_segments": len(open_segments) + len(self._committer.backlog),
            "oldest_waiting_age": self._committer.oldest_age(),
        }

    def _segment_committed(self, pending: Any) -> None:
        """The committer's hook (on its thread): register the segment in the catalog and,
        if a flush waits, wake the writer so it releases the flush without waiting a tick."""
        self._registrar.segment_committed(pending)
        if self._waiters:
            self._queue.put_control(_WAKE_UP)

    # -- routing -----------------------------------------------------------------------------

    def _destination(self, url: str) -> Destination:
        destination = self._destinations.get(url)
        if destination is None:
            options = self._settings.collector.storage_options
            destination = open_destination(url, options, durable=self._durable)
            self._destinations[url] = destination
        return destination

    def _route(self, root: str) -> tuple[str, str, str]:
        """(destination url, relative folder at the destination, relative folder in the spool)."""
        url = _route_url(self._settings, root)
        if url == root:
            tag = base64.urlsafe_b64encode(root.encode()).decode().rstrip("=")
            return root, "", f"{_ROOTS_FOLDER}/{tag}"
        return url, root, root

    def _unroute(self, spool_relative: str) -> tuple[str, str]:
        """Inverse of ``_route`` for orphan segments: (destination url, relative path)."""
        if spool_relative.startswith(_ROOTS_FOLDER + "/"):
            _, tag, rest = spool_relative.split("/", 2)
            url = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).decode()
            return url, rest
        return self._settings.destination, spool_relative

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._recover_orphans()
        except Exception as exc:  # pragma: no cover - reported, the writer keeps running
            logger.exception("recovering orphan spool segments failed")
            self._stats.error(f"recovery failed: {exc}")
        courtesy = GilCourtesy()
        if self._format.gathers_lines:
            batch = _SmallBatch(_LINES_BATCH_ROWS, _LINES_BATCH_EVENTS, _LINES_BATCH_TOTAL_ROWS)
        else:
            batch = _SmallBatch(_BATCH_ROWS, _BATCH_EVENTS, max_total_rows=None)
        while True:
            items = self._queue.take_all(self._tick)
            # take_all may have waited for work: a new turn starts (under steady load, when it
            # did not, a turn runs at most one batch past GilCourtesy's turn)
            courtesy.rested()
            stop: StopRequest | None = None
            for item in items:
                if isinstance(item, Event):
                    if batch.takes(item):  # small events are written together (_write_many)
                        if batch.full:
                            self._write_many(batch.take())
                            courtesy.pause()
                        continue
                    self._write_many(batch.take())
                    self._write(item)
                    courtesy.pause()
                    continue
                self._write_many(batch.take())
                if isinstance(item, FlushRequest):
                    self._begin_flush(item)
                elif isinstance(item, StopRequest):
                    stop = item
            self._write_many(batch.take())
            self._append_all_pending()
            self._close_aged()
            self._release_waiters()
            if stop is not None:
                self._finish(stop)
                return

    def _finish(self, stop: StopRequest) -> None:
        for item in self._queue.discard_all():
            if isinstance(item, Event):
                self._write(item)
            elif isinstance(item, FlushRequest):
                self._waiters.append(item)
        self._begin_flush(stop.flush)  # closing each segment appends its pending lines first
        self._committer.stop(timeout=None)
        self._release_waiters()
        # segments the destination did not take stay in the spool; the next start commits them
        self._spool.release()
        for waiter in self._waiters:
            waiter.done.set()

    def _begin_flush(self, request: FlushRequest) -> None:
        for key in list(self._open):
            self._close(key)
        request.waits_for = self._committer.last_key
        self._waiters.append(request)

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        remaining = []
        for waiter in self._waiters:
            if self._committer.is_done(waiter.waits_for):
                waiter.done.set()
            else:
                remaining.append(waiter)
        self._waiters = remaining

    # -- segments ----------------------------------------------------------------------------

    def _encode(self, event: Event) -> tuple[bytes | list[Any], int, Any]:
        """(what to append, its size in bytes, the table the segment schema checks)."""
        encoded = self._format.encode(event, self._envelope)
        return encoded.pieces, encoded.size, encoded.table

    def _write(self, event: Event) -> None:
        try:
            blob, size, table = self._encode(event)
        except Exception as exc:
            self._encoding_failed([event], exc)
            return
        self._append([event], blob, size, table)

    def _write_many(self, events: list[Event]) -> None:
        """Small Parquet events in order, consecutive ones of one collection, partition and
        schema sharing a frame: the per-frame cost (Arrow, IPC, schema checks) is paid once."""
        if not events:
            return
        top_up_uuids()  # here, not on request threads (see top_up_uuids)
        if self._format.gathers_lines:
            self._write_lines(events)
            return
        try:
            groups = self._format.encode_batch(
                events, self._envelope, lambda e: (e.root, self._clock.folder(e.time_ns))
            )
        except Exception:
            for event in events:  # find the one that fails; the others are written alone
                self._write(event)
            return
        for group, encoded in groups:
            if isinstance(encoded, Exception):
                self._encoding_failed(group, encoded)
            else:
                self._append(group, encoded.pieces, encoded.size, encoded.table)

    def _write_lines(self, events: list[Event]) -> None:
        """Small JSON lines events, in order: encoded together (see ``encode_events``), then
        gathered per segment as bytes until the end of the writer's turn (``_append_pending``):
        one write per segment per turn instead of one per event or per batch (fewer syscalls,
        each of which hands the GIL to the request threads and waits to get it back)."""
        lines = self._format.encode_lines(events, self._envelope)
        max_bytes = self._settings.collector.segment_max_bytes
        limit = self._settings.collector.spool_max_bytes
        # the spool's bytes with the lines gathered so far, or more: the committer only ever
        # lowers its backlog, so while this stays within the limit no event needs _make_room
        used = self._spool_bytes() + self._pending_bytes
        for event, line in zip(events, lines, strict=True):
            if isinstance(line, Exception):
                self._stats.dropped(event.collection, "encode_error")
                self._stats.error(f"encoding an event of {event.collection!r} failed: {line}")
                logger.error(
                    "encoding an event of %r failed; it is dropped",
                    event.collection,
                    exc_info=line,
                )
                continue
            size = len(line)
            if used + size > limit:
                used = self._spool_bytes() + self._pending_bytes
                if not self._make_room(size + self._pending_bytes, event):
                    continue
            used += size
            root = event.root
            folder = self._clock.folder(event.time_ns)
            current = self._open.get(root)
            if current is not None and current[0] != folder:
                self._close(root)  # appends its pending lines first
                current = None
            if current is None:
                current = self._open_segment(event, folder)
            waiting = self._pending.get(root)
            if waiting is None:
                waiting = self._pending[root] = _Pending(current[1], max_bytes)
            self._pending_bytes += size
            if waiting.add(event, line):
                self._close(root)
            elif waiting.size >= _PENDING_MAX_BYTES:
                self._append_pending(root)

    def _append_all_pending(self) -> None:
        for root in list(self._pending):
            self._append_pending(root)

    def _append_pending(self, root: str) -> None:
        """Append the lines gathered for the open segment of ``root`` with one write."""
        waiting = self._pending.pop(root, None)
        if waiting is None:
            return
        self._pending_bytes -= waiting.size
        segment = waiting.segment
        try:
            segment.append(b"".join(waiting.lines), waiting.rows, waiting.count)
        except OSError as exc:
            self._stats.dropped(segment.collection, "write_error", waiting.count)
            self._stats.error(f"writing to the spool failed: {exc}")
            logger.error(
                "writing to the spool failed: %s; %d event(s) dropped", exc, waiting.count
            )
            return
        waiting.notes.tell(segment)
        # one count per append, not per event: request threads take the same lock
        self._stats.written(segment.collection, waiting.rows, waiting.size, waiting.count)

    def _encoding_failed(self, events: list[Event], exc: Exception) -> None:
        collection = events[0].collection
        self._stats.dropped(collection, "encode_error", len(events))
        self._stats.error(f"encoding events of {collection!r} failed: {exc}")
        logger.exception("encoding %d event(s) of %r failed; dropped", len(events), collection)

    def _append(
        self, events: list[Event], blob: bytes | list[Any], size: int, table: Any
    ) -> None:
        """Append what encodes ``events`` (one root, one folder; ``table`` is its Arrow form for
        Parquet segments) to the open segment, counting it, closing the segment once full."""
        first = events[0]
        self._append_pending(first.root)  # lines gathered before these go first
        if not self._make_room(size, first, len(events)):
            return
        segment = self._segment_for(first, table)
        rows = sum(e.snapshot.rows for e in events)
        try:
            segment.append(blob, rows, len(events))
        except OSError as exc:
            self._stats.dropped(first.collection, "write_error", len(events))
            self._stats.error(f"writing to the spool failed: {exc}")
            logger.error("writing to the spool failed: %s; %d event(s) dropped", exc, len(events))
            return
        _note(segment, events)
        self._stats.written(first.collection, rows, size, len(events))
        if segment.size >= self._settings.collector.segment_max_bytes:
            self._close(first.root)

    def _segment_for(self, event: Event, table: Any) -> Segment:
        """The open segment of the event's root, a new one after a partition change or (Parquet)
        a schema change that cannot merge losslessly."""
        folder = self._clock.folder(event.time_ns)
        current = self._open.get(event.root)
        if current is not None and (
            current[0] != folder or (table is not None and not current[1].union.accept(table))
        ):
            self._close(event.root)
            current = None
        if current is None:
            current = self._open_segment(event, folder)
            if table is not None:
                current[1].union = self._format.segment_schema()
                current[1].union.accept(table)
        return current[1]

    def _open_segment(self, event: Event, folder: str) -> tuple[str, Segment]:
        url, relative, spool_relative = self._route(event.root)
        name = segment_name(self._spool.instance, self._seq, self._extension)
        self._seq += 1
        relative_path = f"{relative}/{folder}/{name}" if relative else f"{folder}/{name}"
        segment = self._spool.segment(f"{spool_relative}/{folder}/{name}", url, event.collection)
        segment.relative_path = relative_path
        current = (folder, segment)
        self._open[event.root] = current
        return current

    def _spool_bytes(self) -> int:
        return sum(seg.size for _, seg in self._open.values()) + self._committer.backlog_bytes

    def _make_room(self, size: int, event: Event, count: int = 1) -> bool:
        limit = self._settings.collector.spool_max_bytes
        if self._spool_bytes() + size <= limit:
            return True
        if self._settings.collector.spool_full_policy is SpoolFullPolicy.DROP_OLDEST:
            while self._spool_bytes() + size > limit:
                dropped = self._committer.drop_oldest()
                if dropped is None:
                    break
                self._stats.dropped(dropped.collection, "spool_full", dropped.events)
                self._report_drop(
                    SpoolFullError(
                        f"spool full ({limit} bytes): deleted the oldest waiting segment "
                        f"{dropped.relative_path} ({dropped.events} events)"
                    ),
                    dropped.collection,
                )
            if self._spool_bytes() + size <= limit:
                return True
        self._stats.dropped(event.collection, "spool_full", count)
        what = "an event" if count == 1 else f"{count} events"
        self._report_drop(
            SpoolFullError(
                f"spool full ({limit} bytes waiting for the destination): dropped {what} of "
                f"{event.collection!r}; raise spool_max_bytes or fix the destination"
            ),
            event.collection,
        )
        return False

    def _close(self, root: str) -> None:
        self._append_pending(root)
        _, segment = self._open.pop(root)
        segment.close()
        self._committer.add(
            segment.path,
            segment.relative_path,
            self._destination(segment.root),
            segment.collection,
            segment.size,
            segment.events,
            format=self._extension,
            first_time_ns=segment.first_time_ns,
            last_time_ns=segment.last_time_ns,
            columns=segment.columns,
        )

    def _close_aged(self) -> None:
        max_age = self._settings.collector.segment_max_age
        now = time.monotonic()
        for root, (_, segment) in list(self._open.items()):
            if now - segment.opened_at >= max_age:
                self._close(root)

    # -- recovery ----------------------------------------------------------------------------

    def _recover_orphans(self) -> None:
        for folder, orphans in self._spool.orphans():
            for orphan in orphans:
                url, relative = self._unroute(orphan.relative_path)
                collection = collection_of(relative)
                if orphan.torn_bytes:
                    # the record a crash cut in half is lost: count it, never hide it
                    self._stats.dropped(collection, "torn_by_crash")
                path = self._spool.adopt(orphan, folder)
                size = path.stat().st_size
                self._committer.add(
                    path,
                    relative,
                    self._destination(url),
                    collection,
                    size,
                    count_events(path),
                    format=relative.rsplit(".", 1)[-1],
                )
            if orphans:
                logger.info(
                    "recovered %d segment(s) left by %s; they are committed in the background",
                    len(orphans),
                    folder.name,
                )


class _SmallBatch:
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


class _Pending:
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
        self.notes = _SegmentNotes(segment)

    def add(self, event: Event, line: bytes) -> bool:
        """Gather one line; True once the segment is full with the lines gathered."""
        self.lines.append(line)
        self.count += 1
        self.rows += event.snapshot.rows
        self.size += len(line)
        self.notes.add(event)
        return self.size >= self.room


class _SegmentNotes:
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


def _route_url(settings: Settings, root: str) -> str:
    """The destination URL of a collection folder (``Writer._route``'s first part)."""
    return root if "://" in root or root.startswith("/") else settings.destination


def _destination_urls(settings: Settings) -> list[str]:
    """Every destination ``settings`` name: the default and each collection's own."""
    urls = [settings.destination]
    for name in settings.collector.collections or {}:
        url = _route_url(settings, settings.collection(name).root)
        if url not in urls:
            urls.append(url)
    return urls


def _note(segment: Segment, events: list[Event]) -> None:
    """Tell the segment of the events just appended to it (see ``_SegmentNotes``)."""
    notes = _SegmentNotes(segment)
    for event in events:
        notes.add(event)
    notes.tell(segment)
