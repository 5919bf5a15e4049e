"""The process-wide pipeline: settings, queue, spool and writer, started lazily on first use.

``configure()`` replaces the settings (flushing a running pipeline first); ``flush()`` and
``shutdown()`` reach the writer; after ``os.fork()`` the child starts a fresh pipeline of its own
(new instance id, new spool folder) on its first collect().
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import platformdirs

from modeltap._version import __version__
from modeltap.config import Settings, ack_mode, load_settings, writer_mode
from modeltap.errors import ModelTapError
from modeltap.formats.jsonl import EnvelopeSource
from modeltap.pipeline.ack import SpoolBarrier
from modeltap.pipeline.control import FlushRequest, StopRequest
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.spool import Spool
from modeltap.pipeline.writer import Writer
from modeltap.pipeline.writer_process.parent import WriterProcess
from modeltap.stats import PipelineStats, StatsRecorder
from modeltap.store import is_local
from modeltap.store.layout import instance_id

__all__ = [
    "Runtime",
    "configure",
    "current_settings",
    "default_spool_dir",
    "envelope_for",
    "flush",
    "get_runtime",
    "shutdown",
    "spooled",
    "start",
    "stats",
    "writing",
]

logger = logging.getLogger("modeltap")

ErrorHandler = Callable[[Exception], Any]


class DropLog:
    """Rate-limited warnings: at most one line per (collection, reason) every ``interval``."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def warn(self, collection: str, reason: str, message: str) -> None:
        """Log ``message`` unless the same kind was logged within the interval."""
        key = (collection, reason)
        now = time.monotonic()
        if now - self._last.get(key, -self._interval) < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        more = f" ({suppressed} more like it since the last warning)" if suppressed else ""
        logger.warning("%s%s", message, more)


def default_spool_dir(settings: Settings) -> Path:
    """Beside the data for local destinations (so commit is a rename), else the user cache."""
    configured = settings.collector.spool_dir
    if configured:
        return Path(configured).expanduser().resolve()
    if is_local(settings.destination):
        return Path(settings.destination.removeprefix("file://")) / ".modeltap" / "spool"
    cache = Path(platformdirs.user_cache_dir("modeltap"))
    return cache / "spool" / settings.endpoint / settings.deployment_name


def envelope_for(settings: Settings) -> EnvelopeSource:
    """The envelope fields of every record written under ``settings``."""
    return EnvelopeSource(
        endpoint=settings.endpoint,
        deployment=settings.deployment_name,
        model_version=settings.collector.model_version,
        agent=f"modeltap/{__version__}",
    )


class Runtime:
    """One running pipeline: queue, stats, spool and writer for one set of settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = StatsRecorder()
        self.drop_log = DropLog()
        self._handlers: dict[str, weakref.WeakSet[Any]] = {}
        collector = settings.collector
        self.queue = EventQueue(
            max_events=collector.queue_max_events,
            max_bytes=collector.queue_max_bytes,
            policy=collector.full_policy,
            block_timeout=collector.block_timeout,
        )
        # ack: spool: requests wait until their records are in the spool (pipeline.ack)
        self.barrier = SpoolBarrier() if ack_mode(settings) == "spool" else None
        self.writer: Writer | WriterProcess
        if writer_mode(settings) == "process":
            self.writer = WriterProcess(
                settings, self.queue, self.stats, self.report_drop, barrier=self.barrier
            )
        else:
            spool = Spool(default_spool_dir(settings), instance_id(), collector.fsync)
            self.writer = Writer(
                settings, self.queue, self.stats, spool, envelope_for(settings), self.report_drop,
                on_turn=None if self.barrier is None else self.barrier.resolve,
            )
        self.writer.start()
        self.pid = os.getpid()
        self.closed = False

    def register_handler(self, collection: str, owner: Any) -> None:
        """Remember a collector so drops found by the writer reach its on_error."""
        self._handlers.setdefault(collection, weakref.WeakSet()).add(owner)

    def report_drop(self, error: ModelTapError, collection: str) -> None:
        """A drop detected off the request path: log (rate-limited) and tell the collectors."""
        self.stats.error(str(error))
        self.drop_log.warn(collection, type(error).__name__, str(error))
        for owner in list(self._handlers.get(collection, ())):
            handler = getattr(owner, "on_error", None)
            if handler is not None:
                try:
                    handler(error)
                except Exception:
                    logger.exception("on_error handler of %r raised", collection)

    def flush(self, timeout: float | None) -> bool:
        """Commit everything enqueued before the call; False if ``timeout`` ran out first."""
        if self.closed:
            return True
        request = FlushRequest()
        self.queue.put_control(request)
        return request.done.wait(timeout) and not request.incomplete

    def shutdown(self, timeout: float | None) -> bool:
        """Flush and stop the writer; False if ``timeout`` ran out first."""
        if self.closed:
            return True
        self.closed = True
        stop = StopRequest()
        self.queue.put_control(stop)
        finished = stop.flush.done.wait(timeout) and not stop.flush.incomplete
        if not finished and isinstance(self.writer, WriterProcess):
            self.writer.abort()  # an orphaned writer process must not keep the spool lock
        if self.barrier is not None:
            self.barrier.release_all()
        return self.writer.join(0 if not finished else timeout) and finished

    def spooled(self) -> Future[None] | None:
        """With ``ack: spool``, a future done once every event queued so far is in the spool
        (or dropped and counted); None with ``ack: queue``."""
        if self.barrier is None:
            return None
        acked = self.barrier.wait(self.queue.put_count)
        if not acked.done():
            self.queue.wake()  # not on the writer's next tick
        return acked

    def snapshot_stats(self) -> PipelineStats:
        """Counters and gauges (with a writer process's, as it last reported them)."""
        gauges = self.writer.gauges()
        local = self.stats.snapshot(
            queue_depth=self.queue.depth,
            queue_bytes=self.queue.nbytes,
            spool_bytes=int(gauges["spool_bytes"]),
            spool_segments=int(gauges["spool_segments"]),
            oldest_waiting_age=gauges["oldest_waiting_age"],
            spool_write_failing=bool(gauges["spool_write_failing"]),
        )
        if isinstance(self.writer, WriterProcess):
            return self.writer.combined(local)
        return local


_lock = threading.RLock()
_settings: Settings | None = None
_runtime: Runtime | None = None


def current_settings() -> Settings:
    """The settings in force (loading them from the environment on first use)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings(None)
        return _settings


def get_runtime() -> Runtime:
    """The running pipeline, started on first use (and again after fork or shutdown)."""
    global _runtime
    runtime = _runtime
    if runtime is not None and not runtime.closed and runtime.pid == os.getpid():
        return runtime
    with _lock:
        runtime = _runtime
        if runtime is None or runtime.closed or runtime.pid != os.getpid():
            runtime = Runtime(current_settings())
            _runtime = runtime
        return runtime


def peek_runtime() -> Runtime | None:
    """The running pipeline if there is one in this process (never starts one)."""
    runtime = _runtime
    if runtime is not None and runtime.pid == os.getpid() and not runtime.closed:
        return runtime
    return None


def configure(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> Settings:
    """Load and apply a configuration: a deployment YAML path, a mapping, or None for
    ``MODELTAP_DEPLOYMENT`` / the defaults. A running pipeline is flushed and restarted."""
    global _settings, _runtime
    settings = load_settings(source)
    with _lock:
        if _runtime is not None and _runtime.pid == os.getpid():
            _runtime.shutdown(timeout=None)
        _runtime = None
        _settings = settings
    return settings


def swap_settings(
    settings: Settings | None, timeout: float | None = None
) -> tuple[Settings | None, bool, PipelineStats]:
    """Put ``settings`` in force (None: loaded from the environment on first use), flushing and
    stopping a running pipeline first, all under the lock so no collect() starts one in between.
    Returns the settings that were in force (None if never loaded), whether the pipeline
    stopped within ``timeout``, and its final counters. For ``modeltap.testing``."""
    global _settings, _runtime
    with _lock:
        runtime = peek_runtime()
        stopped = True if runtime is None else runtime.shutdown(timeout)
        final = stats()
        previous = _settings
        _settings = settings
        _runtime = None
    return previous, stopped, final


def start(timeout: float | None = 60.0) -> bool:
    """Start the pipeline now instead of on the first collect(); segments left in the spool by
    crashed processes are committed right away. A writer process (``writer: process``) is
    started too, and waited for up to ``timeout`` seconds; returns whether it is ready."""
    writer = get_runtime().writer
    return writer.launch(timeout) if isinstance(writer, WriterProcess) else True


def flush(timeout: float | None = None) -> bool:
    """Block until everything collected before the call is committed and readable.
    Returns False if ``timeout`` (seconds) ran out first."""
    runtime = peek_runtime()
    return True if runtime is None else runtime.flush(timeout)


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop the pipeline (it restarts on the next collect()). Also runs at exit."""
    runtime = peek_runtime()
    return True if runtime is None else runtime.shutdown(timeout)


def stats() -> PipelineStats:
    """Counters of this process: collected, sampled out, dropped, written, committed, gauges."""
    runtime = peek_runtime() or _runtime
    if runtime is None or runtime.pid != os.getpid():
        return StatsRecorder().snapshot()
    return runtime.snapshot_stats()


def spooled() -> Future[None] | None:
    """With ``ack: spool``: a future done once everything this process queued so far is in the
    spool; None otherwise (or without a running pipeline). For the scoring server's answers."""
    runtime = peek_runtime()
    return None if runtime is None else runtime.spooled()


def writing() -> bool:
    """False while the running pipeline's writer cannot write to its spool (the scoring
    server's /ready answers 503 meanwhile); True without a running pipeline."""
    runtime = peek_runtime()
    return runtime is None or not runtime.writer.gauges()["spool_write_failing"]


def _after_fork_in_child() -> None:
    global _runtime, _lock
    _lock = threading.RLock()  # another thread may have held it at fork time
    runtime = _runtime
    if runtime is not None:
        runtime.writer.abandon_after_fork()
        runtime.closed = True
    _runtime = None


def _at_exit() -> None:
    shutdown(timeout=float(os.environ.get("MODELTAP_EXIT_TIMEOUT", "30")))


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
