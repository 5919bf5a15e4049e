"""JSON lines: one CloudEvents-style record per collect() call, with the platform's field names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from modeltap._ids import new_uuid4
from modeltap.event import Event, rfc3339_ms
from modeltap.snapshot import json_rows_many

__all__ = [
    "EXTENSION",
    "EnvelopeSource",
    "decode_records",
    "encode_event",
    "encode_events",
]

EXTENSION = "jsonl"


@dataclass(frozen=True, slots=True)
class EnvelopeSource:
    """The envelope fields shared by every record of one deployment."""

    endpoint: str
    deployment: str
    model_version: str
    agent: str
    _pieces: dict[str, tuple[bytes, bytes, bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this deployment."""
        return f"/endpoints/{self.endpoint}/deployments/{self.deployment}"

    def pieces(self, collection: str) -> tuple[bytes, bytes, bytes]:
        """The constant parts of a collection's records, encoded once: the fields between
        ``id`` and ``time``; ``modelversion`` up to ``collectdatatype``; ``agent`` up to the
        start of ``contentrange``."""
        pieces = self._pieces.get(collection)
        if pieces is None:
            fields = {
                "source": self.source,
                "type": f"modeltap.inference.{collection}",
                "datacontenttype": "application/json",
            }
            pieces = (
                b'",' + orjson.dumps(fields)[1:-1] + b',"time":"',
                b',"modelversion":' + orjson.dumps(self.model_version) + b',"collectdatatype":',
                b',"agent":' + orjson.dumps(self.agent) + b',"contentrange":"bytes 0-',
            )
            self._pieces[collection] = pieces
        return pieces


_PREFIX = b'{"specversion":"1.0","id":"'


def encode_event(event: Event, envelope: EnvelopeSource) -> bytes:
    """One record line (with its newline). ``data`` is the rows array as the snapshot encodes it."""
    return _line(event, envelope, event.snapshot.to_json_rows())


def encode_events(events: Sequence[Event], envelope: EnvelopeSource) -> list[bytes | Exception]:
    """The record line of each event (as ``encode_event`` gives it), or the exception its
    encoding raised. Small pandas frames of one schema have their rows encoded together."""
    datas = json_rows_many([event.snapshot for event in events])
    lines: list[bytes | Exception] = []
    for event, data in zip(events, datas, strict=True):
        if isinstance(data, Exception):
            lines.append(data)
            continue
        try:
            lines.append(_line(event, envelope, data))
        except Exception as exc:
            lines.append(exc)
    return lines


def _line(event: Event, envelope: EnvelopeSource, data: bytes) -> bytes:
    if event.extra:
        return _encode_with_extra(event, envelope, data)
    size = len(data)
    head, model, agent = envelope.pieces(event.collection)
    return b"".join(
        (
            _PREFIX,
            new_uuid4().encode(),
            head,
            rfc3339_ms(event.time_ns).encode(),
            b'","data":',
            data,
            b',"correlationid":',
            orjson.dumps(event.correlation_id),
            b',"xrequestid":',
            orjson.dumps(event.xrequest_id),
            model,
            orjson.dumps(event.data_type),
            agent,
            f"{size - 1}/{size}\"}}\n".encode(),
        )
    )


def _encode_with_extra(event: Event, envelope: EnvelopeSource, data: bytes) -> bytes:
    head: dict[str, Any] = {
        "specversion": "1.0",
        "id": new_uuid4(),
        "source": envelope.source,
        "type": f"modeltap.inference.{event.collection}",
        "datacontenttype": "application/json",
        "time": rfc3339_ms(event.time_ns),
    }
    tail: dict[str, Any] = {
        "correlationid": event.correlation_id,
        "xrequestid": event.xrequest_id,
        "modelversion": envelope.model_version,
        "collectdatatype": event.data_type,
        "agent": envelope.agent,
        "contentrange": f"bytes 0-{len(data) - 1}/{len(data)}",
    }
    assert event.extra is not None
    for key, value in event.extra.items():
        (head if key in head else tail)[key] = value  # extra may override head fields too
    return b"".join(
        (orjson.dumps(head)[:-1], b',"data":', data, b",", orjson.dumps(tail)[1:], b"\n")
    )


def decode_records(blob: bytes) -> Iterator[dict[str, Any]]:
    """Parse the records of a JSON lines file (blank lines skipped)."""
    for line in blob.splitlines():
        if line.strip():
            record = orjson.loads(line)
            if isinstance(record, dict):
                yield record
