"""Payload snapshots: HTTP bodies as a record's data, and what the writer makes of queued parts."""

from __future__ import annotations

import pickle

import pytest

from modeltap.snapshot.payload import PayloadSnapshot, encode_body, payload_from_parts


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"a": 1}', "application/json", (b'{"a": 1}', "application/json", False)),
        (b'{"a":\n 1}', "application/json; charset=utf-8", (b'{"a":1}', "application/json", False)),
        (b"hello", "text/plain", (b'"hello"', "text/plain", False)),
        (b"\xff\x00", "application/octet-stream", (b'"/wA="', "application/octet-stream", True)),
        (b"", "", (b"null", "application/json", False)),
    ],
)
def test_bodies_encode_as_json_text_or_base64(
    body: bytes, content_type: str, expected: tuple[bytes, str, bool]
) -> None:
    """JSON stays JSON (one line), text becomes a JSON string, anything else base64."""
    assert encode_body(body, content_type) == expected


def test_queued_parts_become_a_snapshot_with_its_envelope_fields() -> None:
    """``payload_from_parts`` rounds the latency, pairs the headers and keeps the body; the
    snapshot pickles for the writer process and encodes alike."""
    snapshot = payload_from_parts(b"plain", "text/plain", False, "/score", "POST", 500, 2.71828,
                                  "root", 1 << 20, "x-tenant", "blue", "x-trace", "7")
    assert snapshot.extra == {"path": "/score", "method": "POST", "statuscode": 500,
                              "latencyms": 2.718, "headers": {"x-tenant": "blue", "x-trace": "7"}}
    back = pickle.loads(pickle.dumps(snapshot))
    assert isinstance(back, PayloadSnapshot) and back.sink is not None
    assert back.to_json_rows() == snapshot.to_json_rows() == b'"plain"'
    assert snapshot.extra["datacontenttype"] == "text/plain"
    assert snapshot.to_arrow().column("data").to_pylist() == ['"plain"']
