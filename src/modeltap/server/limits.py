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
  (the application sees the client disconnect): reads paused by the server itself do not count.

Idle kept-alive connections are closed by uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "HttpLimits"]


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


DEFAULT_LIMITS = HttpLimits()
