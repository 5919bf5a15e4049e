"""JSON lines encoding: one CloudEvents-style record per collect() call, with the platform's
field names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from modeltap._ids import new_uuid4
from modeltap.event import Event, rfc3339_ms
from modeltap.formats.bigints import has_big_ints, is_big_int_error, with_big_ints_as_text
from modeltap.formats.envelope import EnvelopeSource
from modeltap.snapshot import json_rows_many

__all__ = ["EXTENSION", "encode_event", "encode_events"]

EXTENSION = "jsonl"


_PREFIX = b'{"specversion":"1.0","id":"'
_NUMBER_WRITERS = frozenset({"PolarsSnapshot", "ColumnsSnapshot"})


def _writes_big_numbers(event: Event) -> bool:
    """Whether the snapshot would write integers beyond 64 bits as JSON numbers (which most
    readers, modeltap's included, read back rounded)."""
    return type(event.snapshot).__name__ in _NUMBER_WRITERS and has_big_ints(event.snapshot)


def encode_event(event: Event, envelope: EnvelopeSource) -> bytes:
    """One record line (with its newline). ``data`` is the rows array as the snapshot encodes
    it; integers beyond 64 bits as decimal text (see ``modeltap.formats.bigints``)."""
    if _writes_big_numbers(event):
        event = with_big_ints_as_text(event) or event
    try:
        return _line(event, envelope, event.snapshot.to_json_rows())
    except (TypeError, ValueError, OverflowError) as exc:
        wider = with_big_ints_as_text(event) if is_big_int_error(exc) else None
        if wider is None:
            raise
        return _line(wider, envelope, wider.snapshot.to_json_rows())


def encode_events(events: Sequence[Event], envelope: EnvelopeSource) -> list[bytes | Exception]:
    """The record line of each event (as ``encode_event`` gives it), or the exception its
    encoding raised. Small pandas frames of one schema have their rows encoded together."""
    datas = json_rows_many([event.snapshot for event in events])
    lines: list[bytes | Exception] = []
    for event, data in zip(events, datas, strict=True):
        if isinstance(data, Exception) or _writes_big_numbers(event):
            try:
                lines.append(encode_event(event, envelope))  # big integers, or the error
            except Exception as exc:
                lines.append(exc)
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
