"""Ingest: the real azureml-ai-monitoring SDK and CloudEvents clients land in the same layout."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.server.conftest import SCRIPTS, ServerProcess, running, write_deployment

SENT = 6


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A standalone ``modeltap ingest`` server with fast-closing segments."""
    folder = tmp_path_factory.mktemp("ingest")
    deployment = write_deployment(
        folder,
        endpoint_name="ep",
        name="green",
        data_collector={"segment_max_age": 0.2, "fsync": "never"},
    )
    with running(folder, "ingest", "-f", str(deployment)) as process:
        yield process


def _sdk_environment(server: ServerProcess) -> dict[str, str]:
    address = urlsplit(server.url)
    environment = dict(os.environ)
    environment.update(
        AZUREML_MDC_ENABLED="true",
        AZUREML_MDC_HOST=str(address.hostname),
        AZUREML_MDC_PORT=str(address.port),
    )
    return environment


def test_reference_sdk_lands_with_its_ids(ingest_server: ServerProcess) -> None:
    """Frames sent by azureml-ai-monitoring 1.0.0 are stored with their ids, rows and types."""
    subprocess.run(
        [sys.executable, str(SCRIPTS / "mdc_client.py"), str(SENT)],
        env=_sdk_environment(ingest_server),
        check=True,
        timeout=120,
    )
    inputs = ingest_server.wait_records("model_inputs", SENT)
    outputs = ingest_server.wait_records("model_outputs", SENT)
    assert sorted(r["correlationid"] for r in inputs) == sorted(f"mdc-{i}" for i in range(SENT))
    assert {r["correlationid"] for r in outputs} == {r["correlationid"] for r in inputs}
    first = next(r for r in inputs if r["correlationid"] == "mdc-0")
    assert first["data"] == [{"age": 20, "city": "Oslo"}, {"age": 30, "city": "Lima"}]
    # the type name as the SDK computes it (pandas 3 reports pandas.DataFrame)
    assert first["collectdatatype"] == f"{pd.DataFrame.__module__}.{pd.DataFrame.__qualname__}"
    assert first["agent"].startswith("azureml-ai-monitoring/")
    assert first["xrequestid"] == "mdc-0"
    assert "/ep/green/model_inputs/" in next(
        str(p) for p in ingest_server.data_dir.rglob("*.jsonl") if "model_inputs" in p.parts
    )


def test_cloudevent_binary_mode(ingest_server: ServerProcess) -> None:
    """A binary-mode CloudEvent (KServe logger style) maps to request, its id to correlationid."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "kserve-1",
        "ce-source": "http://localhost:9081/",
        "ce-type": "org.kubeflow.serving.inference.request",
        "ce-inferenceservicename": "sklearn-iris",
        "content-type": "application/json",
    }
    with ingest_server.client() as client:
        reply = client.post("/events", json={"instances": [[6.8, 2.8, 4.8, 1.4]]}, headers=headers)
    assert reply.status_code == 202
    records = [r for r in ingest_server.wait_records("request", 1)
               if r["correlationid"] == "kserve-1"]
    assert records[0]["data"] == {"instances": [[6.8, 2.8, 4.8, 1.4]]}
    assert records[0]["extensions"] == {"inferenceservicename": "sklearn-iris"}


def test_cloudevent_structured_and_batch_mode(ingest_server: ServerProcess) -> None:
    """Structured (JSON and base64 data) and batch CloudEvents are all accepted."""
    structured = {
        "specversion": "1.0", "id": "st-1", "source": "/x",
        "type": "org.kubeflow.serving.inference.response",
        "datacontenttype": "application/json", "data": {"predictions": [1]},
    }
    binary = {
        "specversion": "1.0", "id": "st-2", "source": "/x",
        "type": "modeltap.inference.response", "datacontenttype": "application/octet-stream",
        "data_base64": base64.b64encode(b"\x00\x01").decode(),
    }
    with ingest_server.client() as client:
        one = client.post("/events", json=structured,
                          headers={"content-type": "application/cloudevents+json"})
        batch = client.post("/events", json=[binary],
                            headers={"content-type": "application/cloudevents-batch+json"})
    assert one.status_code == 202 and batch.status_code == 202
    records = {r["correlationid"]: r for r in ingest_server.wait_records("response", 2)}
    assert records["st-1"]["data"] == {"predictions": [1]}
    assert base64.b64decode(records["st-2"]["data"]) == b"\x00\x01"
    assert records["st-2"]["dataencoding"] == "base64"


def test_cloudevent_errors_are_400_with_reason(ingest_server: ServerProcess) -> None:
    """A non-CloudEvent, an unmapped type and a missing attribute answer 400 with why."""
    with ingest_server.client() as client:
        plain = client.post("/events", json={"x": 1})
        unmapped = client.post("/events", json={"x": 1}, headers={
            "ce-specversion": "1.0", "ce-id": "1", "ce-source": "/", "ce-type": "com.example.x"})
        missing = client.post("/events", json={"specversion": "1.0", "type": "a.request"},
                              headers={"content-type": "application/cloudevents+json"})
        mdc = client.post("/modeldata/log", content=b"[]", headers={"ce-type": "other"})
    assert plain.status_code == 400 and "not a CloudEvent" in plain.text
    assert unmapped.status_code == 400 and "maps to no collection" in unmapped.text
    assert missing.status_code == 400 and "'id'" in missing.text
    assert mdc.status_code == 400


def test_unmodified_azureml_script_under_serve_correlates(server_dir: Path) -> None:
    """A script importing azureml.ai.monitoring runs under serve (with endpoint auth on); its
    records share the request's id with the payload records, and shutdown drains its queue."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_azureml.py"},
        data_collector={"segment_max_age": 60.0},
    )
    key_file = server_dir / "key.txt"
    key_file.write_text("k3y", encoding="utf-8")
    authorized = {"Authorization": "Bearer k3y"}
    with running(server_dir, "serve", "-f", str(deployment), "--auth-key-file",
                 str(key_file)) as server, server.client() as client:
        for i in range(5):
            reply = client.post("/score", json={"data": {"a": [i], "b": [1]}},
                                headers={"x-request-id": f"az-{i}", **authorized})
            assert reply.status_code == 200
        assert server.stop() == 0
    expected = sorted(f"az-{i}" for i in range(5))
    for collection in ("request", "response", "model_inputs", "model_outputs"):
        assert sorted(r["correlationid"] for r in server.records(collection)) == expected
    inputs = {r["correlationid"]: r for r in server.records("model_inputs")}
    assert inputs["az-3"]["data"] == [{"a": 3, "b": 1}]
