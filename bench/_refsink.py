"""A minimal local stand-in for the reference SDK's sidecar: counts what it is sent.

``POST /modeldata/log`` answers 200 at once, then parses the JSON body and counts its rows (the
length of a JSON array, or 1 for any other value); ``GET /stats`` returns the counters as JSON.
Loopback only, standard library only, so the reference worker can read the stats without extra
packages.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Sink", "read_stats"]

LOG_PATH = "/modeldata/log"
STATS_PATH = "/stats"


class _Counters:
    """Thread-safe counters of what the sink received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.rows = 0
        self.bytes = 0
        self.bad = 0
        self.last_monotonic = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A consistent copy of the counters."""
        with self.lock:
            return {
                "requests": self.requests,
                "rows": self.rows,
                "bytes": self.bytes,
                "bad": self.bad,
                "last_monotonic": self.last_monotonic,
            }


class _Handler(BaseHTTPRequestHandler):
    """Counts rows of posted JSON bodies; serves the counters."""

    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != LOG_PATH:
            self._reply(404, b"not found")
            return
        self._reply(200, b"ok")  # reply first: the SDK's post does not wait for the counting
        counters = self.server.counters
        try:
            value = json.loads(body)
        except ValueError:
            with counters.lock:
                counters.bad += 1
            return
        rows = len(value) if isinstance(value, list) else 1
        with counters.lock:
            counters.requests += 1
            counters.rows += rows
            counters.bytes += length
            counters.last_monotonic = time.monotonic()

    def do_GET(self) -> None:
        if self.path != STATS_PATH:
            self._reply(404, b"not found")
            return
        self._reply(200, json.dumps(self.server.counters.as_dict()).encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.counters = _Counters()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up mid-reply (a reference worker exiting mid-post)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Sink:
    """The sink on 127.0.0.1 and a free port, served by a background thread."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="refsink", daemon=True
        )

    @property
    def host(self) -> str:
        """The loopback address it listens on."""
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The port it was given."""
        return int(self._server.server_address[1])

    def stats(self) -> dict[str, Any]:
        """The counters (in-process)."""
        return self._server.counters.as_dict()

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def read_stats(host: str, port: int, timeout: float = 5.0) -> dict[str, Any]:
    """The counters of a sink in another process, over loopback HTTP."""
    url = f"http://{host}:{port}{STATS_PATH}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data
