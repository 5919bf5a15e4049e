"""The writer process: the writer thread, its spool and its committer in a process of their
own, started by ``WriterProcess`` as
``python -m modeltap.pipeline.writer_process.child``.

It reads frames (``wire``) from its stdin and answers on its stdout:

* ``("start", settings, base, log_level, stop_timeout)`` comes first, answered by
  ``("ready",)`` once the writer's destinations are open;
* ``("events", first, packed_events)``: events numbered ``first``, ``first + 1``, ... in the
  parent's pipeline; those below ``base`` were handled by an earlier writer process and are
  skipped;
* ``("flush", token)`` is answered by ``("flushed", token, done, stats)`` once everything before
  it is committed; ``("stop", token)`` by ``("stopped", token, done, stats)`` as the process
  ends, or by ``("abandoned", token, done, stats)`` when the stop could not finish in time
  (see below); end of input or a new parent process (the parent died) stops it the same way,
  unanswered;
* ``("progress", done, stats)`` is sent as the writer works, ``("drop", collection, kind,
  message)`` for every drop the writer reports, ``("log", logger, level, message)`` for every
  log record of the package (the parent logs it through its own logging).

``done`` numbers the events the writer has handled (appended to the spool, or dropped and
counted): the parent keeps every frame not done yet, to send again to a new writer process if
this one dies.

A stop that does not finish within ``stop_timeout`` seconds (``STOP_TIMEOUT`` unless the parent
says otherwise; a destination that hangs) ends the process all the same, after an error in the
log and the ``abandoned`` answer: what it did not commit stays in its spool folder, whose lock
goes with the process, and the next start commits it; the parent counts what it had not written
(``writer_lost``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from modeltap.config import FullPolicy, Settings, ack_mode
from modeltap.errors import ModelTapError, QueueFullError
from modeltap.pipeline.control import FlushRequest, StopRequest
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.runtime import default_spool_dir, envelope_for, swap_settings
from modeltap.pipeline.spool import Spool
from modeltap.pipeline.writer import Writer
from modeltap.pipeline.writer_process import wire
from modeltap.pipeline.writer_process.parent import STOP_TIMEOUT
from modeltap.stats import PipelineStats, StatsRecorder
from modeltap.store.layout import instance_id

__all__ = ["EXIT_ABANDONED", "STOP_TIMEOUT", "WriterChild", "main"]

logger = logging.getLogger("modeltap.writer")

_PROGRESS_INTERVAL = 0.05  # seconds between progress reports while the writer works
_AGE_INTERVAL = 1.0  # seconds between reports of a waiting backlog's age alone
_PARENT_CHECK_INTERVAL = 0.5  # seconds between two looks at whether the parent still lives
EXIT_ABANDONED = 4
"""The exit code of a writer process that gave up a stop it could not finish in time."""


class _TallyQueue(EventQueue):
    """An EventQueue that knows how many events the writer has handled: the writer asks for
    more only once it has handled everything it took."""

    handled = 0

    def take_all_packed(self, timeout: float) -> list[Any]:
        """See ``EventQueue.take_all_packed``; first counts what the last call handed out."""
        self.handled = self.taken
        return super().take_all_packed(timeout)

    def discard_all(self) -> Any:
        """See ``EventQueue.discard_all``: the writer's stop calls it once it has handled what
        it took last (so a stop that hangs on the destination after that reports it)."""
        self.handled = self.taken
        return super().discard_all()


class WriterChild:
    """One writer process's pipeline, fed from ``inbox`` and reporting to ``outbox``."""

    def __init__(
        self,
        settings: Settings,
        base: int,
        inbox: int,
        outbox: int,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        collector = settings.collector
        self._base = base
        self._stop_timeout = stop_timeout
        self._inbox = inbox
        self._outbox = outbox
        self._tell_lock = threading.Lock()
        self.stats = StatsRecorder()
        # BLOCK: when the writer falls behind, stop reading; the parent's queue and its full
        # policy then decide, where the request threads see the outcome
        self.queue = _TallyQueue(
            max_events=collector.queue_max_events,
            max_bytes=collector.queue_max_bytes,
            policy=FullPolicy.BLOCK,
            block_timeout=1.0,
        )
        self.spool = Spool(default_spool_dir(settings), instance_id(), collector.fsync)
        # ack: spool: the writer takes each frame at once, and the parent learns at the end of
        # each turn what is in the spool
        self._ack = ack_mode(settings) == "spool"
        self.writer = Writer(
            settings, self.queue, self.stats, self.spool, envelope_for(settings), self._dropped,
            on_turn=self._turned if self._ack else None,
        )
        self._stopped = threading.Event()
        self._stopping = threading.Lock()
        self._parent = os.getppid()

    @property
    def done(self) -> int:
        """The number of the first event the writer has not handled yet."""
        return self._base + self.queue.handled

    def snapshot(self) -> PipelineStats:
        """This process's counters and gauges."""
        gauges = self.writer.gauges()
        return self.stats.snapshot(
            queue_depth=self.queue.depth,
            queue_bytes=self.queue.nbytes,
            spool_bytes=int(gauges["spool_bytes"]),
            spool_segments=int(gauges["spool_segments"]),
            oldest_waiting_age=gauges["oldest_waiting_age"],
            spool_write_failing=bool(gauges["spool_write_failing"]),
        )

    def _turned(self, take_mark: int) -> None:
        """The writer's turn ended (``ack: spool``): everything it took is in the spool."""
        self.tell(("progress", self._base + self.queue.taken, self.snapshot()))

    def tell(self, message: tuple[Any, ...]) -> None:
        """Send one reply to the parent (from any thread)."""
        data = wire.frame(message)
        # OSError: the parent is gone; what was written is committed all the same
        with self._tell_lock, contextlib.suppress(OSError):
            wire.send(self._outbox, data)

    def _dropped(self, error: ModelTapError, collection: str) -> None:
        self.stats.error(str(error))
        self.tell(("drop", collection, type(error).__name__, str(error)))

    def serve(self) -> None:
        """Run until told to stop or until the parent closes the pipe."""
        self.writer.start()
        reporter = threading.Thread(target=self._report, name="modeltap-progress", daemon=True)
        reporter.start()
        threading.Thread(target=self._watch_parent, name="modeltap-parent", daemon=True).start()
        while True:
            message = wire.receive(self._inbox)
            if message is None:
                self._stop(None)
                return
            kind = message[0]
            if kind == "events":
                self._take(message[1], message[2])
            elif kind == "flush":
                request = FlushRequest()
                self.queue.put_control(request)
                threading.Thread(
                    target=self._answer_flush, args=(message[1], request), daemon=True
                ).start()
            elif kind == "stop":
                self._stop(message[1])
                return

    def _take(self, first: int, events: list[Any]) -> None:
        for packed in events[max(0, self._base - first) :]:
            while True:
                try:
                    self.queue.put_packed(packed)
                    break
                except QueueFullError:
                    continue  # the writer is behind: wait on
        if self._ack:
            self.queue.wake()

    def _answer_flush(self, token: int, request: FlushRequest) -> None:
        request.done.wait()
        self.tell(("flushed", token, self.done, self.snapshot()))

    def _stop(self, token: int | None) -> None:
        """Flush and stop the writer (once, whoever asks first), within the stop timeout;
        past it, answer ``abandoned`` and exit."""
        if not self._stopping.acquire(blocking=False):
            self._stopped.wait()  # the other thread stops it (or ends the process)
            return
        stop = StopRequest()
        self.queue.put_control(stop)
        deadline = time.monotonic() + self._stop_timeout
        if not (
            stop.flush.done.wait(self._stop_timeout)
            and self.writer.join(max(0.0, deadline - time.monotonic()))
        ):
            snapshot = self.snapshot()
            logger.error(
                "the writer process could not stop within %g s; it exits now, and the %d "
                "segment(s) it did not commit are committed from its spool at the next start",
                self._stop_timeout,
                snapshot.spool_segments,
            )
            if token is not None:
                self.tell(("abandoned", token, self.done, snapshot))
            os._exit(EXIT_ABANDONED)  # the spool lock goes with the process
        self._stopped.set()
        done = self._base + self.queue.taken  # the writer wrote what it took at the end too
        if token is not None:
            self.tell(("stopped", token, done, self.snapshot()))

    def _watch_parent(self) -> None:
        """End the process once its parent is gone, even while the main thread waits for
        room in the queue rather than reading its input."""
        while not self._stopped.wait(_PARENT_CHECK_INTERVAL):
            if os.getppid() != self._parent:
                logger.warning("the writer process's parent is gone; it stops")
                self._stop(None)
                os._exit(0)

    def _report(self) -> None:
        """Report progress whenever it, a counter or a gauge changed (traffic or not: a backlog
        that drains or grows after the last event shows), and the age of a waiting backlog at
        least every ``_AGE_INTERVAL``."""
        last: tuple[int, PipelineStats] | None = None
        last_sent = 0.0
        while not self._stopped.wait(_PROGRESS_INTERVAL):
            done = self.done
            snapshot = self.snapshot()
            key = (done, dataclasses.replace(snapshot, oldest_waiting_age=0.0))
            now = time.monotonic()
            aged = snapshot.oldest_waiting_age > 0 and now - last_sent >= _AGE_INTERVAL
            if key != last or aged:
                last, last_sent = key, now
                self.tell(("progress", done, snapshot))


class _ParentLog(logging.Handler):
    """Sends the writer's log records to the parent, which logs them through its own logging
    (its handlers, format and levels)."""

    def __init__(self, child: WriterChild) -> None:
        super().__init__()
        self._child = child

    def emit(self, record: logging.LogRecord) -> None:
        """Send one record, its traceback included."""
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            self._child.tell(("log", record.name, record.levelno, message))
        except Exception:  # pragma: no cover - logging must never raise into the writer
            self.handleError(record)


def main() -> int:
    """Entry point of the writer process."""
    # the terminal's Ctrl-C is for the parent, which flushes through this process as it stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # keep the pipes private: whatever a library prints goes to stderr, not into the frames
    inbox, outbox = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    start = wire.receive(inbox)
    if start is None or start[0] != "start":
        return 2
    _, settings, base, log_level, stop_timeout = start
    swap_settings(settings)  # for snapshots that consult them (payload sinks)
    child = WriterChild(settings, base, inbox, outbox, stop_timeout)
    child.tell(("ready",))
    package = logging.getLogger("modeltap")
    package.setLevel(log_level)
    package.addHandler(_ParentLog(child))
    package.propagate = False
    child.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
