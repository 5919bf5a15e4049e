"""Payload logging: the ``request`` and ``response`` collections of every /score call.

Both records are emitted when the response is done, so each carries the outcome: ``path``,
``method``, ``statuscode``, ``latencyms`` and the allowlisted ``headers``. Failed requests are
captured too. The request path pays for two small envelope dicts and two queue puts; the bodies
are encoded later by the writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from modeltap.collector import Collector
from modeltap.config import Settings
from modeltap.context import CorrelationContext
from modeltap.pipeline.runtime import get_runtime
from modeltap.server.headers import HeaderAllowlist
from modeltap.server.payload import BlobSink, PayloadSnapshot

__all__ = ["PayloadCapture"]

logger = logging.getLogger("modeltap.server")


def _ignore(error: Exception) -> None:
    """Drops are counted in stats() and logged (rate-limited) by the pipeline already."""


class PayloadCapture:
    """Emits request/response payload records when those collections are enabled."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_event_bytes: int,
        sink: BlobSink | None = None,
    ) -> None:
        self.allowlist = HeaderAllowlist(
            settings.collector.request_logging.capture_headers, source=settings.source
        )
        self.max_event_bytes = max_event_bytes
        self.sink = sink if sink is not None else BlobSink(settings)
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
        """Emit the request and response records of one call."""
        common = {"path": path, "method": method, "statuscode": status}
        latency = round(latency_ms, 3)
        if self._request is not None:
            self._emit(self._request, self._request_root, context, common, latency,
                       request_headers, request_body, request_type, "http.request", False)
        if self._response is not None:
            self._emit(self._response, self._response_root, context, common, latency,
                       response_headers, response_body, response_type, "http.response",
                       response_is_json)

    def _emit(
        self,
        collector: Collector,
        root: str,
        context: CorrelationContext,
        common: dict[str, Any],
        latency: float,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        content_type: str,
        data_type: str,
        trusted_json: bool,
    ) -> None:
        """One side of a call (request or response) as a payload record."""
        extra = {**common, "latencyms": latency, "headers": self.allowlist.pick(headers)}
        snapshot = PayloadSnapshot(
            body,
            content_type,
            extra,
            root=root,
            sink=self.sink,
            max_event_bytes=self.max_event_bytes,
            trusted_json=trusted_json,
        )
        collector.emit(snapshot, context, data_type=data_type, extra=extra)
