"""Processes: bind once, then one worker in this process or N pre-forked workers.

Every worker loads the scoring script, calls its ``init()``, and serves the shared listening
socket with uvicorn; each has its own modeltap writer (the pipeline restarts itself in a forked
child). The supervisor waits until every worker reports ready; a worker that fails to start
stops the whole server with its error and a non-zero exit. SIGTERM or SIGINT shuts every worker
down gracefully: in-flight requests finish, then everything collected is flushed. Several workers
share a private run directory, removed at exit, where each publishes its metrics so that any of
them answers /metrics for the whole server (see ``modeltap.server.metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from modeltap._signals import quiet_stop_signals
from modeltap.config import WRITER_VARIABLE, Settings
from modeltap.errors import MissingDependencyError, ModelTapError
from modeltap.pipeline.runtime import configure
from modeltap.pipeline.runtime import start as start_pipeline
from modeltap.pipeline.runtime import stats as pipeline_stats
from modeltap.server.auth import KeyAuth, generate_key, is_loopback
from modeltap.server.options import ServeOptions
from modeltap.server.sdk_bridge import bridge_reference_sdk, drain_reference_sdk, sdk_environment
from modeltap.server.summary import shutdown_lines

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["EXIT_CONFIG", "EXIT_STARTUP", "bind", "serve"]

logger = logging.getLogger("modeltap.server")

EXIT_CONFIG = 2
EXIT_STARTUP = 3
_QUICK_DEATH = 10.0


def _say(message: str) -> None:
    print(f"modeltap: {message}", file=sys.stderr, flush=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without it a response sent in two writes waits ~40 ms
    # for the client's delayed ACK (Nagle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ModelTapError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _setup_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, level.upper(), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        )


def _make_server(options: ServeOptions, on_close: Callable[[], None], app: Starlette) -> object:
    import uvicorn

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.modeltap.ready = False  # /ready answers 503 from now on
            # drain what in-process clients still send to us while we still listen
            await asyncio.to_thread(on_close)
            await super().shutdown(sockets)

    try:
        from modeltap.server.protocol import limited_protocol
    except ImportError:
        raise MissingDependencyError(
            "modeltap serve needs httptools: pip install 'modeltap[server]'"
        ) from None
    config = uvicorn.Config(
        app,
        http=limited_protocol(options.http_limits, app.state.modeltap.metrics.refusals),
        lifespan="on",
        log_level=options.log_level,
        access_log=options.access_log,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    return _Server(config)


def run_worker(
    options: ServeOptions, sock: socket.socket, ready: Callable[[], None] | None = None
) -> int:
    """Load, init and serve in this process until told to stop; returns the exit code."""
    from modeltap.server.app import AppOptions, build_app
    from modeltap.server.scoring import ScoringScript, ScoringScriptError
    from modeltap.server.strings import use_string_storage

    _setup_logging(options.log_level)
    os.environ.update(options.environment)
    # the serving process's GIL belongs to run(): unless the YAML's writer key or the
    # environment says otherwise, records are encoded and written by a writer process
    os.environ.setdefault(WRITER_VARIABLE, "process")
    try:
        use_string_storage(os.environ)
        settings = configure(options.config)
        if _collects(settings) and not start_pipeline(timeout=120):
            _say(f"worker {os.getpid()}: the writer process is not ready yet; serving anyway")
        script: ScoringScript | None = None
        if options.model_type == "mlflow":
            from modeltap.server.mlflow_model import MlflowScoringScript

            assert options.model_dir is not None
            script = MlflowScoringScript.for_model(options.model_dir)
            script.init()
        elif options.entry_script is not None:
            script = ScoringScript.load(options.entry_script)
            script.init()
            bridge_reference_sdk(options.bridge_key)
        app_options = AppOptions(
            auth=KeyAuth(options.auth_key) if options.auth_key else None,
            run_threads=options.run_threads,
            max_request_bytes=options.max_request_bytes,
            max_event_bytes=options.max_event_bytes,
            bridge_key=options.bridge_key,
            metrics_dir=options.metrics_dir,
        )
        app = build_app(settings, script, app_options)
    except ScoringScriptError as exc:
        _say(f"worker {os.getpid()} cannot start: {exc}")
        return EXIT_STARTUP
    except ModelTapError as exc:
        _say(f"worker {os.getpid()} cannot start: {exc}")
        return EXIT_CONFIG
    server = _make_server(options, drain_reference_sdk, app)
    if ready is not None:
        ready()
    quiet_stop_signals()
    server.run(sockets=[sock])  # type: ignore[attr-defined]
    for line in shutdown_lines(pipeline_stats()):
        _say(line if options.workers == 1 else f"worker {os.getpid()}: {line}")
    return 0


def _collects(settings: Settings) -> bool:
    """Whether any collection is on (then the pipeline starts before the first request)."""
    collections = settings.collector.collections
    return collections is None or any(entry.enabled for entry in collections.values())


def _announce(options: ServeOptions, sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    what = "ingest"
    if options.model_type == "mlflow":
        what = "MLflow model"
    elif options.entry_script is not None:
        what = "scoring"
    _say(
        f"{what} server on http://{shown}:{port} with {options.workers} worker(s), "
        f"data in {options.settings.destination} (pid {os.getpid()})"
    )


def _prepare(options: ServeOptions, sock: socket.socket) -> None:
    port = sock.getsockname()[1]
    if options.entry_script is not None:
        for name, value in sdk_environment(options.host, port).items():
            options.environment.setdefault(name, os.environ.get(name, value))
    if options.auth_key is None and not is_loopback(options.host):
        _say(
            f"WARNING: listening on {options.host} without authentication: anyone who can "
            "reach this port can score and ingest; set auth_mode: key or --auth-key-file"
        )
    if options.auth_key_source == "generated":
        folder = Path(options.settings.destination.removeprefix("file://"))
        if "://" in options.settings.destination and not options.settings.destination.startswith(
            "file://"
        ):
            folder = Path.cwd()
        key_file = folder / ".modeltap" / "endpoint-key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(options.auth_key or "")
        _say(f"auth_mode key: generated an endpoint key, stored in {key_file}")


def serve(options: ServeOptions) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit code."""
    try:
        sock = bind(options.host, options.port)
    except ModelTapError as exc:
        _say(str(exc))
        return EXIT_CONFIG
    _prepare(options, sock)
    if options.auth_key is not None and options.entry_script is not None:
        # the in-process reference SDK's own key for /modeldata/log: made here, before the
        # workers fork, so whichever worker its post reaches knows it; never written anywhere
        options = dataclasses.replace(options, bridge_key=generate_key())
    if options.workers == 1:
        return run_worker(options, sock, ready=lambda: _announce(options, sock))
    metrics_dir = Path(tempfile.mkdtemp(prefix="modeltap-metrics-"))
    try:
        return _Supervisor(dataclasses.replace(options, metrics_dir=metrics_dir), sock).run()
    finally:  # the supervisor only: a worker leaves through os._exit
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _Supervisor:
    """Forks the workers, waits for them to be ready, forwards stop signals, reaps them."""

    def __init__(self, options: ServeOptions, sock: socket.socket) -> None:
        self.options = options
        self.sock = sock
        self.children: dict[int, float] = {}
        self.stopping = False
        self.read_fd, self.write_fd = os.pipe()

    def _fork(self) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.close(self.read_fd)
            code = 1
            try:
                code = run_worker(self.options, self.sock, ready=self._report_ready)
            except BaseException:
                logger.exception("worker %d failed", os.getpid())
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = time.monotonic()
        return pid

    def _report_ready(self) -> None:
        os.write(self.write_fd, b"r")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap_all(self) -> None:
        while self.children:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.children.pop(pid, None)

    def run(self) -> int:
        for _ in range(self.options.workers):
            self._fork()
        os.close(self.write_fd)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        ready = 0
        while ready < self.options.workers and not self.stopping:
            readable, _, _ = select.select([self.read_fd], [], [], 0.2)
            if readable:
                ready += len(os.read(self.read_fd, 64))
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.children.pop(pid, None)
                _say(f"worker {pid} exited during start-up; stopping the server")
                self._stop(signal.SIGTERM, None)
                self._reap_all()
                return os.waitstatus_to_exitcode(status) or EXIT_STARTUP
        if not self.stopping:
            _announce(self.options, self.sock)
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            started = self.children.pop(pid, None)
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if started is not None and time.monotonic() - started < _QUICK_DEATH:
                _say(f"worker {pid} exited with {code} soon after start; stopping the server")
                self._stop(signal.SIGTERM, None)
                self._reap_all()
                return code or EXIT_STARTUP
            _say(f"worker {pid} exited with {code}; starting a new one")
            self._restart()
        return 0

    def _restart(self) -> None:
        os.close(self.read_fd)
        self.read_fd, self.write_fd = os.pipe()
        self._fork()
        os.close(self.write_fd)
