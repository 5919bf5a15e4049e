"""uvicorn's httptools protocol with the limits of ``modeltap.server.limits`` enforced.

The head's size is counted twice: the request line and fields as the parser reports them (exact,
checked before the application sees the request), and the raw bytes received while a head is
still incomplete (httptools buffers a field until it ends, so this is what bounds the memory one
slow or endless field can take: the limit plus one read).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modeltap.errors import ModelTapError
from modeltap.server.limits import DEFAULT_LIMITS, HttpLimits, Refusals, default_max_connections

__all__ = ["LimitedHttpToolsProtocol", "limited_protocol"]


class _HeadRefused(ModelTapError):
    """Raised from a parser callback to stop parsing a head that broke a limit."""


_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``limits`` on request heads and slow requests."""

    limits: ClassVar[HttpLimits] = DEFAULT_LIMITS
    refusals: ClassVar[Refusals] = Refusals()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_pending = True  # between requests or inside a head
        self._head_started = False  # a byte of the pending head has arrived
        self._head_bytes = 0  # bytes received while the head was pending
        self._head_size = 0  # request line and fields parsed so far
        self._head_fields = 0
        self._marks = 0  # heads and messages completed: did this read finish one?
        self._body_pending = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str] | None = None  # status, reason, message
        self._waiting_since = 0.0  # loop time the connection began to wait for a head
        limit = self.limits.max_connections
        self._max_connections = default_max_connections() if limit is None else limit

    # connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first head's clock."""
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)
        if len(self.connections) > self._max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clocks."""
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; refuse a head that grew beyond the limit; time a slow request."""
        if self._head_pending:
            self._head_started = True
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout, self._head_late
                )
        marks = self._marks
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._head_pending and marks == self._marks:
            self._head_bytes += len(data)  # still in one head: all of it was head
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "header_too_large", self._too_large())
                return
        if self._body_pending:
            if self._body_timer is not None:
                self._body_timer.cancel()
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parse error: a limit's refusal when one stopped the parse."""
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            self.refusals.count("malformed_request")
            super().send_400_response(msg)

    # parser callbacks

    def on_message_begin(self) -> None:
        """A new request: its head's counts start from zero."""
        super().on_message_begin()
        self._head_size = 0
        self._head_fields = 0

    def on_url(self, url: bytes) -> None:
        """Count the request target toward the head's size."""
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count one field toward the head's size and number of fields."""
        self._head_fields += 1
        if self._head_fields > self.limits.max_headers:
            self._refusal = (
                431,
                "too_many_headers",
                f"more than {self.limits.max_headers} header fields: send fewer headers",
            )
            raise _HeadRefused
        self._grow(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is in: stop its clock; the body's, if any, starts with its bytes."""
        self._head_pending = self._head_started = False
        self._head_bytes = 0
        self._body_pending = True
        self._marks += 1
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is in: the next head's clock starts with its first byte."""
        self._head_pending = True
        self._waiting_since = self.loop.time()
        self._body_pending = False
        self._marks += 1
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # limits

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            self._refusal = (431, "header_too_large", self._too_large())
            raise _HeadRefused

    def _too_large(self) -> str:
        return (
            f"request line and headers larger than {self.limits.max_header_bytes} bytes: "
            "send smaller headers"
        )

    def _head_late(self) -> None:
        self._head_timer = None
        if not self._head_pending or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # a pipelined head waits behind a response in progress: give it time again
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)
            return
        if not self._head_started:
            self.refusals.count("no_request")
            self.transport.close()  # nothing sent: nothing to answer
            return
        self._refuse(
            408,
            "header_timeout",
            f"request headers not received within {self.limits.header_timeout:g} seconds",
        )

    def _body_late(self) -> None:
        self._body_timer = None
        if not self._body_pending or self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:  # we are not reading: not late
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)
            return
        self.refusals.count("body_timeout")
        self.transport.close()  # the application sees the client disconnect

    def _waiting(self) -> bool:
        """Whether the connection waits for a request head with no request in progress."""
        return (
            self._head_pending
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _make_room(self) -> None:
        """Over ``max_connections``: close the connection that has waited longest for a head,
        or refuse this one when every other has a request in progress."""
        waiting = [
            connection for connection in self.connections
            if connection is not self and isinstance(connection, LimitedHttpToolsProtocol)
            and connection._waiting()
        ]
        if waiting:
            oldest = min(waiting, key=lambda connection: connection._waiting_since)
            oldest._cancel_timers()
            self.refusals.count("connection_evicted")
            oldest.transport.close()
        else:
            self._refuse(503, "connection_limit", f"the server holds its limit of "
                         f"{self._max_connections} connections, all busy: retry later")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer ``status`` with ``message``, close the connection and count it as
        ``reason``."""
        self._cancel_timers()
        self.refusals.count(reason)
        body = message.encode("utf-8")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None


def limited_protocol(
    limits: HttpLimits, refusals: Refusals | None = None
) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)`` that enforces ``limits`` and
    counts what it refuses in ``refusals`` (which ``/metrics`` shows)."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "refusals": refusals or Refusals()},
    )
