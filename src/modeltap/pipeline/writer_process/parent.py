"""The writer in a process of its own (``writer: process``): events leave this process packed,
so their encoding, writing and committing never hold its GIL.

A forwarder thread takes the queue's events as they wait in it (packed) and sends them in
frames to the writer process (``child``), flushes and the final stop in between. The
process reports how far it got; every frame it has not finished is kept here, and if the
process dies a new one is started and gets them again (skipping what the dead one handled), so
a crash of the writer process loses nothing. If it keeps dying on the same frame without
getting further, that frame is dropped and counted (``writer_crashed``), so one poison event
cannot stop the pipeline. Counters are this process's plus the writer process's, as it last
reported them.

A stop has a limit (``stop_timeout``, ``STOP_TIMEOUT`` by default): a writer process that cannot
finish it in time (a destination that hangs) gives up and exits, and one that does not answer
when the caller of the stop gives up first is killed (``abort``). Either way what it wrote stays
in its spool for the next start, and the events it had not confirmed written, with those still
waiting here, are dropped and counted (``writer_lost``) and the stop reports that it did not
finish.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from modeltap import errors
from modeltap.config import Settings
from modeltap.errors import ConfigError, ModelTapError, WriterCrashedError, WriterLostError
from modeltap.event import APPROX_BYTES, COLLECTION, QueuedEvent
from modeltap.pipeline.ack import SpoolBarrier
from modeltap.pipeline.control import FlushRequest, StopRequest
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.writer import Writer
from modeltap.pipeline.writer_process import wire
from modeltap.stats import CollectionStats, PipelineStats, StatsRecorder

__all__ = ["STOP_TIMEOUT", "WriterProcess", "combine_stats"]

logger = logging.getLogger("modeltap.writer")

# at most this many events, and about this many bytes (an event's approx_bytes), in one frame:
# the forwarder holds the caller's GIL while it pickles a frame, and gives it up in the write
# that sends it
_FRAME_EVENTS = 64
_FRAME_BYTES = 1 << 20
_GIVE_UP_AFTER = 2  # crashes without progress before the frame in the way is dropped
_STOP_GRACE = 5.0  # seconds a stopped writer process gets to exit before it is killed
_WAKE_UP = object()  # a control item that only wakes the forwarder
STOP_TIMEOUT = 60.0
"""Seconds a writer process's stop may take before it exits without finishing it."""


@dataclasses.dataclass
class _Sent:
    """A frame the writer process has not finished: events ``first``..``end - 1`` (with their
    collections), or a flush or stop (``request``)."""

    data: bytes
    first: int = 0
    end: int = 0
    collections: list[str] = dataclasses.field(default_factory=list)
    token: int | None = None
    request: FlushRequest | None = None


class WriterProcess:
    """Owns the writer process; the same surface as ``Writer`` for the runtime."""

    def __init__(
        self,
        settings: Settings,
        queue: EventQueue,
        stats: StatsRecorder,
        report_drop: Any,
        tick: float = 0.1,
        barrier: SpoolBarrier | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        if not stop_timeout > 0:
            raise ConfigError(
                f"stop_timeout must be a positive number of seconds, not {stop_timeout!r}"
            )
        self._settings = settings
        self._stop_timeout = stop_timeout
        self._barrier = barrier  # ack: spool
        self._marks: deque[tuple[int, int]] = deque()  # (events sent, queue take mark)
        self._queue = queue
        self._stats = stats
        self._report_drop = report_drop
        self._tick = tick
        Writer.check_destinations(settings)  # a missing extra or a bad URL fails here
        self._lock = threading.Lock()
        self._outstanding: deque[_Sent] = deque()
        self._tokens = itertools.count()
        self._sent = 0  # events sent so far; the next one gets this number
        self._done = 0  # events the writer processes have handled
        self._remote: PipelineStats | None = None  # the live writer process's last report
        self._remote_at = 0.0  # when it came (monotonic)
        self._retired: list[PipelineStats] = []  # last reports of writer processes that died
        self._process: subprocess.Popen[bytes] | None = None  # started with the first event
        self._reader: threading.Thread | None = None  # reads the live writer process's replies
        self._launching = threading.Lock()
        self._ready = threading.Event()
        self._crashed = threading.Event()
        self._stopping = False
        self._aborted = False  # a stop that did not finish in time: the process was killed
        self._abandoned = False  # the writer process gave up its stop (stop_timeout) and exits
        self._stuck_at = -1  # ``_done`` when the writer process last died
        self._stuck_count = 0
        self._thread = threading.Thread(target=self._run, name="modeltap-forwarder", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the forwarder thread (the writer process starts with the first event, or with
        ``launch``)."""
        self._thread.start()

    def launch(self, timeout: float | None) -> bool:
        """Start the writer process now if it is not running and wait up to ``timeout`` seconds
        until it is ready; True if it is."""
        self._ensure_launched()
        return self._ready.wait(timeout)

    def _ensure_launched(self) -> None:
        with self._launching:
            if self._process is None:
                self._launch()

    def join(self, timeout: float | None) -> bool:
        """Wait for the forwarder to end (after a stop); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the forwarder runs."""
        return self._thread.is_alive()

    def abort(self) -> None:
        """A stop that did not finish in time: kill the writer process (SIGKILL; its spool
        folder and lock go with it, the next start commits what it wrote) and end the
        forwarder. The events it had not confirmed written, and those still queued here, are
        dropped and counted as ``writer_lost``."""
        with self._lock:
            self._aborted = True
            process = self._process
        self._queue.put_control(_WAKE_UP)
        if process is not None and process.poll() is None:
            process.kill()
        reader = self._reader
        if reader is not None:
            reader.join(_STOP_GRACE)  # what it reported before it died counts as confirmed
        lost = self._lose_unconfirmed()
        lost.update(self._lose_queued())
        if process is None or not lost:
            return
        logger.error(
            "the writer process %d did not stop in time and was killed; %d event(s) it had not "
            "confirmed written are dropped (writer_lost; those it wrote are committed at the "
            "next start)",
            process.pid,
            sum(lost.values()),
        )

    def _lose_unconfirmed(self) -> Counter[str]:
        """Count the events sent to the writer process and not confirmed written as
        ``writer_lost`` (they count as done from now on)."""
        with self._lock:
            lost: Counter[str] = Counter()
            for sent in self._outstanding:
                if sent.token is None and sent.end > self._done:
                    lost.update(sent.collections[max(0, self._done - sent.first) :])
            self._done = self._sent
            self._forget_done()
        self._count_lost(lost)
        return lost

    def _lose_queued(self) -> Counter[str]:
        """Count the events still in this process's queue as ``writer_lost`` (after an
        abort: no writer process takes them any more)."""
        return self._lose_items(self._queue.take_all_packed(0.0))

    def _lose_items(self, items: list[Any]) -> Counter[str]:
        """Queue items no writer process will take (after an abort): their events are
        counted as ``writer_lost``, their flushes and stops end incomplete."""
        lost = Counter(item[COLLECTION] for item in items if type(item) is tuple)
        self._count_lost(lost)
        for item in items:
            request = item.flush if isinstance(item, StopRequest) else item
            if isinstance(request, FlushRequest):
                request.incomplete = True
                request.done.set()
        return lost

    def _count_lost(self, lost: Counter[str]) -> None:
        self._count_drops(
            lost,
            "writer_lost",
            lambda collection, count: WriterLostError(
                f"the writer process stopped before it had written {count} event(s) of "
                f"{collection!r}: a stop that did not finish in time"
            ),
        )

    def _count_drops(
        self,
        dropped: Counter[str],
        reason: str,
        error: Callable[[str, int], ModelTapError],
    ) -> None:
        """Count events of each collection dropped for ``reason`` and report each drop with
        the error ``error(collection, count)`` makes."""
        for collection, count in dropped.items():
            self._stats.dropped(collection, reason, count)
            self._report_drop(error(collection, count), collection)

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None before start)."""
        return None if self._process is None else self._process.pid

    def abandon_after_fork(self) -> None:
        """In a forked child: let go of the pipes to the parent's writer process, so it still
        sees its input end when the parent stops."""
        process = self._process
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()

    def gauges(self) -> dict[str, float]:
        """The writer process's spool and backlog gauges, as it last reported them (the
        backlog's age as of now)."""
        remote = self._aged_remote()
        if remote is None:
            return {
                "spool_bytes": 0,
                "spool_segments": 0,
                "oldest_waiting_age": 0.0,
                "spool_write_failing": 0.0,
            }
        return {
            "spool_bytes": remote.spool_bytes,
            "spool_segments": remote.spool_segments,
            "oldest_waiting_age": remote.oldest_waiting_age,
            "spool_write_failing": float(remote.spool_write_failing),
        }

    def combined(self, local: PipelineStats) -> PipelineStats:
        """``local`` (this process's counters) with those of the writer processes."""
        live = self._aged_remote()
        with self._lock:
            remotes = [*self._retired, *([live] if live else [])]
        return combine_stats(local, remotes)

    def _aged_remote(self) -> PipelineStats | None:
        """The live writer process's last report, its backlog's age carried forward to now."""
        with self._lock:
            remote, at = self._remote, self._remote_at
        if remote is None or remote.oldest_waiting_age <= 0:
            return remote
        age = remote.oldest_waiting_age + time.monotonic() - at
        return dataclasses.replace(remote, oldest_waiting_age=age)

    # -- the writer process ------------------------------------------------------------------

    def _launch(self) -> None:
        """Start a writer process and send it everything it has to do."""
        environment = dict(os.environ)
        # the child finds this installation of modeltap however this process found it
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = subprocess.Popen(
            [sys.executable, "-m", "modeltap.pipeline.writer_process.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            start_new_session=True,  # a Ctrl-C meant for this process must not reach it
        )
        with self._lock:  # a reply thread of the last process decides under the same lock
            self._process = process
            self._crashed.clear()
            self._ready.clear()
        assert process.stdin is not None and process.stdout is not None
        reader = threading.Thread(
            target=self._read,
            args=(process, process.stdout.fileno()),
            name="modeltap-writer-replies",
            daemon=True,
        )
        self._reader = reader
        reader.start()
        level = logging.getLogger("modeltap").getEffectiveLevel()
        with self._lock:
            base = self._done
            backlog = [sent.data for sent in self._outstanding]
        start = ("start", self._settings, base, level, self._stop_timeout)
        try:
            wire.send(process.stdin.fileno(), wire.frame(start))
            for data in backlog:
                wire.send(process.stdin.fileno(), data)
        except OSError:
            self._crashed.set()

    def _send(self, sent: _Sent) -> None:
        """Keep ``sent`` until it is done and send it (a dead writer process is replaced)."""
        if not self._aborted:
            self._ensure_launched()  # before keeping it: a launch sends what is kept
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._outstanding.append(sent)
        if aborted:  # no writer process takes it any more
            self._lose_items([sent.request] if sent.request is not None else [])
            self._count_lost(Counter(sent.collections))
            return
        process = self._process
        assert process is not None and process.stdin is not None
        try:
            wire.send(process.stdin.fileno(), sent.data)
        except OSError:
            self._crashed.set()  # the replacement gets it with the rest of the backlog
        if self._crashed.is_set():
            self._replace()

    def _replace(self) -> None:
        """Start a new writer process after the last one died."""
        process = self._process
        assert process is not None
        if self._aborted:
            return  # killed on purpose: not replaced
        code = _reap(process, timeout=1.0)
        with self._lock:
            if self._remote is not None:
                self._retired.append(self._remote)
                self._remote = None
            if self._done == self._stuck_at:
                self._stuck_count += 1
            else:
                self._stuck_at, self._stuck_count = self._done, 1
            stuck = self._stuck_count
        logger.error(
            "the writer process %d ended unexpectedly (exit code %s; what it said is on this "
            "process's stderr); starting a new one, which takes over the %d event(s) not "
            "written yet",
            process.pid,
            code,
            self._sent - self._done,
        )
        if stuck > _GIVE_UP_AFTER:
            self._drop_first_frame()
            time.sleep(min(30.0, 0.5 * 2**stuck))  # a writer that cannot start: do not spin
        self._launch()

    def _drop_first_frame(self) -> None:
        """Give up on the first frame not done: count its events as dropped and skip them."""
        with self._lock:
            sent = next((s for s in self._outstanding if s.token is None), None)
            if sent is None:
                return
            lost = Counter(sent.collections[max(0, self._done - sent.first) :])
            self._done = max(self._done, sent.end)
            self._forget_done()
        self._resolve_marks()
        self._count_drops(
            lost,
            "writer_crashed",
            lambda collection, count: WriterCrashedError(
                f"the writer process crashed {_GIVE_UP_AFTER + 1} times on the same events; "
                f"dropped {count} event(s) of {collection!r}"
            ),
        )

    def _mark(self, take_mark: int) -> None:
        """ack: spool: the events of one take from the queue are all sent; once the writer
        process has handled them, every event numbered below ``take_mark`` is in its spool."""
        if self._barrier is None:
            return
        with self._lock:
            self._marks.append((self._sent, take_mark))
        self._resolve_marks()

    def _resolve_marks(self) -> None:
        """Release the requests waiting for events the writer process has handled."""
        if self._barrier is None:
            return
        handled = -1
        with self._lock:
            while self._marks and self._marks[0][0] <= self._done:
                handled = self._marks.popleft()[1]
        if handled >= 0:
            self._barrier.resolve(handled)

    def _forget_done(self) -> None:
        """Let go of the event frames the writer processes have finished (under the lock)."""
        while self._outstanding:
            first = self._outstanding[0]
            if first.token is not None or first.end > self._done:
                return
            self._outstanding.popleft()

    # -- replies -----------------------------------------------------------------------------

    def _read(self, process: subprocess.Popen[bytes], fd: int) -> None:
        """The replies of one writer process, until its pipe closes."""
        while True:
            try:
                message = wire.receive(fd)
            except (EOFError, OSError):
                message = None
            if message is None:
                break
            kind = message[0]
            if kind == "ready":
                self._ready.set()
            elif kind == "progress":
                self._progress(message[1], message[2])
            elif kind in ("flushed", "stopped"):
                self._progress(message[2], message[3])
                self._finish_request(message[1])
            elif kind == "abandoned":
                self._progress(message[2], message[3])
                with self._lock:
                    self._abandoned = True
            elif kind == "log":
                logging.getLogger(message[1]).log(message[2], "%s", message[3])
            elif kind == "drop":
                error_class = getattr(errors, message[2], ModelTapError)
                self._report_drop(error_class(message[3]), message[1])
        with self._lock:
            crashed = (
                process is self._process
                and not self._aborted
                and not self._abandoned
                and not (self._stopping and not self._outstanding)
            )
            if crashed:
                self._crashed.set()
        if crashed:
            self._queue.put_control(_WAKE_UP)  # the forwarder replaces it now, not on its tick

    def _progress(self, done: int, remote: PipelineStats) -> None:
        with self._lock:
            self._done = max(self._done, done)
            self._remote, self._remote_at = remote, time.monotonic()
            self._forget_done()
        self._resolve_marks()

    def _finish_request(self, token: int) -> None:
        with self._lock:
            sent = next((s for s in self._outstanding if s.token == token), None)
            if sent is not None:
                self._outstanding.remove(sent)
                self._forget_done()
        if sent is not None and sent.request is not None:
            sent.request.done.set()

    # -- the forwarder -----------------------------------------------------------------------

    def _run(self) -> None:
        events: list[QueuedEvent] = []
        size = 0
        while True:
            items = self._queue.take_all_packed(self._tick)
            take_mark = self._queue.take_mark
            if self._aborted:
                self._lose_items(items)
                return
            if self._crashed.is_set():
                self._replace()
            for item in items:
                if type(item) is tuple:  # a QueuedEvent; control items are other types
                    if len(events) == _FRAME_EVENTS or (
                        events and size + item[APPROX_BYTES] > _FRAME_BYTES
                    ):
                        self._send_events(events)
                        events, size = [], 0
                    events.append(item)
                    size += item[APPROX_BYTES]
                    continue
                self._send_events(events)
                events, size = [], 0
                if isinstance(item, FlushRequest):
                    self._send_request("flush", item)
                elif isinstance(item, StopRequest):
                    self._stop(item)
                    return
            self._send_events(events)
            events, size = [], 0
            self._mark(take_mark)

    def _send_events(self, events: list[QueuedEvent]) -> None:
        if not events:
            return
        first = self._sent
        self._sent += len(events)
        data = wire.events_frame(first, events)
        self._send(_Sent(data, first, self._sent, [event[COLLECTION] for event in events]))

    def _send_request(self, kind: str, request: FlushRequest) -> None:
        if self._process is None:  # never sent anything: nothing to flush
            request.done.set()
            return
        token = next(self._tokens)
        self._send(_Sent(wire.frame((kind, token)), token=token, request=request))

    def _stop(self, stop: StopRequest) -> None:
        """Send the stop, then see the writer process out (replacing it if it dies first)."""
        with self._lock:
            self._stopping = True
        self._send_request("stop", stop.flush)
        while self._process is not None:
            process = self._process
            assert process is not None
            if self._aborted:
                _reap(process, timeout=_STOP_GRACE)
                return
            if self._abandoned:
                self._gave_up(process)
                return
            if stop.flush.done.wait(self._tick):
                _reap(process, timeout=_STOP_GRACE)
                for pipe in (process.stdin, process.stdout):
                    if pipe is not None:
                        pipe.close()
                return
            if self._crashed.is_set():
                self._replace()

    def _gave_up(self, process: subprocess.Popen[bytes]) -> None:
        """The writer process gave up its stop (``stop_timeout``) and exits: count what it had
        not written, and end the stop and every flush still waiting as incomplete."""
        _reap(process, timeout=_STOP_GRACE)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        lost = self._lose_unconfirmed()
        remote = self._aged_remote()
        segments = 0 if remote is None else remote.spool_segments
        logger.error(
            "the writer process %d could not finish its stop within %g s and exited; %d "
            "event(s) it had not written are dropped (writer_lost), and the %d segment(s) it "
            "did not commit wait in its spool for the next start",
            process.pid,
            self._stop_timeout,
            sum(lost.values()),
            segments,
        )
        self._stats.error(f"the writer process could not stop within {self._stop_timeout:g} s")
        with self._lock:
            waiting = [sent.request for sent in self._outstanding if sent.request is not None]
            self._outstanding.clear()
        for request in waiting:
            request.incomplete = True
            request.done.set()


def _reap(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Wait for ``process`` to exit (killing it after ``timeout``); its exit code."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def combine_stats(local: PipelineStats, remotes: list[PipelineStats]) -> PipelineStats:
    """Counters summed over ``local`` and ``remotes`` (each counts what happened on its side);
    gauges of ``local`` plus the last remote's (the live writer process)."""
    if not remotes:
        return local
    live = remotes[-1]
    names = sorted({name for stats in (local, *remotes) for name in stats.collections})
    collections: dict[str, CollectionStats] = {}
    for name in names:
        parts = [s.collections[name] for s in (local, *remotes) if name in s.collections]
        dropped: Counter[str] = Counter()
        for part in parts:
            dropped.update(part.dropped)
        collections[name] = CollectionStats(
            collected=sum(p.collected for p in parts),
            sampled_out=sum(p.sampled_out for p in parts),
            dropped=dict(dropped),
            events_written=sum(p.events_written for p in parts),
            rows_written=sum(p.rows_written for p in parts),
            bytes_written=sum(p.bytes_written for p in parts),
            files_committed=sum(p.files_committed for p in parts),
        )
    errored = [s for s in (local, *remotes) if s.last_error_time is not None]
    latest = max(errored, key=lambda s: s.last_error_time or 0.0, default=local)
    return PipelineStats(
        collections=collections,
        queue_depth=local.queue_depth + live.queue_depth,
        queue_bytes=local.queue_bytes + live.queue_bytes,
        spool_bytes=live.spool_bytes,
        spool_segments=live.spool_segments,
        commit_failures=local.commit_failures + sum(s.commit_failures for s in remotes),
        commit_retries=local.commit_retries + sum(s.commit_retries for s in remotes),
        oldest_waiting_age=live.oldest_waiting_age,
        last_error=latest.last_error,
        last_error_time=latest.last_error_time,
        spool_write_failing=live.spool_write_failing,
    )
