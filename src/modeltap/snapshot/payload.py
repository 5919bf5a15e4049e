"""Payload snapshots: an HTTP body as a record's ``data``, encoded on the writer thread.

JSON bodies become the record's ``data`` as JSON; text bodies a JSON string; anything else a
base64 string (``dataencoding: base64``); ``datacontenttype`` says which. A body whose encoding is
larger than ``max_event_bytes`` is stored out of line (``BlobSink``), and the record carries
``data: null`` and ``dataref``.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

import orjson

from modeltap.snapshot.blobs import BlobSink, current_sink

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "PayloadSnapshot", "encode_body", "payload_from_parts"]

logger = logging.getLogger("modeltap.server")

DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
_TEXT_TYPES = ("application/xml", "application/x-www-form-urlencoded", "application/csv")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in _TEXT_TYPES


def encode_body(body: bytes, content_type: str, *, trusted_json: bool = False) -> tuple[bytes, str,
                                                                                         bool]:
    """(JSON for ``data``, the ``datacontenttype``, whether it is base64) of an HTTP body."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return b"null", media or "application/json", False
    if trusted_json:
        return body, "application/json", False
    if _is_json(media) or not media:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            if b"\n" in body or b"\r" in body:
                return orjson.dumps(parsed), "application/json", False
            return body.strip(), "application/json", False
    if _is_text(media) or _is_json(media) or not media:
        try:
            return orjson.dumps(body.decode("utf-8")), media or "text/plain", False
        except UnicodeDecodeError:
            pass
    encoded = base64.b64encode(body)
    return b'"' + encoded + b'"', media or "application/octet-stream", True


class PayloadSnapshot:
    """One HTTP body, kept as bytes until the writer encodes it.

    ``extra`` is the event's envelope dict: encoding sets its ``datacontenttype`` (and
    ``dataencoding`` / ``dataref`` when they apply), which the record encoder reads after
    calling ``to_json_rows``.
    """

    __slots__ = (
        "approx_bytes",
        "body",
        "content_type",
        "extra",
        "max_event_bytes",
        "root",
        "rows",
        "sink",
        "trusted_json",
    )

    def __init__(
        self,
        body: bytes,
        content_type: str,
        extra: dict[str, Any],
        *,
        root: str,
        sink: BlobSink | None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        trusted_json: bool = False,
    ) -> None:
        self.body = body
        self.content_type = content_type
        self.extra = extra
        self.root = root
        self.sink = sink
        self.max_event_bytes = max_event_bytes
        self.trusted_json = trusted_json
        self.rows = 1
        self.approx_bytes = 256 + len(body)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for the writer process) as its constructor's arguments, without the sink:
        the writer process uses the sink of its settings."""
        return _restored_payload, (
            self.body,
            self.content_type,
            self.extra,
            self.root,
            self.max_event_bytes,
            self.trusted_json,
        )

    def to_json_rows(self) -> bytes:
        """The body as JSON for the record's ``data`` (``null`` when stored out of line)."""
        data, content_type, is_base64 = encode_body(
            self.body, self.content_type, trusted_json=self.trusted_json
        )
        self.extra["datacontenttype"] = content_type
        if is_base64:
            self.extra["dataencoding"] = "base64"
        if len(data) > self.max_event_bytes and self.sink is not None:
            try:
                self.extra["dataref"] = self.sink.store(self.root, data)
            except Exception as exc:
                logger.error("storing a large payload out of line failed (%s); kept inline", exc)
            else:
                self.extra.setdefault("contentrange", f"bytes 0-{len(data) - 1}/{len(data)}")
                return b"null"
        return data

    def to_arrow(self) -> pa.Table:
        """One row with the ``data`` JSON as a string column."""
        import pyarrow as pa

        return pa.table({"data": [self.to_json_rows().decode("utf-8")]})


def payload_from_parts(
    body: bytes,
    content_type: str,
    trusted_json: bool,
    path: str,
    method: str,
    status: int,
    latency_ms: float,
    root: str,
    max_event_bytes: int,
    *headers: str,
) -> PayloadSnapshot:
    """The snapshot of one side of a /score call, made on the writer from the queued event's
    data (kind ``PAYLOAD``: these arguments in this order, bytes, strings and numbers only, as
    payload capture queues them): the body with the call's outcome and allowlisted headers
    (names and values in turn) as the record's extra envelope fields."""
    extra = {
        "path": path,
        "method": method,
        "statuscode": status,
        "latencyms": round(latency_ms, 3),
        "headers": dict(zip(headers[0::2], headers[1::2], strict=True)),
    }
    return _restored_payload(body, content_type, extra, root, max_event_bytes, trusted_json)


def _restored_payload(
    body: bytes,
    content_type: str,
    extra: dict[str, Any],
    root: str,
    max_event_bytes: int,
    trusted_json: bool,
) -> PayloadSnapshot:
    """A pickled PayloadSnapshot, with the sink of the settings in force."""
    return PayloadSnapshot(
        body,
        content_type,
        extra,
        root=root,
        sink=current_sink(),
        max_event_bytes=max_event_bytes,
        trusted_json=trusted_json,
    )
