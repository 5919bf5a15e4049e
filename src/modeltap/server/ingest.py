"""Ingest: records posted by other collectors land in the same layout with the same ids.

``POST /modeldata/log`` speaks the protocol of the reference SDK ``azureml-ai-monitoring``
1.0.0: the collection comes from ``ce-type`` (``azureml.inference.<collection>``), the correlation
id from ``ce-x-request-id``, the event id from ``trace-id`` (kept as ``eventid``), the event time
from ``ce-time`` (epoch seconds), the data type from ``ce-collect-data-type``, and the body is
the frame as ``DataFrame.to_json(orient="records")``.

``POST /events`` accepts CloudEvents over HTTP in binary mode (``ce-*`` headers, the body is the
data), structured mode (``application/cloudevents+json``) and batch mode
(``application/cloudevents-batch+json``). Binary-mode header values are percent-decoded as the
CloudEvents HTTP binding says (UTF-8), and extension values of structured mode are written as
binary mode carries them (``true``/``false``, integers in decimal), so both modes give the same
record. The type maps to a collection: ``*.request`` and ``*.response`` (e.g. a KServe inference
logger's) to ``request`` and ``response``, ``azureml.inference.<c>`` and
``modeltap.inference.<c>`` to ``<c>``. The event's ``id`` is kept as ``eventid`` and is the
record's ``correlationid``, with ``cetype`` and ``cesource`` beside it.

**Time.** An event is filed under its own time: the record's ``time`` and its partition folder
both come from the client's ``time`` attribute (``ce-time`` for the MDC protocol), normalised to
RFC 3339 UTC with milliseconds, so a read of any window finds the event where its ``time`` says.
A redelivered event therefore lands in the same partition as the first delivery. Without a time
the arrival time is used. A time that is not RFC 3339 with an offset (epoch seconds for MDC),
before 1970 or more than ``MAX_FUTURE_SECONDS`` ahead of this server's clock is refused with 400
naming the header or attribute. The client's original string is not kept: only precision below a
millisecond is lost.

**Redelivery.** An event is identified by its type, source, id and correlation id together (MDC:
``ce-type``, ``trace-id`` and ``ce-x-request-id``), never by a client-chosen id alone, so one
client's ids cannot hide another's records. The record's ``id`` is a name-based UUID of those
four (``event_uuid``): every delivery of an event gets the same ``id``, and no other event does.
Repeats are dropped twice over. At ingest, each worker process remembers the events it accepted
in the last ``DEDUP_SECONDS`` (at most ``DEDUP_MAX_EVENTS`` of them, 16-byte keys: about 18 MB
when full, the oldest forgotten first) and answers a repeat 200 (``duplicate``) without storing
it again: that covers a client retrying because it missed our answer. A repeat that reaches
another worker, or comes after a restart or outside that window, is stored again, in the same
partition (the event's own time) with the same ``id``, and ``modeltap.read`` keeps the first
copy of every ``id``; other readers can do the same (``SELECT DISTINCT ON (id)``). An MDC event
without ``trace-id`` is never de-duplicated.

**Limits.** Ids (event id, source, type, correlation and request ids) longer than
``MAX_RECORDED_LENGTH`` characters are refused (431 for a header, 400 in a body); other header
and extension values are cut to that length, at most ``MAX_RECORDED_ATTRIBUTES`` of them are kept,
and those whose names may carry credentials (``is_secret_header``) are never stored. When the
configuration lists collections, an event of any other collection is refused with 400 and nothing
is created for it; without a list, at most ``data_collector.ingest_max_collections`` distinct
collections are created, and events of new names beyond are refused with 400 and counted in
``stats()`` as drops of the collection ``*`` with the reason ``too_many_collections``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from modeltap.collector import Collector
from modeltap.config import check_collection_name
from modeltap.context import BasicCorrelationContext
from modeltap.errors import DataDroppedError, IngestError, InvalidCollectionNameError
from modeltap.pipeline.runtime import get_runtime
from modeltap.server.headers import MAX_RECORDED_LENGTH, is_secret_header
from modeltap.server.payload import BlobSink, PayloadSnapshot

__all__ = [
    "DEDUP_MAX_EVENTS",
    "DEDUP_SECONDS",
    "MAX_FUTURE_SECONDS",
    "MAX_RECORDED_ATTRIBUTES",
    "REFUSED_COLLECTION",
    "IngestError",
    "IngestEvent",
    "Ingestor",
    "RecentEvents",
    "collection_of_type",
    "event_uuid",
    "parse_cloudevents",
    "parse_epoch_seconds",
    "parse_mdc",
    "parse_rfc3339",
]

MAX_FUTURE_SECONDS = 86_400
"""How far ahead of this server's clock an event's time may be (clock skew)."""
MAX_RECORDED_ATTRIBUTES = 64
"""The most context headers or extensions one record keeps."""
DEDUP_SECONDS = 600.0
"""How long a worker remembers an accepted event to recognise its redelivery."""
DEDUP_MAX_EVENTS = 100_000
"""The most events a worker remembers for that (the oldest are forgotten first)."""
REFUSED_COLLECTION = "*"
"""The collection ``stats()`` counts refused new collection names under (no name is kept)."""

_MDC_PREFIX = "azureml.inference."
_OWN_PREFIX = "modeltap.inference."
_MDC_RESERVED = frozenset(
    {"ce-time", "ce-type", "ce-collect-data-type", "ce-agent", "ce-x-request-id",
     "ce-model-version"}
)
_CE_CORE = frozenset({"specversion", "type", "source", "id", "time", "datacontenttype",
                      "dataschema", "subject", "data", "data_base64"})
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAMESPACE = uuid.UUID("5c0f3f0e-3a52-4a43-9d2c-6f1f0f4b7a11")  # of ingested events' ids


@dataclass
class IngestEvent:
    """One event to store: its collection, ids, time, body and envelope fields."""

    collection: str
    correlation_id: str
    xrequest_id: str
    body: bytes
    content_type: str
    data_type: str
    extra: dict[str, Any]
    time_ns: int | None = None
    """The event's own time (record ``time`` and partition); None: the arrival time."""
    key: bytes | None = field(default=None, repr=False)
    """What identifies the event for de-duplication; None: never de-duplicated."""


def _check_time(ns: int, label: str, value: str) -> int:
    latest = (time.time() + MAX_FUTURE_SECONDS) * 1e9
    if ns < 0 or ns > latest:
        raise IngestError(
            400,
            f"{label} {value!r} is out of range: an event time must lie between 1970 and "
            f"{MAX_FUTURE_SECONDS // 3600} h after this server's time",
        )
    return ns


def parse_rfc3339(value: str, label: str = "time") -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (``T``/``Z`` in either case, any
    fraction, an offset required); IngestError(400) naming ``label`` otherwise."""
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise IngestError(
            400,
            f"{label} {value!r} is not an RFC 3339 time: send e.g. 2024-05-01T12:34:56.789Z "
            "(a date, 'T', a time and 'Z' or an offset such as +02:00)",
        )
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    leap = second == 60  # RFC 3339 allows a leap second: the last instant of that minute
    if leap:
        second, fraction = 59, "999999999"
    offset = dt.timedelta(0)
    if match.group(9):
        offset = dt.timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        parsed = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone(offset))
    except ValueError as exc:
        raise IngestError(400, f"{label} {value!r} is not a valid time: {exc}") from None
    delta = parsed - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return _check_time(seconds * 1_000_000_000 + int(fraction.ljust(9, "0")), label, value)


def parse_epoch_seconds(value: str, label: str = "ce-time") -> int:
    """Nanoseconds since the epoch of a time in epoch seconds (the MDC protocol's ``ce-time``);
    IngestError(400) naming ``label`` for anything else."""
    try:
        seconds = float(value)
    except ValueError:
        raise IngestError(400, f"{label} {value!r} is not a time in epoch seconds") from None
    if not math.isfinite(seconds):
        raise IngestError(400, f"{label} {value!r} is not a time in epoch seconds")
    if not -1.0 < seconds < 1e12:  # before float's precision and datetime's range run out
        return _check_time(-1, label, value)
    return _check_time(round(seconds * 1_000_000) * 1_000, label, value)


def event_uuid(event_type: str, source: str, event_id: str, correlation_id: str) -> uuid.UUID:
    """The record id of an ingested event: a name-based UUID (RFC 4122 version 5) of what
    identifies it, the same for every delivery of the event and for no other event."""
    name = orjson.dumps([event_type, source, event_id, correlation_id]).decode()
    return uuid.uuid5(_NAMESPACE, name)


def _id(value: str, label: str, status: int) -> str:
    if len(value) > MAX_RECORDED_LENGTH:
        raise IngestError(
            status,
            f"{label} is longer than {MAX_RECORDED_LENGTH} characters ({len(value)}): "
            "modeltap stores ids of at most that length; send a shorter id",
        )
    return value


def _media_type(value: str, label: str, status: int) -> str:
    """A content type whose media type (what the record's ``datacontenttype`` keeps) is at most
    ``MAX_RECORDED_LENGTH`` characters."""
    _id(value.split(";", 1)[0].strip(), label, status)
    return value


def _attributes(items: Mapping[str, str], status: int) -> dict[str, str]:
    """Context headers or extensions as a record keeps them: no secrets, values cut to
    ``MAX_RECORDED_LENGTH``, at most ``MAX_RECORDED_ATTRIBUTES`` of them."""
    kept: dict[str, str] = {}
    for name, value in items.items():
        if is_secret_header(name):
            continue
        _id(name, f"the attribute name {name[:40]!r}...", status)
        kept[name] = value[:MAX_RECORDED_LENGTH]
    if len(kept) > MAX_RECORDED_ATTRIBUTES:
        raise IngestError(
            status,
            f"{len(kept)} context attributes (headers or extensions): modeltap keeps at most "
            f"{MAX_RECORDED_ATTRIBUTES} per event",
        )
    return kept


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
    collection = collection_of_type(_id(event_type, "ce-type", 431))
    trace_id = _id(headers.get("trace-id") or "", "trace-id", 431)
    correlation_id = _id(headers.get("ce-x-request-id") or "", "ce-x-request-id", 431)
    correlation_id = correlation_id or trace_id or BasicCorrelationContext().get_id()
    extra: dict[str, Any] = {}
    time_ns = None
    if headers.get("ce-time"):
        time_ns = parse_epoch_seconds(headers["ce-time"], "ce-time")
    key = None
    if trace_id:
        key = event_uuid(event_type, "", trace_id, correlation_id)
        extra["id"] = str(key)
        extra["eventid"] = trace_id
    if headers.get("ce-agent"):
        extra["agent"] = headers["ce-agent"][:MAX_RECORDED_LENGTH]
    if headers.get("ce-model-version"):
        extra["modelversion"] = headers["ce-model-version"][:MAX_RECORDED_LENGTH]
    context_headers = _attributes(
        {name[3:]: value for name, value in headers.items()
         if name.startswith("ce-") and name not in _MDC_RESERVED},
        431,
    )
    if context_headers:
        extra["headers"] = context_headers
    request_id = _id(headers.get("ce-x-ms-client-request-id") or correlation_id,
                     "ce-x-ms-client-request-id", 431)
    return IngestEvent(
        collection=collection,
        correlation_id=correlation_id,
        xrequest_id=request_id,
        body=body,
        content_type=_mdc_content_type(
            _media_type(headers.get("content-type", "application/json"), "content-type", 431)
        ),
        data_type=(headers.get("ce-collect-data-type") or "python.str")[:MAX_RECORDED_LENGTH],
        extra=extra,
        time_ns=time_ns,
        key=key.bytes if key is not None else None,
    )


def _attribute_text(name: str, value: Any) -> str:
    """A structured-mode attribute as binary mode's header carries it (CloudEvents type
    system: booleans ``true``/``false``, integers in decimal, strings as they are)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise IngestError(
        400, f"CloudEvent attribute {name[:40]!r} must be a string, an integer or a boolean "
        f"(got {type(value).__name__})"
    )


def _from_attributes(
    attributes: Mapping[str, str], body: bytes, content_type: str, *, status: int, where: str
) -> IngestEvent:
    for required in ("specversion", "id", "source", "type"):
        if not attributes.get(required):
            raise IngestError(400, f"CloudEvent without required attribute {required!r}")
    event_type = _id(attributes["type"], f"{where}type", status)
    source = _id(attributes["source"], f"{where}source", status)
    event_id = _id(attributes["id"], f"{where}id", status)
    collection = collection_of_type(event_type)
    time_ns = None
    if attributes.get("time"):
        time_ns = parse_rfc3339(attributes["time"], f"{where}time")
    key = event_uuid(event_type, source, event_id, event_id)
    extra: dict[str, Any] = {
        "id": str(key), "eventid": event_id, "cetype": event_type, "cesource": source
    }
    extensions = _attributes({k: v for k, v in attributes.items() if k not in _CE_CORE}, status)
    if extensions:
        extra["extensions"] = extensions
    return IngestEvent(
        collection=collection,
        correlation_id=event_id,
        xrequest_id=event_id,
        body=body,
        content_type=_media_type(content_type, f"{where}datacontenttype", status),
        data_type="cloudevent",
        extra=extra,
        time_ns=time_ns,
        key=key.bytes,
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
    attributes = {
        str(name): _attribute_text(str(name), value)
        for name, value in document.items()
        if name not in ("data", "data_base64") and value is not None
    }
    return _from_attributes(attributes, body, content_type, status=400, where="attribute ")


def _percent_decoded(name: str, value: str) -> str:
    """A binary-mode header value as the CloudEvents HTTP binding says: percent-decoded UTF-8
    (raw UTF-8 bytes, which the binding does not allow, are read as UTF-8 too)."""
    try:
        text = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        text = value
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise IngestError(
            400, f"header {name}: its percent-encoding does not decode as UTF-8"
        ) from None


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
    attributes = {name[3:]: _percent_decoded(name, value)
                  for name, value in headers.items() if name.startswith("ce-")}
    content_type = _media_type(content_type or "application/json", "content-type", 431)
    return [_from_attributes(attributes, body, content_type, status=431, where="header ce-")]


def _not_listed(name: str, listed: Mapping[str, Any], source: str) -> None:
    names = ", ".join(sorted(listed)) or "none"
    raise IngestError(
        400,
        f"collection {name!r} is not listed in data_collector.collections of {source} "
        f"(listed: {names}); list it there to ingest it",
    )


def _too_many(name: str, limit: int) -> None:
    get_runtime().stats.dropped(REFUSED_COLLECTION, "too_many_collections")
    raise IngestError(
        400,
        f"collection {name!r} refused: ingest already stores {limit} collections "
        "(data_collector.ingest_max_collections); list the collections in "
        "data_collector.collections or raise that limit",
    )


class RecentEvents:
    """The keys of the events accepted in the last ``seconds``, at most ``capacity`` of them
    (the oldest forgotten first): a bounded memory of what was already stored."""

    def __init__(
        self,
        seconds: float = DEDUP_SECONDS,
        capacity: int = DEDUP_MAX_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key: bytes) -> bool:
        """Remember ``key``; False when it is remembered already (a repeat)."""
        now = self._clock()
        with self._lock:
            seen = self._seen
            since = seen.get(key)
            if since is not None and now - since < self.seconds:
                return False
            while seen:
                oldest, since = next(iter(seen.items()))
                if now - since < self.seconds and len(seen) < self.capacity:
                    break
                del seen[oldest]
            seen.pop(key, None)  # an expired entry: remembered anew, at the end
            seen[key] = now
            return True

    def forget(self, key: bytes) -> None:
        """Forget ``key`` (its event was not stored after all, so a retry must be)."""
        with self._lock:
            self._seen.pop(key, None)


class Ingestor:
    """Turns ingest events into queued records, one Collector per accepted collection."""

    def __init__(
        self, sink: BlobSink, max_event_bytes: int, recent: RecentEvents | None = None
    ) -> None:
        self._sink = sink
        self._max_event_bytes = max_event_bytes
        self._collectors: dict[str, Collector] = {}
        self._lock = threading.Lock()
        self.recent = recent if recent is not None else RecentEvents()

    def _collector(self, name: str, limit: int | None) -> Collector:
        """The collection's Collector; IngestError(400) for a new name beyond ``limit``,
        counted."""
        collector = self._collectors.get(name)
        if collector is None:
            with self._lock:
                collector = self._collectors.get(name)
                if collector is None:
                    if limit is not None and len(self._collectors) >= limit:
                        _too_many(name, limit)
                    collector = Collector(name=name)
                    self._collectors[name] = collector
        return collector

    def check(self, events: list[IngestEvent]) -> None:
        """IngestError(400) when any of ``events`` would be refused for its collection (not
        listed, or a new name beyond the limit): a request is then refused as a whole, before
        any of its events is queued."""
        settings = get_runtime().settings
        listed = settings.collector.collections
        new = {e.collection for e in events} - set(self._collectors)
        if listed is None:
            limit = settings.collector.ingest_max_collections
            if len(self._collectors) + len(new) > limit:
                _too_many(sorted(new)[-1], limit)
            return
        for name in sorted(new):
            if name not in listed:
                _not_listed(name, listed, settings.source)

    def accept(self, event: IngestEvent) -> str:
        """Queue one event: ``accepted``, ``disabled`` (its listed collection is off) or
        ``duplicate`` (accepted before, in the window of ``recent``). IngestError(400) for a
        collection not listed or beyond the limit, 503 when the queue is full."""
        runtime = get_runtime()
        settings = runtime.settings
        listed = settings.collector.collections
        if listed is not None and event.collection not in listed:
            _not_listed(event.collection, listed, settings.source)
        policy = settings.collection(event.collection)
        if not policy.enabled:
            runtime.stats.dropped(event.collection, "disabled")
            return "disabled"
        limit = None if listed is not None else settings.collector.ingest_max_collections
        collector = self._collector(event.collection, limit)
        key = event.key
        if key is not None and not self.recent.add(key):
            return "duplicate"
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
            collector.emit(
                snapshot, context, data_type=event.data_type, extra=event.extra,
                time_ns=event.time_ns,
            )
        except DataDroppedError as exc:
            if key is not None:
                self.recent.forget(key)
            raise IngestError(503, f"{exc}; retry later") from None
        return "accepted"
