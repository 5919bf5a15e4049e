"""Payload snapshots: an HTTP body as a record's ``data``, encoded on the writer thread.

JSON bodies become the record's ``data`` as JSON; text bodies a JSON string; anything else a
base64 string (``dataencoding: base64``); ``datacontenttype`` says which. A body whose encoding is
larger than ``max_event_bytes`` is stored out of line, in ``{partition}/_payloads/{id}.json``
under the collection's folder, and the record carries ``data: null`` and ``dataref`` (that path,
relative to the collection folder). The blob holds exactly what ``data`` would have held, so
resolving a reference is ``record["data"] = json.loads(blob)`` (see ``resolve_dataref``).
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modeltap.config import Settings
from modeltap.store import Destination, is_local, open_destination
from modeltap.store.layout import partition_folder

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "PAYLOAD_FOLDER",
    "BlobSink",
    "PayloadSnapshot",
    "encode_body",
    "resolve_dataref",
    "restore_payload",
]

logger = logging.getLogger("modeltap.server")

DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
PAYLOAD_FOLDER = "_payloads"
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


class BlobSink:
    """Publishes out-of-line payloads beside the partitions of their collection."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._destinations: dict[str, Destination] = {}

    def _route(self, root: str) -> tuple[str, str]:
        if "://" in root or root.startswith("/"):
            return root, ""
        return self._settings.destination, root

    def _destination(self, url: str) -> Destination:
        destination = self._destinations.get(url)
        if destination is None:
            destination = open_destination(url, self._settings.collector.storage_options)
            self._destinations[url] = destination
        return destination

    def store(self, root: str, data: bytes) -> str:
        """Publish ``data`` for the collection folder ``root``; returns the reference."""
        url, relative = self._route(root)
        folder = partition_folder(time.time(), self._settings.collector.rolling_rate)
        reference = f"{folder}/{PAYLOAD_FOLDER}/{uuid.uuid4().hex}.json"
        if is_local(url):
            scratch = Path(url.removeprefix("file://")) / ".modeltap" / "tmp"
        else:
            scratch = Path(tempfile.gettempdir()) / "modeltap-payloads"
        scratch.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=scratch, suffix=".json")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            with self._lock:
                destination = self._destination(url)
            destination.publish(Path(name), f"{relative}/{reference}" if relative else reference)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return reference


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


def restore_payload(
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
    """The snapshot of one side of a /score call, made on the writer from what payload capture
    queued (``PayloadCapture``): the body with the call's outcome and allowlisted headers
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
        sink=_current_sink(),
        max_event_bytes=max_event_bytes,
        trusted_json=trusted_json,
    )


_sink: tuple[Settings, BlobSink] | None = None  # the last settings' sink


def _current_sink() -> BlobSink:
    """The sink of the settings in force (made again when they change)."""
    from modeltap.pipeline.runtime import current_settings

    global _sink
    settings = current_settings()
    known = _sink
    if known is None or known[0] is not settings:
        known = _sink = (settings, BlobSink(settings))
    return known[1]


def resolve_dataref(
    record: dict[str, Any], collection_url: str, storage_options: dict[str, Any] | None = None
) -> Any:
    """A record's ``data``, read from its out-of-line file when it has a ``dataref``.

    The reference is followed under the reader's rules (``modeltap.reading.sources``): only a
    relative path to a ``_payloads`` folder inside the collection at ``collection_url``, to a
    regular file of at most ``MAX_DATAREF_BYTES``; anything else raises ``BadRecordError``.
    """
    reference = record.get("dataref")
    if not reference:
        return record.get("data")
    from modeltap.reading.sources import ref_loader  # imported when used: serving reads nothing
    from modeltap.store import open_tree

    load = ref_loader(open_tree(collection_url, storage_options), "")
    return orjson.loads(load(str(reference)))
