"""Limits on what one connection can make a worker hold: a request's head and its pace.

uvicorn's httptools protocol, which modeltap serves with, buffers a request's head (request line
and headers) however large it grows and waits for it however slowly it comes: one connection
could make a worker hold a 600 MiB header, and a few hundred connections sending a byte now and
then held every file descriptor. ``modeltap.server.protocol`` adds what it lacks, within
these limits (the ``server:`` section's keys of the same names):

- the head (request line and header fields) may be at most ``max_header_bytes`` bytes and
  ``max_headers`` fields: beyond either the request is answered 431 and the connection closed,
  before the application sees it (what is buffered stays within the limit and one read);
- the head must arrive within ``header_timeout`` seconds of the connection's opening (the first
  request) or of its first byte (later requests on a kept-alive connection): otherwise 408 (or
  a plain close, when nothing was sent) and the connection is closed;
- while a body is being received, ``body_timeout`` seconds without a byte close the connection
  (the application sees the client disconnect): reads paused by the server itself do not count;
- a worker holds at most ``max_connections`` connections (by default what its open-file limit
  leaves, see ``default_max_connections``): a connection beyond that closes the one that has
  waited longest for a request head, or, when every connection has a request in progress, is
  answered 503 and closed. Slow or silent clients thus cannot take the descriptors /score
  needs.

Idle kept-alive connections are closed by uvicorn's own ``timeout_keep_alive``.

Every refusal is counted by reason (``Refusals``; ``/metrics`` shows them as
``modeltap_http_refused_total{reason,status}``, ``REFUSALS`` lists them with the status each is
answered with, ``none`` for a connection closed without an answer).
"""

from __future__ import annotations

import functools
import os
import resource
import threading
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "REFUSALS", "HttpLimits", "Refusals", "default_max_connections"]

REFUSALS: dict[str, str] = {
    "header_too_large": "431",  # request line and headers beyond max_header_bytes
    "too_many_headers": "431",  # more than max_headers fields
    "header_timeout": "408",  # a head begun and not finished within header_timeout
    "connection_limit": "503",  # beyond max_connections, every other one busy
    "malformed_request": "400",  # a head the HTTP parser refused
    "no_request": "none",  # nothing sent within header_timeout of the connection's opening
    "body_timeout": "none",  # body_timeout without a byte of the body
    "connection_evicted": "none",  # a connection waiting for a head, closed to make room
}
"""Why the HTTP layer refused or cut a connection, and the status it answered (``none``: the
connection was closed without an answer)."""


class Refusals:
    """How many connections the HTTP layer refused or cut, by reason (``REFUSALS``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(REFUSALS, 0)

    def count(self, reason: str) -> None:
        """One more refusal for ``reason`` (a key of ``REFUSALS``)."""
        with self._lock:
            self._counts[reason] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far, every reason included."""
        with self._lock:
            return dict(self._counts)


@functools.cache
def _open_files(pid: int) -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 0


def default_max_connections() -> int:
    """What this process's open-file limit leaves for connections: three quarters of it, and
    at least 64 descriptors beyond those open when first asked (files, pipes, the spool)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, min(soft * 3 // 4, soft - _open_files(os.getpid()) - 64))


@dataclass(frozen=True)
class HttpLimits:
    """What one request may send, and how slowly (see the module docstring)."""

    max_header_bytes: int = 64 * 1024
    """Request line and header fields together, in bytes (nginx allows 32 KiB, Node 16 KiB)."""
    max_headers: int = 100
    """Header fields in one request (Apache's LimitRequestFields)."""
    header_timeout: float = 10.0
    """Seconds to receive a request's whole head."""
    body_timeout: float = 30.0
    """Seconds a body may go without a byte arriving."""
    max_connections: int | None = None
    """Connections one worker holds; None: ``default_max_connections()`` in the worker."""


DEFAULT_LIMITS = HttpLimits()
