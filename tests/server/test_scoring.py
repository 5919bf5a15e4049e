"""/score over real HTTP: correlation, request ids, return values, errors, payload capture."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import modeltap
from modeltap.stats import CollectionStats
from tests.server.conftest import SCRIPTS, ServerProcess, running, write_deployment

MAX_REQUEST = 64 * 1024
MAX_EVENT = 2048


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: all four collections, a header allowlist, small limits."""
    folder = tmp_path_factory.mktemp("scoring")
    deployment = write_deployment(
        folder,
        endpoint_name="ep",
        name="blue",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={
            "collections": {
                name: {"enabled": "True"}
                for name in ("model_inputs", "model_outputs", "request", "response")
            },
            "request_logging": {"capture_headers": ["X-Tenant", "content-type"]},
            "segment_max_age": 0.2,
            "fsync": "never",
        },
        server={"max_request_bytes": MAX_REQUEST, "max_event_bytes": MAX_EVENT},
    )
    with running(folder, "serve", "-f", str(deployment)) as process:
        yield process


def _by_id(records: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r["correlationid"] == request_id]


def _wait_for(server: ServerProcess, collection: str, request_id: str) -> list[dict[str, Any]]:
    for _ in range(3):
        found = _by_id(server.wait_records(collection, 1), request_id)
        if found:
            return found
        server.wait_records(collection, len(server.records(collection)) + 1, timeout=10)
    return _by_id(server.records(collection), request_id)


def test_liveness_and_readiness(server: ServerProcess) -> None:
    """GET / answers Healthy and /ready answers 200 once init() ran."""
    with server.client() as client:
        assert client.get("/").text == "Healthy"
        assert client.get("/ready").status_code == 200


def test_records_of_one_request_share_its_id(server: ServerProcess) -> None:
    """request, response, model_inputs and model_outputs all carry the caller's x-request-id."""
    body = {"rows": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}
    with server.client() as client:
        reply = client.post("/score", json=body, headers={"x-request-id": "corr-1"})
    assert reply.status_code == 200
    assert reply.headers["x-request-id"] == "corr-1"
    assert reply.json()["scores"] == [{"score": 2.0}, {"score": 2.0}]
    for collection in ("request", "response", "model_inputs", "model_outputs"):
        records = _wait_for(server, collection, "corr-1")
        assert len(records) == 1, collection
        assert records[0]["xrequestid"] == "corr-1"
    assert _wait_for(server, "model_inputs", "corr-1")[0]["data"] == body["rows"]
    request = _wait_for(server, "request", "corr-1")[0]
    assert request["data"] == body
    assert (request["path"], request["method"], request["statuscode"]) == ("/score", "POST", 200)
    assert request["datacontenttype"] == "application/json"
    response = _wait_for(server, "response", "corr-1")[0]
    assert response["data"]["scores"] == [{"score": 2.0}, {"score": 2.0}]
    assert response["latencyms"] >= 0


def test_request_id_generated_when_absent(server: ServerProcess) -> None:
    """Without x-request-id the server makes one, returns it, and the records carry it."""
    with server.client() as client:
        reply = client.post("/score", json={"rows": [{"a": 1}]})
    generated = reply.headers["x-request-id"]
    assert uuid.UUID(generated).version == 4
    assert _wait_for(server, "model_outputs", generated)


def test_request_id_over_100_characters_is_431(server: ServerProcess) -> None:
    """An x-request-id longer than 100 characters answers 431 without calling run()."""
    with server.client() as client:
        too_long = {"x-request-id": "x" * 101}
        reply = client.post("/score", json={"rows": [{"a": 1}]}, headers=too_long)
        accepted = client.post("/score", json={"rows": []}, headers={"x-request-id": "y" * 100})
    assert reply.status_code == 431
    assert accepted.status_code == 200


def test_client_request_id_is_echoed(server: ServerProcess) -> None:
    """x-ms-client-request-id comes back unchanged."""
    with server.client() as client:
        reply = client.post(
            "/score", json={"rows": []}, headers={"x-ms-client-request-id": "client-7"}
        )
    assert reply.headers["x-ms-client-request-id"] == "client-7"


def test_str_return_is_a_json_string(server: ServerProcess) -> None:
    """A str returned by run() is sent JSON-encoded, as the platform server does."""
    with server.client() as client:
        reply = client.post("/score", json={"rows": [], "mode": "text"})
    assert reply.headers["content-type"] == "application/json"
    assert reply.content == b'"plain text answer"'


def test_response_object_is_honoured(server: ServerProcess) -> None:
    """A Response returned by run() is sent as is, status and headers included."""
    with server.client() as client:
        reply = client.post("/score", json={"rows": [], "mode": "response"},
                            headers={"x-request-id": "resp-obj"})
    assert reply.status_code == 201
    assert reply.headers["x-custom"] == "yes"
    assert reply.text == "custom"
    record = _wait_for(server, "response", "resp-obj")[0]
    assert record["statuscode"] == 201
    assert record["data"] == "custom"
    assert record["datacontenttype"] == "text/plain"


def test_run_exception_is_500_without_traceback(server: ServerProcess) -> None:
    """An exception in run() answers 500 with a short message; the log has the traceback."""
    with server.client() as client:
        reply = client.post("/score", json={"mode": "fail"}, headers={"x-request-id": "boom-1"})
    assert reply.status_code == 500
    assert "Traceback" not in reply.text
    assert "exploded" not in reply.text
    assert "boom-1" in reply.text
    assert "the model exploded on purpose" in server.log()
    record = _wait_for(server, "response", "boom-1")[0]
    assert record["statuscode"] == 500
    assert _wait_for(server, "request", "boom-1")[0]["data"] == {"mode": "fail"}


def test_non_utf8_body_is_400_and_captured_as_base64(server: ServerProcess) -> None:
    """A body that is not UTF-8 answers 400 and is still captured, base64-encoded."""
    raw = b"\xff\xfe\x00binary"
    with server.client() as client:
        reply = client.post("/score", content=raw, headers={
            "content-type": "application/octet-stream", "x-request-id": "bin-1"})
    assert reply.status_code == 400
    record = _wait_for(server, "request", "bin-1")[0]
    assert record["dataencoding"] == "base64"
    assert record["datacontenttype"] == "application/octet-stream"
    assert base64.b64decode(record["data"]) == raw


def test_text_body_is_captured_as_text(server: ServerProcess) -> None:
    """A text/plain body is stored as a JSON string with its content type."""
    with server.client() as client:
        client.post("/score", content=b"not json at all", headers={
            "content-type": "text/plain", "x-request-id": "text-1"})
    record = _wait_for(server, "request", "text-1")[0]
    assert record["data"] == "not json at all"
    assert record["datacontenttype"] == "text/plain"


def test_body_over_limit_is_413_before_run(server: ServerProcess) -> None:
    """A body above max_request_bytes answers 413; run() never sees it and neither the request
    nor the response is captured (a refused request is not data)."""
    rows = [{"a": "x" * 1000} for _ in range(MAX_REQUEST // 1000 + 5)]
    with server.client() as client:
        reply = client.post("/score", json={"rows": rows}, headers={"x-request-id": "big-413"})
        marker = client.post("/score", json={"rows": []}, headers={"x-request-id": "after-413"})
    assert reply.status_code == 413 and marker.status_code == 200
    assert _wait_for(server, "response", "after-413")
    assert _wait_for(server, "request", "after-413")
    for collection in ("request", "response", "model_inputs"):
        assert not _by_id(server.records(collection), "big-413"), collection


def test_refused_431_is_not_captured(server: ServerProcess) -> None:
    """A request refused for its over-long x-request-id (431) is not captured."""
    with server.client() as client:
        refused = client.post("/score", json={"rows": [{"a": "431-body"}]},
                              headers={"x-request-id": "z" * 101})
        marker = client.post("/score", json={"rows": []}, headers={"x-request-id": "after-431"})
    assert refused.status_code == 431 and marker.status_code == 200
    assert _wait_for(server, "response", "after-431")
    assert _wait_for(server, "request", "after-431")
    for collection in ("request", "response"):
        assert not [r for r in server.records(collection) if r.get("statuscode") == 431]
        assert b"431-body" not in orjson.dumps(server.records(collection))


def test_large_body_is_stored_out_of_line(server: ServerProcess) -> None:
    """A body above max_event_bytes is written beside the partition and referenced by dataref."""
    body = {"rows": [{"text": "y" * 100} for _ in range(MAX_EVENT // 50)]}
    with server.client() as client:
        assert client.post("/score", json=body, headers={"x-request-id": "ref-1"}).is_success
    record = _wait_for(server, "request", "ref-1")[0]
    assert record["data"] is None
    reference = record["dataref"]
    assert "/_payloads/" in reference
    collection_root = server.data_dir / "ep" / "blue" / "request"
    assert json.loads((collection_root / reference).read_bytes()) == body

    from modeltap.server.payload import resolve_dataref

    assert resolve_dataref(record, str(collection_root)) == body
    frame = modeltap.read(str(collection_root))
    assert frame.loc[frame["correlationid"] == "ref-1", "data"].tolist() == [body]


def test_only_allowlisted_headers_are_captured(server: ServerProcess) -> None:
    """Allowlisted headers are kept (case-insensitively); others and credentials are not."""
    headers = {
        "X-Tenant": "contoso",
        "x-other": "nope",
        "Authorization": "Bearer secret-value",
        "x-request-id": "hdr-1",
    }
    with server.client() as client:
        client.post("/score", json={"rows": []}, headers=headers)
    record = _wait_for(server, "request", "hdr-1")[0]
    assert record["headers"] == {"x-tenant": "contoso", "content-type": "application/json"}
    assert b"secret-value" not in orjson.dumps(record)


def test_metrics_expose_requests_and_collector_counters(server: ServerProcess) -> None:
    """/metrics is Prometheus text with request counts and every stats() counter."""
    with server.client() as client:
        client.post("/score", json={"rows": [{"a": 1}]})
        text = client.get("/metrics").text
    assert re.search(
        r'modeltap_http_requests_total\{method="POST",pid="\d+",route="/score",status="200"\}',
        text,
    )
    assert "modeltap_http_request_duration_seconds_bucket" in text
    for counter in ("collected", "sampled_out", "events_written", "rows_written",
                    "bytes_written", "files_committed"):
        assert f'modeltap_{counter}_total{{collection="model_inputs"' in text, counter
    for field in dataclasses.fields(CollectionStats):
        if field.name != "dropped":
            assert f"modeltap_{field.name}_total{{" in text, field.name
    for gauge in ("queue_depth", "queue_bytes", "spool_bytes", "spool_segments",
                  "oldest_waiting_age_seconds", "commit_failures_total", "commit_retries_total"):
        assert f"modeltap_{gauge}{{" in text, gauge


def test_wrong_method_and_route(server: ServerProcess) -> None:
    """GET /score is 405 and an unknown route 404."""
    with server.client() as client:
        assert client.get("/score").status_code == 405
        assert client.get("/nowhere").status_code == 404


def test_invalid_json_reaches_run_and_fails_cleanly(server: ServerProcess) -> None:
    """Malformed JSON makes run() raise: 500 with a short reason, nothing collected for it."""
    with server.client() as client:
        reply = client.post("/score", content=b"{not json", headers={
            "content-type": "application/json", "x-request-id": "badjson"})
    assert reply.status_code == 500
    record = _wait_for(server, "request", "badjson")[0]
    assert record["data"] == "{not json"
