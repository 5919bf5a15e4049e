"""JSON lines: one CloudEvents-style record per collect() call, with the platform's field names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from modeltap.event import Event, rfc3339_ms

__all__ = ["EXTENSION", "EnvelopeSource", "decode_records", "encode_event"]

EXTENSION = "jsonl"


@dataclass(frozen=True, slots=True)
class EnvelopeSource:
    """The envelope fields shared by every record of one deployment."""

    endpoint: str
    deployment: str
    model_version: str
    agent: str

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this deployment."""
        return f"/endpoints/{self.endpoint}/deployments/{self.deployment}"


def encode_event(event: Event, envelope: EnvelopeSource) -> bytes:
    """One record line (with its newline). ``data`` is the rows array as the snapshot encodes it."""
    data = event.snapshot.to_json_rows()
    head: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
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
    if event.extra:
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
