"""The Starlette app in-process: readiness before start-up, ingest auth, MDC header mapping,
payload capture after the answer."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

import modeltap
from modeltap.errors import IngestError
from modeltap.formats import get_format
from modeltap.server.app import AppOptions, build_app
from modeltap.server.auth import KeyAuth
from modeltap.server.ingest import collection_of_type, event_uuid, parse_mdc
from modeltap.server.scoring import ScoringScript


def _app(tmp_path: Path, **options: object) -> TestClient:
    settings = modeltap.configure(
        {"endpoint_name": "ep", "name": "dep",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never"}}
    )
    return TestClient(build_app(settings, None, AppOptions(**options)))  # type: ignore[arg-type]


def test_not_ready_before_start_up(tmp_path: Path) -> None:
    """/ready is 503 until the app has started, then 200; liveness is always 200."""
    client = _app(tmp_path)
    assert client.get("/ready").status_code == 503
    assert client.get("/").text == "Healthy"
    with client:
        assert client.get("/ready").status_code == 200


def test_bridge_key_is_accepted_on_modeldata_log_only(tmp_path: Path) -> None:
    """With auth on, /modeldata/log takes the endpoint key or the bridge's own key; /events and
    /score take only the endpoint key; no key is refused."""
    headers = {"ce-type": "azureml.inference.model_inputs", "content-type": "application/json"}
    event = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s",
             "ce-type": "a.request", "content-type": "application/json"}
    with _app(tmp_path, auth=KeyAuth("k"), bridge_key="b") as client:
        refused = client.post("/modeldata/log", content=b"[]", headers=headers)
        endpoint = client.post("/modeldata/log", content=b"[]",
                               headers={**headers, "Authorization": "Bearer k"})
        bridged = client.post("/modeldata/log", content=b"[]",
                              headers={**headers, "Authorization": "Bearer b"})
        events = client.post("/events", content=b"{}",
                             headers={**event, "Authorization": "Bearer b"})
    assert refused.status_code == 401
    assert endpoint.status_code == 202
    assert bridged.status_code == 202
    assert events.status_code == 401


def test_no_score_route_without_a_script(tmp_path: Path) -> None:
    """The ingest-only app has no /score."""
    with _app(tmp_path) as client:
        assert client.post("/score", content=b"{}").status_code == 404


def test_mdc_headers_map_to_the_envelope() -> None:
    """ce-* headers of the reference sender become collection, ids, time, agent and headers."""
    event = parse_mdc(
        {
            "ce-type": "azureml.inference.model_outputs",
            "ce-x-request-id": "corr-9",
            "ce-time": "1700000000",
            "ce-collect-data-type": "pandas.DataFrame",
            "ce-agent": "azureml-ai-monitoring/1.0.0",
            "ce-model-version": "3",
            "ce-tenant": "contoso",
            "trace-id": "trace-1",
            "content-type": "application/json",
        },
        b'[{"a":1}]',
    )
    assert event.collection == "model_outputs"
    assert event.correlation_id == event.xrequest_id == "corr-9"
    assert event.time_ns == 1_700_000_000 * 10**9
    assert event.extra == {
        "id": str(event_uuid("azureml.inference.model_outputs", "", "trace-1", "corr-9")),
        "eventid": "trace-1",
        "agent": "azureml-ai-monitoring/1.0.0",
        "modelversion": "3",
        "headers": {"tenant": "contoso"},
    }


def test_event_types_map_to_collections() -> None:
    """Types map to collections; a bad collection name or an unknown type is a 400."""
    assert collection_of_type("org.kubeflow.serving.inference.request") == "request"
    assert collection_of_type("org.kubeflow.serving.inference.response") == "response"
    assert collection_of_type("azureml.inference.model_inputs") == "model_inputs"
    assert collection_of_type("modeltap.inference.features") == "features"
    for bad in ("azureml.inference.../etc", "com.example.thing"):
        with pytest.raises(IngestError) as caught:
            collection_of_type(bad)
        assert caught.value.status == 400


def test_mdc_compact_format_is_text() -> None:
    """The SDK's compact (octet-stream) payload is DataFrame.to_string() text, stored as text."""
    event = parse_mdc(
        {"ce-type": "azureml.inference.model_inputs", "content-type": "application/octet-stream"},
        b"   a\n0  1",
    )
    assert event.content_type.startswith("text/plain")


def test_disabled_collection_is_counted_as_a_drop(tmp_path: Path) -> None:
    """Ingest into a listed collection the configuration disables: 200, nothing stored, the
    drop is counted and exported on /metrics with its reason."""
    settings = modeltap.configure(
        {"endpoint_name": "ep", "name": "dep",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never",
                            "collections": {"model_inputs": {"enabled": True},
                                            "model_outputs": {"enabled": False}}}}
    )
    headers = {"ce-type": "azureml.inference.model_outputs", "content-type": "application/json"}
    with TestClient(build_app(settings, None, AppOptions())) as client:
        reply = client.post("/modeldata/log", content=b'[{"a":1}]', headers=headers)
        metrics = client.get("/metrics").text
    assert reply.status_code == 200
    assert reply.json() == {"accepted": 0, "disabled": 1, "duplicate": 0}
    assert re.search(
        r'modeltap_dropped_total\{collection="model_outputs",pid="\d+",reason="disabled"\} 1\.0',
        metrics,
    )


def test_payload_is_captured_beside_the_scripts_own_background_task(tmp_path: Path) -> None:
    """A Response with a background task keeps it: the task runs, and the request and the
    response are captured (after the answer is sent)."""
    script_path = tmp_path / "score_background.py"
    script_path.write_text(
        "from starlette.background import BackgroundTask\n"
        "from starlette.responses import Response\n"
        "ran = []\n"
        "def init():\n"
        "    pass\n"
        "def run(raw_data):\n"
        "    return Response('ok', background=BackgroundTask(ran.append, raw_data))\n",
        encoding="utf-8",
    )
    script = ScoringScript.load(script_path)
    script.init()
    settings = modeltap.configure(
        {"endpoint_name": "ep", "name": "dep",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never"}}
    )
    with TestClient(build_app(settings, script, AppOptions())) as client:
        reply = client.post("/score", content=b"hello", headers={"x-request-id": "bg-1"})
    assert reply.text == "ok"
    assert script.module.ran == ["hello"]
    assert modeltap.flush(30)
    for collection in ("request", "response"):
        files = list((tmp_path / "data").rglob(f"{collection}/**/*.jsonl"))
        records = [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
        assert [r["correlationid"] for r in records] == ["bg-1"], collection


@pytest.mark.parametrize("route", ["/modeldata/log", "/score"])
def test_ack_spool_answers_only_once_the_records_are_in_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """With ack: spool, ingest and payload capture answer only after the writer has put the
    records in the spool: while the writer is held the answer waits, then both are written."""
    held, release = threading.Event(), threading.Event()
    lines_format = get_format("jsonl")
    encode = lines_format.encode_lines

    def holding(events: Any, envelope: Any) -> Any:
        held.set()
        assert release.wait(30)
        return encode(events, envelope)

    monkeypatch.setattr(lines_format, "encode_lines", holding)
    script_path = tmp_path / "score_echo.py"
    script_path.write_text("def init():\n    pass\ndef run(raw_data):\n    return raw_data\n")
    script = ScoringScript.load(script_path)
    script.init()
    settings = modeltap.configure(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {
                "destination": str(tmp_path / "data"),
                "fsync": "never",
                "ack": "spool",
                "writer": "thread",
                "segment_max_age": 3600,
            },
        }
    )
    headers = {"ce-type": "azureml.inference.model_inputs", "content-type": "application/json"}
    answers: list[int] = []
    with TestClient(build_app(settings, script, AppOptions())) as client:

        def request() -> None:
            answers.append(client.post(route, content=b'[{"a": 1}]', headers=headers).status_code)

        thread = threading.Thread(target=request)
        thread.start()
        assert held.wait(30)
        thread.join(0.5)  # an answer given before the spool would come now
        assert thread.is_alive() and answers == []
        release.set()
        thread.join(30)
        written = modeltap.stats().total("events_written")
    assert answers == [202 if route == "/modeldata/log" else 200]
    assert written == (1 if route == "/modeldata/log" else 2)  # request and response
