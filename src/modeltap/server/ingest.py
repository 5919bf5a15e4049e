"""Ingest: records posted by other collectors land in the same layout with the same ids.

``POST /modeldata/log`` speaks the protocol of the reference SDK ``azureml-ai-monitoring``
1.0.0: the collection comes from ``ce-type`` (``azureml.inference.<collection>``), the correlation
id from ``ce-x-request-id``, the event time from ``ce-time`` (epoch seconds), the data type from
``ce-collect-data-type``, and the body is the frame as ``DataFrame.to_json(orient="records")``.

``POST /events`` accepts CloudEvents over HTTP in binary mode (``ce-*`` headers, the body is the
data), structured mode (``application/cloudevents+json``) and batch mode
(``application/cloudevents-batch+json``). The type maps to a collection: ``*.request`` and
``*.response`` (e.g. a KServe inference logger's) to ``request`` and ``response``,
``azureml.inference.<c>`` and ``modeltap.inference.<c>`` to ``<c>``; the event id becomes the
``correlationid``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modeltap.collector import Collector
from modeltap.config import check_collection_name
from modeltap.context import BasicCorrelationContext
from modeltap.errors import DataDroppedError, InvalidCollectionNameError
from modeltap.event import rfc3339_ms
from modeltap.pipeline.runtime import get_runtime
from modeltap.server.payload import BlobSink, PayloadSnapshot

__all__ = ["IngestError", "IngestEvent", "Ingestor", "collection_of_type", "parse_cloudevents",
           "parse_mdc"]

_MDC_PREFIX = "azureml.inference."
_OWN_PREFIX = "modeltap.inference."
_MDC_RESERVED = frozenset(
    {"ce-time", "ce-type", "ce-collect-data-type", "ce-agent", "ce-x-request-id",
     "ce-model-version"}
)
_CE_CORE = frozenset({"specversion", "type", "source", "id", "time", "datacontenttype",
                      "dataschema", "subject", "data", "data_base64"})


class IngestError(Exception):
    """A posted event that cannot be accepted; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class IngestEvent:
    """One event to store: its collection, ids, body and envelope fields."""

    collection: str
    correlation_id: str
    xrequest_id: str
    body: bytes
    content_type: str
    data_type: str
    extra: dict[str, Any]


def collection_of_type(event_type: str) -> str:
    """The collection a CloudEvents type maps to; IngestError(400) when none does."""
    lowered = event_type.strip()
    for prefix in (_MDC_PREFIX, _OWN_PREFIX):
        if lowered.startswith(prefix):
            name = lowered[len(prefix):]
            try:
                return check_collection_name(name)
            except InvalidCollectionNameError as exc:
                raise IngestError(400, f"event type {event_type!r}: {exc}") from None
    if lowered.endswith(".request"):
        return "request"
    if lowered.endswith(".response"):
        return "response"
    raise IngestError(
        400,
        f"event type {event_type!r} maps to no collection: use azureml.inference.<collection>, "
        "modeltap.inference.<collection>, or a type ending in .request or .response",
    )


def _epoch_time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise IngestError(400, f"ce-time {value!r} is not epoch seconds") from None
    return rfc3339_ms(int(seconds * 1_000_000_000))


def _mdc_content_type(content_type: str) -> str:
    """The SDK's compact format posts ``DataFrame.to_string()`` as octet-stream: it is text."""
    if content_type.split(";", 1)[0].strip().lower() == "application/octet-stream":
        return "text/plain; charset=utf-8"
    return content_type


def parse_mdc(headers: Mapping[str, str], body: bytes) -> IngestEvent:
    """An event posted by the reference SDK's sender to /modeldata/log."""
    event_type = headers.get("ce-type")
    if not event_type:
        raise IngestError(400, "missing ce-type header (azureml.inference.<collection>)")
    if not event_type.startswith(_MDC_PREFIX):
        raise IngestError(400, f"ce-type {event_type!r} does not start with {_MDC_PREFIX!r}")
    collection = collection_of_type(event_type)
    correlation_id = headers.get("ce-x-request-id") or headers.get("trace-id") or ""
    if not correlation_id:
        correlation_id = BasicCorrelationContext().get_id()
    extra: dict[str, Any] = {}
    time_text = _epoch_time(headers.get("ce-time"))
    if time_text:
        extra["time"] = time_text
    if headers.get("trace-id"):
        extra["id"] = headers["trace-id"]
    if headers.get("ce-agent"):
        extra["agent"] = headers["ce-agent"]
    if headers.get("ce-model-version"):
        extra["modelversion"] = headers["ce-model-version"]
    context_headers = {
        name[3:]: value
        for name, value in headers.items()
        if name.startswith("ce-") and name not in _MDC_RESERVED
    }
    if context_headers:
        extra["headers"] = context_headers
    return IngestEvent(
        collection=collection,
        correlation_id=correlation_id,
        xrequest_id=context_headers.get("x-ms-client-request-id") or correlation_id,
        body=body,
        content_type=_mdc_content_type(headers.get("content-type", "application/json")),
        data_type=headers.get("ce-collect-data-type") or "python.str",
        extra=extra,
    )


def _from_attributes(attributes: Mapping[str, Any], body: bytes, content_type: str) -> IngestEvent:
    for key in ("specversion", "id", "source", "type"):
        if not attributes.get(key):
            raise IngestError(400, f"CloudEvent without required attribute {key!r}")
    collection = collection_of_type(str(attributes["type"]))
    event_id = str(attributes["id"])
    extra: dict[str, Any] = {
        "cetype": str(attributes["type"]),
        "cesource": str(attributes["source"]),
    }
    if attributes.get("time"):
        extra["time"] = str(attributes["time"])
    extensions = {k: str(v) for k, v in attributes.items() if k not in _CE_CORE}
    if extensions:
        extra["extensions"] = extensions
    return IngestEvent(
        collection=collection,
        correlation_id=event_id,
        xrequest_id=event_id,
        body=body,
        content_type=content_type,
        data_type="cloudevent",
        extra=extra,
    )


def _structured(document: Any) -> IngestEvent:
    if not isinstance(document, dict):
        raise IngestError(400, "a structured CloudEvent must be a JSON object")
    content_type = str(document.get("datacontenttype") or "application/json")
    if "data_base64" in document:
        try:
            body = base64.b64decode(str(document["data_base64"]), validate=True)
        except ValueError:
            raise IngestError(400, "data_base64 is not valid base64") from None
    elif "data" in document:
        data = document["data"]
        if isinstance(data, str) and not content_type.endswith("json"):
            body = data.encode()
        else:
            body = orjson.dumps(data)
    else:
        body = b""
    return _from_attributes(document, body, content_type)


def parse_cloudevents(headers: Mapping[str, str], body: bytes) -> list[IngestEvent]:
    """The events of a CloudEvents HTTP request in binary, structured or batch mode."""
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/cloudevents+json", "application/cloudevents-batch+json"):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise IngestError(400, f"the CloudEvent is not valid JSON: {exc}") from None
        if media.endswith("batch+json"):
            if not isinstance(document, list):
                raise IngestError(400, "a CloudEvents batch must be a JSON array")
            return [_structured(item) for item in document]
        return [_structured(document)]
    if "ce-specversion" not in headers:
        raise IngestError(
            400,
            "not a CloudEvent: send ce-specversion, ce-id, ce-source and ce-type headers "
            "(binary mode) or an application/cloudevents+json body (structured mode)",
        )
    attributes = {name[3:]: value for name, value in headers.items() if name.startswith("ce-")}
    return [_from_attributes(attributes, body, content_type or "application/json")]


class Ingestor:
    """Turns ingest events into queued records, one Collector per collection."""

    def __init__(self, sink: BlobSink, max_event_bytes: int) -> None:
        self._sink = sink
        self._max_event_bytes = max_event_bytes
        self._collectors: dict[str, Collector] = {}
        self._lock = threading.Lock()

    def _collector(self, name: str) -> Collector:
        collector = self._collectors.get(name)
        if collector is None:
            with self._lock:
                collector = self._collectors.get(name)
                if collector is None:
                    collector = Collector(name=name)
                    self._collectors[name] = collector
        return collector

    def accept(self, event: IngestEvent) -> bool:
        """Queue one event; False when its collection is disabled. IngestError(503) when full."""
        runtime = get_runtime()
        policy = runtime.settings.collection(event.collection)
        collector = self._collector(event.collection)
        if not policy.enabled:
            runtime.stats.dropped(event.collection, "disabled")
            return False
        context = BasicCorrelationContext(
            id=event.correlation_id, headers={"x-request-id": event.xrequest_id}
        )
        snapshot = PayloadSnapshot(
            event.body,
            event.content_type,
            event.extra,
            root=policy.root,
            sink=self._sink,
            max_event_bytes=self._max_event_bytes,
        )
        try:
            collector.emit(snapshot, context, data_type=event.data_type, extra=event.extra)
        except DataDroppedError as exc:
            raise IngestError(503, f"{exc}; retry later") from None
        return True
