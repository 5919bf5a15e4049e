"""The committer: moves closed spool segments to their destination, retrying with backoff.

A segment waits in the spool until its destination accepts it. Failures are counted and retried
with exponential backoff and jitter on the committer's own thread, never on the request path nor
on the writer thread (so the writer keeps spooling while a store is down). Object names are
deterministic, so a retry after an ambiguous failure overwrites instead of duplicating.

When one segment of a destination fails, the other segments of that destination wait for its
next attempt too (the store is most likely down): an outage costs one failed attempt per backoff
interval, not one per waiting segment. Parquet segments are converted from their spooled frames
to a Parquet file before the upload; while the committer converts or uploads one segment, a
converter thread converts the next (the conversion releases the GIL for most of its work, so
the two overlap on a second core, and a conversion overlaps an upload).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from modeltap.formats import get_format
from modeltap.stats import StatsRecorder
from modeltap.store.destination import Destination
from modeltap.store.layout import split_partition

__all__ = ["CONVERTED_SUFFIX", "Committer", "PendingSegment"]

logger = logging.getLogger("modeltap.commit")

CONVERTED_SUFFIX = ".pq-tmp"
_DONE = "done"
_STORE_FAILED = "store_failed"
_LOCAL_FAILED = "local_failed"


def _attempt_order(pending: PendingSegment) -> tuple[int, int]:
    return pending.attempts, pending.key


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
    format: str = "jsonl"
    first_time_ns: int | None = None  # event times and columns, for the data-asset catalog
    last_time_ns: int | None = None
    columns: dict[str, str] | None = None
    conversion: Future[Path] | None = None  # its Parquet conversion, running ahead


class Committer:
    """Publishes pending segments oldest first; keeps failures for later with backoff.

    Used directly (``commit_due()`` from the caller's thread) or with its own thread
    (``start()``, ``wake()``, ``stop()``)."""

    def __init__(
        self,
        stats: StatsRecorder,
        *,
        base_delay: float = 0.5,
        max_delay: float = 10.0,
        on_committed: Callable[[PendingSegment], None] | None = None,
        durable: bool = False,
    ) -> None:
        self._stats = stats
        self._pending: deque[PendingSegment] = deque()
        self._bytes = 0
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._on_committed = on_committed
        self._durable = durable
        self._next_key = 0
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._in_flight: PendingSegment | None = None
        self._blocked_until: dict[str, float] = {}
        self._store_failures: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._converter: ThreadPoolExecutor | None = None
        self._ahead: Future[Path] | None = None

    # -- the backlog -------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        relative_path: str,
        destination: Destination,
        collection: str,
        size: int,
        events: int,
        *,
        format: str = "jsonl",
        first_time_ns: int | None = None,
        last_time_ns: int | None = None,
        columns: dict[str, str] | None = None,
    ) -> PendingSegment:
        """Queue a closed segment for publishing (and wake the committer thread)."""
        with self._lock:
            pending = PendingSegment(
                self._next_key,
                path,
                relative_path,
                destination,
                collection,
                size,
                events,
                format=format,
                first_time_ns=first_time_ns,
                last_time_ns=last_time_ns,
                columns=columns,
            )
            self._next_key += 1
            self._pending.append(pending)
            self._bytes += size
            self._wakeup.notify()
            busy = self._in_flight is not None
        if busy:
            self._convert_ahead()  # the committer is on an earlier segment: start on this one
        return pending

    @property
    def last_key(self) -> int:
        """The key of the most recently added segment (-1 before any)."""
        return self._next_key - 1

    @property
    def backlog(self) -> list[PendingSegment]:
        """Segments not yet published, oldest first."""
        with self._lock:
            return list(self._pending)

    @property
    def backlog_bytes(self) -> int:
        """Bytes waiting in closed segments."""
        return self._bytes

    def oldest_age(self) -> float:
        """Seconds the oldest waiting segment has waited."""
        with self._lock:
            return time.monotonic() - self._pending[0].closed_at if self._pending else 0.0

    def is_done(self, key: int) -> bool:
        """Whether segment ``key`` (and so every earlier one) has left the backlog."""
        with self._lock:
            return all(p.key > key for p in self._pending)

    # -- publishing --------------------------------------------------------------------------

    def commit_due(self, *, ignore_backoff: bool = False) -> int:
        """Try every segment whose retry time has come; return how many were published (or
        found gone). Segments are tried fewest attempts first, then oldest, so one segment that
        keeps failing never holds up the others. After a store failure the rest of that
        destination waits for the destination's own backoff (the store is most likely down).
        With ``ignore_backoff`` (shutdown, tests) every segment is tried once, oldest first,
        stopping at the first store failure."""
        done = 0
        tried: set[int] = set()
        while True:
            now = time.monotonic()
            with self._lock:
                due = [
                    p
                    for p in self._pending
                    if p.key not in tried
                    and (
                        ignore_backoff
                        or (
                            p.next_attempt <= now
                            and self._blocked_until.get(p.destination.url, 0.0) <= now
                        )
                    )
                ]
                if not due:
                    return done
                pending = due[0] if ignore_backoff else min(due, key=_attempt_order)
                self._in_flight = pending
            tried.add(pending.key)
            outcome = _STORE_FAILED
            try:
                outcome = self._publish(pending)
            finally:
                with self._lock:
                    self._in_flight = None
                    if outcome == _DONE and pending in self._pending:
                        self._pending.remove(pending)
                        self._bytes -= pending.size
            url = pending.destination.url
            if outcome == _DONE:
                done += 1
                self._blocked_until.pop(url, None)
                self._store_failures.pop(url, None)
            elif outcome == _STORE_FAILED:
                failures = self._store_failures.get(url, 0) + 1
                self._store_failures[url] = failures
                self._blocked_until[url] = time.monotonic() + self._delay(failures)
                if ignore_backoff:
                    return done  # shutting down with the store away: leave the rest waiting

    def _delay(self, failures: int) -> float:
        """Exponential backoff with jitter after ``failures`` failures in a row."""
        delay = min(self._max_delay, self._base_delay * 2.0 ** min(failures - 1, 60))
        return delay * random.uniform(0.5, 1.5)

    def _prepare(self, pending: PendingSegment) -> Path:
        """The file to upload: the segment itself, or its Parquet conversion (awaited from the
        converter thread if it got there first, else made here). The segment is in flight, so
        neither the converter nor ``drop_oldest`` touches it meanwhile."""
        if not get_format(pending.format).converts:
            return pending.path
        with self._lock:
            ahead, pending.conversion = pending.conversion, None
        self._convert_ahead()
        if ahead is not None:
            return ahead.result()  # a failed conversion raises here and is tried afresh later
        return self._convert(pending)

    def _convert(self, pending: PendingSegment) -> Path:
        converted = pending.path.with_name(pending.path.name + CONVERTED_SUFFIX)
        if not converted.exists():
            temp = converted.with_name(converted.name + ".tmp")
            folder = pending.relative_path.rpartition("/")[0]
            get_format(pending.format).commit_file(
                pending.path,
                temp,
                durable=self._durable,
                committed_as=pending.destination.join(pending.relative_path),
                history=pending.destination.tree(split_partition(folder)[0]),
            )
            temp.replace(converted)
        return converted

    def _convert_ahead(self) -> None:
        """Start converting the oldest waiting Parquet segment nobody converts yet on the
        converter thread, unless it is busy; a failing destination's segments wait their turn."""
        now = time.monotonic()
        with self._lock:
            if self._stopping or (self._ahead is not None and not self._ahead.done()):
                return
            upcoming = next(
                (
                    p
                    for p in self._pending
                    if get_format(p.format).converts
                    and p is not self._in_flight
                    and p.conversion is None
                    and p.attempts == 0
                    and p.size > 0
                    and self._blocked_until.get(p.destination.url, 0.0) <= now
                ),
                None,
            )
            if upcoming is None:
                return
            if self._converter is None:
                self._converter = ThreadPoolExecutor(1, thread_name_prefix="modeltap-converter")
            upcoming.conversion = self._ahead = self._converter.submit(self._convert, upcoming)

    def _failed(self, pending: PendingSegment, exc: Exception, what: str) -> None:
        pending.attempts += 1
        pending.next_attempt = time.monotonic() + self._delay(pending.attempts)
        self._stats.commit_failures += 1
        message = f"{what} of {pending.relative_path} failed (attempt {pending.attempts}): {exc}"
        self._stats.error(message)
        if pending.attempts == 1 or pending.attempts % 10 == 0:
            logger.warning("%s; it waits in the spool and is retried", message)

    def _publish(self, pending: PendingSegment) -> str:
        if pending.attempts:
            self._stats.commit_retries += 1
        if pending.size == 0:
            pending.path.unlink(missing_ok=True)
            return _DONE
        converted = pending.path.with_name(pending.path.name + CONVERTED_SUFFIX)
        if not pending.path.exists() and not converted.exists():
            message = f"spool segment {pending.path} disappeared before its commit"
            logger.error("%s; its %d event(s) are lost", message, pending.events)
            self._stats.error(message)
            self._stats.dropped(pending.collection, "spool_lost", pending.events)
            return _DONE
        try:
            upload = self._prepare(pending)
        except Exception as exc:  # a local problem: the store is not to blame
            self._failed(pending, exc, "conversion")
            return _LOCAL_FAILED
        try:
            pending.destination.publish(upload, pending.relative_path)
        except Exception as exc:
            self._failed(pending, exc, "commit")
            return _STORE_FAILED
        if upload != pending.path:
            pending.path.unlink(missing_ok=True)
        self._stats.committed(pending.collection)
        if self._on_committed is not None:
            try:
                self._on_committed(pending)
            except Exception:  # a hook's failure never undoes the commit
                logger.exception("the on_committed hook failed for %s", pending.relative_path)
        return _DONE

    def drop_oldest(self) -> PendingSegment | None:
        """Delete the oldest waiting segment (spool full, policy ``drop_oldest``); never the one
        being uploaded or converted."""
        with self._lock:
            victim = next(
                (
                    p
                    for p in self._pending
                    if p is not self._in_flight and (p.conversion is None or p.conversion.done())
                ),
                None,
            )
            if victim is None:
                return None
            self._pending.remove(victim)
            self._bytes -= victim.size
        victim.path.unlink(missing_ok=True)
        victim.path.with_name(victim.path.name + CONVERTED_SUFFIX).unlink(missing_ok=True)
        return victim

    # -- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Publish on a daemon thread of its own from now on."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="modeltap-committer", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        """Look at the backlog now (after new segments or at flush)."""
        with self._lock:
            self._wakeup.notify()

    def _next_due(self) -> float:
        """Seconds until some segment may be tried (call with the lock held)."""
        now = time.monotonic()
        waits = [
            max(p.next_attempt, self._blocked_until.get(p.destination.url, 0.0)) - now
            for p in self._pending
        ]
        return max(0.0, min(waits)) if waits else 1.0

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                wait = self._next_due()
                if wait > 0:
                    self._wakeup.wait(min(wait, 1.0))
                if self._stopping:
                    return
            try:
                self.commit_due()
            except Exception as exc:  # pragma: no cover - reported, the thread keeps running
                logger.exception("the committer failed")
                self._stats.error(f"committer failed: {exc}")
                time.sleep(self._base_delay)

    def stop(self, timeout: float | None = None) -> bool:
        """End the thread, then try each waiting segment once more (stopping at the first
        failure). True if the thread ended within ``timeout``."""
        thread = self._thread
        with self._lock:
            self._stopping = True
            self._wakeup.notify_all()
        ended = True
        if thread is not None:
            thread.join(timeout)
            ended = not thread.is_alive()
        if ended:
            self.commit_due(ignore_backoff=True)
        if self._converter is not None:
            self._converter.shutdown(wait=True)  # a conversion ahead finishes; its file is kept
        return ended
