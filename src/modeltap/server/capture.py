"""Payload logging: the ``request`` and ``response`` collections of every /score call.

Both records are emitted when the response is done, so each carries the outcome: ``path``,
``method``, ``statuscode``, ``latencyms`` and the allowlisted ``headers``. Failed requests are
captured too. The request path queues what it already has (the bodies, the outcome, the picked
headers: bytes, strings and numbers) as an event of kind ``PAYLOAD``; the writer makes each
record's snapshot of them (``modeltap.snapshot.payload_from_parts``) and encodes the body.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable

from modeltap.collector import Collector
from modeltap.config import Settings
from modeltap.context import CorrelationContext
from modeltap.pipeline.runtime import get_runtime
from modeltap.server.headers import HeaderAllowlist

__all__ = ["PayloadCapture"]

logger = logging.getLogger("modeltap.server")

_NO_HEADERS: tuple[str, ...] = ()
_APPROX_RECORD_BYTES = 256  # a record's envelope, besides its body


def _ignore(error: Exception) -> None:
    """Drops are counted in stats() and logged (rate-limited) by the pipeline already."""


class PayloadCapture:
    """Emits request/response payload records when those collections are enabled."""

    def __init__(self, settings: Settings, *, max_event_bytes: int) -> None:
        self.allowlist = HeaderAllowlist(
            settings.collector.request_logging.capture_headers, source=settings.source
        )
        self.max_event_bytes = max_event_bytes
        request = settings.collection("request")
        response = settings.collection("response")
        self._request_root = request.root
        self._response_root = response.root
        self._request = Collector(name="request", on_error=_ignore) if request.enabled else None
        self._response = (
            Collector(name="response", on_error=_ignore) if response.enabled else None
        )
        if self._request is not None or self._response is not None:
            get_runtime()  # start the writer now, not on the first request

    @property
    def enabled(self) -> bool:
        """Whether either payload collection is on."""
        return self._request is not None or self._response is not None

    def capture(
        self,
        context: CorrelationContext,
        *,
        path: str,
        method: str,
        request_headers: Iterable[tuple[bytes, bytes]],
        request_body: bytes,
        request_type: str,
        status: int,
        response_headers: Iterable[tuple[bytes, bytes]],
        response_body: bytes,
        response_type: str,
        latency_ms: float,
        response_is_json: bool = False,
    ) -> None:
        """Queue the request and response records of one call (see ``payload_from_parts``
        for the arguments the writer gets)."""
        if self._request is not None:
            self._request.emit_payload(
                context,
                (request_body, request_type, False, path, method,
                 status, latency_ms, self._request_root, self.max_event_bytes,
                 *self._headers(request_headers)),
                data_type="http.request",
                approx_bytes=_APPROX_RECORD_BYTES + len(request_body),
            )
        if self._response is not None:
            self._response.emit_payload(
                context,
                (response_body, response_type, response_is_json, path,
                 method, status, latency_ms, self._response_root, self.max_event_bytes,
                 *self._headers(response_headers)),
                data_type="http.response",
                approx_bytes=_APPROX_RECORD_BYTES + len(response_body),
            )

    def _headers(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, ...]:
        """The allowlisted headers' names and values in turn, to end the queued parts."""
        if not self.allowlist:
            return _NO_HEADERS
        return tuple(itertools.chain.from_iterable(self.allowlist.pick(headers).items()))
