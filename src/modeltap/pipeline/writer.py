"""The writer thread: encodes queued events into spool segments and hands closed ones to the
committer.

Segments close on size, on age, when the partition folder changes and on flush. Large frames are
encoded in pieces, small ones in batches bounded by events and rows, and the writer naps once a
turn at the GIL has lasted a couple of milliseconds (``GilCourtesy``), so a request thread waits
for it about that long, not a whole switch interval or more.

Beside it: ``batches`` (how events are gathered before a write), ``routing`` (where a
collection's segments go), ``control`` (flush and stop requests), ``health`` (spool write
failures), ``ack`` (``ack: spool``), ``spool`` (segment files), ``commit`` (the committer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from modeltap._ids import top_up_uuids
from modeltap.catalog.registrar import Registrar
from modeltap.config import FsyncPolicy, Settings, SpoolFullPolicy
from modeltap.errors import SpoolFullError, SpoolWriteError
from modeltap.event import Event
from modeltap.formats import EnvelopeSource, get_format
from modeltap.pipeline.batches import PendingLines, SmallBatch, note_events
from modeltap.pipeline.commit import Committer
from modeltap.pipeline.control import FlushRequest, StopRequest
from modeltap.pipeline.courtesy import GilCourtesy
from modeltap.pipeline.health import SpoolHealth
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.routing import destination_urls, route, unroute
from modeltap.pipeline.spool import Segment, Spool, count_events
from modeltap.stats import StatsRecorder
from modeltap.store import Destination, open_destination
from modeltap.store.layout import PartitionClock, collection_of, segment_name

__all__ = ["Writer"]

logger = logging.getLogger("modeltap.writer")

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
        on_turn: Callable[[int], None] | None = None,
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
        self._pending: dict[str, PendingLines] = {}  # root -> lines waiting for its open segment
        self._pending_bytes = 0
        self._destinations: dict[str, Destination] = {}
        self._waiters: list[FlushRequest] = []
        self._health = SpoolHealth()
        # ack: spool: told at the end of each turn, after one fsync per segment written in it,
        # the queue's take mark (see pipeline.ack)
        self._on_turn = on_turn
        self._unsynced: dict[int, Segment] = {}
        self._seq = 0
        self._format = get_format(settings.collector.format)
        self._extension = self._format.extension
        self._thread = threading.Thread(target=self._run, name="modeltap-writer", daemon=True)
        # open every configured destination now: a missing extra or a bad URL fails here,
        # at start-up, not later on the writer thread
        for url in destination_urls(settings):
            self._destination(url)

    @staticmethod
    def check_destinations(settings: Settings) -> None:
        """Open every destination ``settings`` name, as the writer will: a missing extra or a
        bad URL raises here (for a writer that runs elsewhere)."""
        durable = settings.collector.fsync is not FsyncPolicy.NEVER
        for url in destination_urls(settings):
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
            "spool_write_failing": float(self._health.failing),
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

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._recover_orphans()
        except Exception as exc:  # pragma: no cover - reported, the writer keeps running
            logger.exception("recovering orphan spool segments failed")
            self._stats.error(f"recovery failed: {exc}")
        courtesy = GilCourtesy()
        if self._format.gathers_lines:
            batch = SmallBatch(_LINES_BATCH_ROWS, _LINES_BATCH_EVENTS, _LINES_BATCH_TOTAL_ROWS)
        else:
            batch = SmallBatch(_BATCH_ROWS, _BATCH_EVENTS, max_total_rows=None)
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
            if self._on_turn is not None:
                self._sync_turn()
                self._on_turn(self._queue.take_mark)
            self._close_aged()
            self._release_waiters()
            if self._health.failing:
                self._probe()
            if stop is not None:
                self._finish(stop)
                return

    def _sync_turn(self) -> None:
        """Group commit: one fsync per segment appended to in this turn (unless the policy is
        ``never``, or ``always`` synced each append already)."""
        unsynced, self._unsynced = self._unsynced, {}
        if self._settings.collector.fsync is not FsyncPolicy.COMMIT:
            return
        for segment in unsynced.values():
            if segment.closed:
                continue  # closing synced it
            try:
                segment.sync()
            except OSError as exc:
                self._health.failed(exc, "syncing a segment", 0)

    def _probe(self) -> None:
        """While writing fails: try a small file at the end of each turn; the failing state
        clears once it works (with or without traffic), not on the success of some appends
        (an open segment takes appends while no new one can be opened)."""
        try:
            self._spool.probe(self._health.failed_bytes)
        except OSError:
            return
        self._health.worked()

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
        try:
            self._spool.release()
        except OSError as exc:
            logger.error("releasing the spool folder failed: %s", exc)
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
                try:
                    current = self._open_segment(event, folder)
                except OSError as exc:
                    self._write_failed(event.collection, 1, exc, "opening a segment")
                    continue
            waiting = self._pending.get(root)
            if waiting is None:
                waiting = self._pending[root] = PendingLines(current[1], max_bytes)
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
            self._write_failed(
                segment.collection, waiting.count, exc, "appending to a segment", waiting.size
            )
            self._close(root)  # the next events try a new file (e.g. after EFBIG)
            return
        if self._on_turn is not None:
            self._unsynced[id(segment)] = segment
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
        try:
            segment = self._segment_for(first, table)
        except OSError as exc:
            self._write_failed(first.collection, len(events), exc, "opening a segment")
            return
        rows = sum(e.snapshot.rows for e in events)
        try:
            segment.append(blob, rows, len(events))
        except OSError as exc:
            self._write_failed(
                first.collection, len(events), exc, "appending to a segment", size
            )
            self._close(first.root)  # the next events try a new file (e.g. after EFBIG)
            return
        if self._on_turn is not None:
            self._unsynced[id(segment)] = segment
        note_events(segment, events)
        self._stats.written(first.collection, rows, size, len(events))
        if segment.size >= self._settings.collector.segment_max_bytes:
            self._close(first.root)

    def _write_failed(
        self, collection: str, count: int, exc: OSError, what: str, size: int = 1
    ) -> None:
        """``count`` events of ``collection`` could not be written to the spool (nothing of
        them is in it: a failed append is cut back): count, report, and enter the failing
        state (``SpoolHealth``)."""
        self._stats.dropped(collection, "write_error", count)
        self._health.failed(exc, what, count, size)
        self._report_drop(
            SpoolWriteError(
                f"cannot write to the spool ({what}): {exc}; dropped {count} event(s) of "
                f"{collection!r}"
            ),
            collection,
        )

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
        url, relative, spool_relative = route(self._settings, event.root)
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
        current = self._open.pop(root, None)
        if current is None:  # a failed append of its pending lines closed it already
            return
        segment = current[1]
        segment.close()
        if segment.torn:  # left in the spool: the next start cuts its torn tail and commits it
            logger.error("spool segment %s is left for recovery at the next start", segment.path)
            return
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
                url, relative = unroute(self._settings, orphan.relative_path)
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
