"""Payload capture: what the request path queues, and the records the writer makes of it."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from modeltap.context import BasicCorrelationContext
from modeltap.event import COLLECTION, EXTRA, KIND, PAYLOAD, Event
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.runtime import get_runtime
from modeltap.server.capture import PayloadCapture
from modeltap.server.payload import PayloadSnapshot
from tests.conftest import ConfigureTap, ReadRecords

_REQUEST_HEADERS = [(b"content-type", b"application/json"), (b"X-Tenant", b"blue"),
                    (b"x-tenant", b"green"), (b"authorization", b"Bearer secret")]
_RESPONSE_HEADERS = [(b"content-type", b"application/json"), (b"x-tenant", b"red")]


def _capture_one(capture: PayloadCapture, context: BasicCorrelationContext) -> None:
    capture.capture(
        context,
        path="/score",
        method="POST",
        request_headers=_REQUEST_HEADERS,
        request_body=b'{"data": [1, 2]}',
        request_type="application/json",
        status=200,
        response_headers=_RESPONSE_HEADERS,
        response_body=b'{"prediction": [0.5]}',
        response_type="application/json",
        latency_ms=1.23456,
        response_is_json=True,
    )


def test_queued_payload_events_hold_atoms_and_become_payload_snapshots(
    configure_tap: ConfigureTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request path queues events of kind PAYLOAD holding bytes, strings and numbers only;
    unpacked, each is a PayloadSnapshot with the call's envelope fields."""
    settings = configure_tap(
        collections={"request": {"enabled": True}, "response": {"enabled": True}},
        request_logging={"capture_headers": ["x-tenant"]},
    )
    capture = PayloadCapture(settings, max_event_bytes=1 << 20)
    queued: list[Any] = []
    put = EventQueue.put_packed

    def recording(queue: EventQueue, packed: Any) -> Event | None:
        queued.append(packed)
        return put(queue, packed)

    monkeypatch.setattr(EventQueue, "put_packed", recording)
    _capture_one(capture, BasicCorrelationContext(id="call-1"))
    assert [packed[COLLECTION] for packed in queued] == ["request", "response"]
    assert all(packed[KIND] == PAYLOAD and packed[EXTRA] is None for packed in queued)
    gc.collect(0)
    assert not any(gc.is_tracked(packed) for packed in queued)  # atoms only
    request, response = (Event.unpack(packed) for packed in queued)
    assert isinstance(request.snapshot, PayloadSnapshot)
    assert request.extra is request.snapshot.extra
    assert request.extra == {"path": "/score", "method": "POST", "statuscode": 200,
                             "latencyms": 1.235, "headers": {"x-tenant": "blue, green"}}
    assert (request.correlation_id, request.data_type) == ("call-1", "http.request")
    assert response.extra is not None and response.extra["headers"] == {"x-tenant": "red"}
    assert response.snapshot.to_json_rows() == b'{"prediction": [0.5]}'
    assert get_runtime().stats.snapshot().collections["request"].collected == 1


def test_captured_records_carry_the_outcome_and_picked_headers(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Written records have the body as data and the outcome, latency and allowlisted headers
    (no credentials) as envelope fields, whichever writer encodes them."""
    for writer in ("thread", "process"):
        settings = configure_tap(
            writer=writer,
            collections={"request": {"enabled": True}, "response": {"enabled": True}},
            request_logging={"capture_headers": ["x-tenant"]},
        )
        capture = PayloadCapture(settings, max_event_bytes=1 << 20)
        _capture_one(capture, BasicCorrelationContext(id=f"call-{writer}"))
        request = [r for r in read_records("request") if r["correlationid"] == f"call-{writer}"]
        response = [r for r in read_records("response") if r["correlationid"] == f"call-{writer}"]
        assert len(request) == len(response) == 1, writer
        assert request[0]["data"] == {"data": [1, 2]}
        assert response[0]["data"] == {"prediction": [0.5]}
        for record in (request[0], response[0]):
            assert (record["path"], record["method"], record["statuscode"]) == ("/score", "POST",
                                                                                200)
            assert record["latencyms"] == 1.235
            assert record["datacontenttype"] == "application/json"
            assert "authorization" not in record["headers"]
        assert request[0]["headers"] == {"x-tenant": "blue, green"}
        assert response[0]["headers"] == {"x-tenant": "red"}
