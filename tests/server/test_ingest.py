"""Ingest: the real azureml-ai-monitoring SDK and CloudEvents clients land in the same layout."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pandas as pd
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from starlette.testclient import TestClient

import modeltap
from modeltap.errors import IngestError
from modeltap.server.app import AppOptions, build_app
from modeltap.server.ingest import (
    MAX_RECORDED_ATTRIBUTES,
    RecentEvents,
    event_uuid,
    parse_cloudevents,
    parse_epoch_seconds,
    parse_rfc3339,
)
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


# -- times, modes, redelivery, limits (the event's own time files it) -------------------------

BINARY = {
    "ce-specversion": "1.0",
    "ce-source": "/tests",
    "ce-type": "modeltap.inference.timed",
    "content-type": "application/json",
}


def _records_by_eventid(server: ServerProcess, collection: str, count: int) -> dict[str, Any]:
    found = server.wait_records(collection, count)
    return {r["eventid"]: r for r in found}


def test_event_times_are_normalised_and_file_the_event(ingest_server: ServerProcess) -> None:
    """Nanoseconds, lowercase t/z and offsets become RFC 3339 UTC with milliseconds; the
    partition folder is the event's own hour; a window read finds it there."""
    sent = {
        "t-ns": "2021-03-04T05:06:07.123456789Z",
        "t-lower": "2021-03-04t05:59:59.9z",
        "t-offset": "2021-03-04T08:30:00+02:00",
    }
    with ingest_server.client() as client:
        for event_id, stamp in sent.items():
            reply = client.post("/events", json={"v": 1},
                                headers={**BINARY, "ce-id": event_id, "ce-time": stamp})
            assert reply.status_code == 202, reply.text
        mdc = client.post("/modeldata/log", content=b'[{"v": 1}]', headers={
            "ce-type": "azureml.inference.timed", "trace-id": "t-mdc",
            "ce-time": "1614834367.5", "content-type": "application/json"})
        assert mdc.status_code == 202, mdc.text
    records = _records_by_eventid(ingest_server, "timed", 4)
    assert records["t-ns"]["time"] == "2021-03-04T05:06:07.123Z"
    assert records["t-lower"]["time"] == "2021-03-04T05:59:59.900Z"
    assert records["t-offset"]["time"] == "2021-03-04T06:30:00.000Z"
    assert records["t-mdc"]["time"] == "2021-03-04T05:06:07.500Z"
    folders = {p.parent.relative_to(ingest_server.data_dir).as_posix()
               for p in ingest_server.data_dir.rglob("*.jsonl") if "timed" in p.parts}
    assert folders == {"ep/green/timed/2021/03/04/05", "ep/green/timed/2021/03/04/06"}
    window = modeltap.read(ingest_server.data_dir / "ep" / "green" / "timed",
                           "2021-03-04T05:00:00Z", "2021-03-04T06:00:00Z")
    assert len(window) == 3


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"ce-time": "not-a-time"}, "ce-time"),
        ({"ce-time": "10000-01-01T00:00:00Z"}, "ce-time"),
        ({"ce-time": "2021-03-04T05:06:07"}, "ce-time"),  # no offset
        ({"ce-time": "2021-02-30T00:00:00Z"}, "ce-time"),
        ({"ce-time": "1969-12-31T23:59:59Z"}, "ce-time"),
        ({"ce-time": "9999-12-31T23:59:59Z"}, "ce-time"),
    ],
)
def test_bad_cloudevent_times_are_400_naming_the_header(
    ingest_server: ServerProcess, headers: dict[str, str], named: str
) -> None:
    """A time that is not RFC 3339 with an offset, or out of range, is refused naming it."""
    with ingest_server.client() as client:
        reply = client.post("/events", json={"v": 1},
                            headers={**BINARY, "ce-id": "bad-time", **headers})
    assert reply.status_code == 400
    assert named in reply.text


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "-5", "soon"])
def test_bad_mdc_times_are_400_naming_the_header(ingest_server: ServerProcess, value: str) -> None:
    """The MDC protocol's ce-time must be finite epoch seconds in range (was a 500 or a poisoned
    collection)."""
    with ingest_server.client() as client:
        reply = client.post("/modeldata/log", content=b'[{"v": 1}]', headers={
            "ce-type": "azureml.inference.badtime", "ce-time": value,
            "content-type": "application/json"})
    assert reply.status_code == 400
    assert "ce-time" in reply.text


def test_structured_time_errors_name_the_attribute(ingest_server: ServerProcess) -> None:
    """In structured mode the message names the attribute."""
    event = {"specversion": "1.0", "id": "s-bad", "source": "/s",
             "type": "modeltap.inference.timed", "time": "yesterday", "data": 1}
    with ingest_server.client() as client:
        reply = client.post("/events", content=orjson.dumps(event),
                            headers={"content-type": "application/cloudevents+json"})
    assert reply.status_code == 400
    assert "attribute time" in reply.text


def test_binary_and_structured_mode_give_the_same_record(ingest_server: ServerProcess) -> None:
    """Events made by the official CloudEvents SDK, with characters the HTTP binding
    percent-encodes, store the same record in binary and structured mode."""
    records = {}
    for mode, convert in (("binary", to_binary_event), ("structured", to_structured_event)):
        event = CloudEvent(
            {"type": "modeltap.inference.modes", "source": "/näive source/100%",
             "id": f"{mode} id ü", "time": dt.datetime(2022, 1, 2, 3, 4, 5, 678000, dt.UTC),
             "tenant": 'Zürich "quoted"', "count": 3, "datacontenttype": "application/json"},
            {"values": [1.5, "ü"]},
        )
        message = convert(event)
        with ingest_server.client() as client:
            reply = client.post("/events", content=message.body, headers=message.headers)
        assert reply.status_code == 202, reply.text
        records[mode] = _records_by_eventid(ingest_server, "modes", len(records) + 1)[
            f"{mode} id ü"]
    binary, structured = records["binary"], records["structured"]
    assert binary["cesource"] == "/näive source/100%"
    assert binary["extensions"] == {"tenant": 'Zürich "quoted"', "count": "3"}
    assert binary["data"] == {"values": [1.5, "ü"]}
    assert binary["time"] == "2022-01-02T03:04:05.678Z"
    # the ids differ by design; contentrange counts the data's JSON text, which binary mode
    # keeps as the client wrote it (the SDK's has spaces and \u escapes), same value
    varying = {"id", "eventid", "correlationid", "xrequestid", "contentrange"}
    assert {k: v for k, v in binary.items() if k not in varying} == {
        k: v for k, v in structured.items() if k not in varying}


def test_a_redelivered_event_is_stored_once(ingest_server: ServerProcess) -> None:
    """The same type, source and id again: 200 'duplicate', one record; the same id from
    another source is another event. The client's id is kept as eventid."""
    headers = {**BINARY, "ce-type": "modeltap.inference.redelivered", "ce-id": "again"}
    with ingest_server.client() as client:
        first = client.post("/events", json={"n": 1}, headers=headers)
        repeats = [client.post("/events", json={"n": 1}, headers=headers) for _ in range(2)]
        other = client.post("/events", json={"n": 2}, headers={**headers, "ce-source": "/other"})
    assert first.status_code == 202 and first.json()["accepted"] == 1
    assert all(r.status_code == 200 and r.json()["duplicate"] == 1 for r in repeats)
    assert other.status_code == 202
    found = ingest_server.wait_records("redelivered", 3, timeout=3)
    assert sorted((r["cesource"], r["eventid"]) for r in found) == [
        ("/other", "again"), ("/tests", "again")]
    ours = next(r for r in found if r["cesource"] == "/tests")
    assert ours["id"] == str(
        event_uuid("modeltap.inference.redelivered", "/tests", "again", "again"))


def test_a_client_chosen_trace_id_hides_no_other_record(ingest_server: ServerProcess) -> None:
    """Two MDC events with one trace-id but different correlation ids are both stored and
    both read back (the reader keeps one record per id)."""
    with ingest_server.client() as client:
        for correlation in ("victim", "copycat"):
            reply = client.post("/modeldata/log", content=b'[{"v": 1}]', headers={
                "ce-type": "azureml.inference.traced", "trace-id": "same-trace",
                "ce-x-request-id": correlation, "content-type": "application/json"})
            assert reply.status_code == 202
    ingest_server.wait_records("traced", 2)
    frame = modeltap.read(ingest_server.data_dir / "ep" / "green" / "traced")
    assert sorted(frame["correlationid"]) == ["copycat", "victim"]


def test_redeliveries_past_the_window_are_dropped_at_read(tmp_path: Path) -> None:
    """A repeat the ingest window no longer remembers is stored again with the same id, and
    modeltap.read keeps one copy."""
    settings = modeltap.configure(
        {"endpoint_name": "ep", "name": "dep",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never"}}
    )
    app = build_app(settings, None, AppOptions())
    app.state.modeltap.ingestor.recent = RecentEvents(seconds=0.0)
    headers = {**BINARY, "ce-id": "late", "ce-time": "2023-05-06T07:08:09Z"}
    with TestClient(app) as client:
        replies = [client.post("/events", json={"v": 1}, headers=headers) for _ in range(2)]
    assert [r.status_code for r in replies] == [202, 202]
    assert modeltap.flush(30)
    files = list((tmp_path / "data").rglob("*.jsonl"))
    assert sum(len(f.read_bytes().splitlines()) for f in files) == 2
    assert len(modeltap.read(tmp_path / "data" / "ep" / "dep" / "timed")) == 1


def test_ids_are_capped_and_other_values_cut(ingest_server: ServerProcess) -> None:
    """Ids over 100 characters: 431 naming the header (400 naming the attribute in a body);
    other header and extension values are cut to 100 characters."""
    long = "x" * 101
    with ingest_server.client() as client:
        request_id = client.post("/modeldata/log", content=b"[]", headers={
            "ce-type": "azureml.inference.capped", "ce-x-request-id": long})
        trace_id = client.post("/modeldata/log", content=b"[]", headers={
            "ce-type": "azureml.inference.capped", "trace-id": long})
        event_id = client.post("/events", json={}, headers={**BINARY, "ce-id": long})
        source = client.post("/events", json={}, headers={**BINARY, "ce-id": "1",
                                                          "ce-source": long})
        structured = client.post("/events", content=orjson.dumps(
            {"specversion": "1.0", "id": long, "source": "/s", "type": "a.request"}),
            headers={"content-type": "application/cloudevents+json"})
        media = client.post("/events", content=b"{}", headers={
            **BINARY, "ce-id": "m", "content-type": "application/" + "x" * 100})
        cut = client.post("/events", json={}, headers={
            **BINARY, "ce-type": "modeltap.inference.capped", "ce-id": "cut",
            "ce-tracestate": "t" * 300})
    assert request_id.status_code == 431 and "ce-x-request-id" in request_id.text
    assert trace_id.status_code == 431 and "trace-id" in trace_id.text
    assert event_id.status_code == 431 and "ce-id" in event_id.text
    assert source.status_code == 431 and "ce-source" in source.text
    assert structured.status_code == 400 and "attribute id" in structured.text
    assert media.status_code == 431 and "content-type" in media.text
    assert cut.status_code == 202
    record = ingest_server.wait_records("capped", 1)[0]
    assert record["extensions"] == {"tracestate": "t" * 100}


def test_secret_headers_and_extensions_are_not_stored(ingest_server: ServerProcess) -> None:
    """ce-* headers (MDC) and CloudEvents extensions named like credentials are dropped; the
    others are kept."""
    secrets = {"ce-x-authorization": "Bearer a", "ce-cookie": "s=1", "ce-x-access-key": "k",
               "ce-x-ms-client-principal": "p", "ce-x-jwt-assertion": "j"}
    with ingest_server.client() as client:
        mdc = client.post("/modeldata/log", content=b'[{"v": 1}]', headers={
            "ce-type": "azureml.inference.secrets", "trace-id": "sec-mdc",
            "ce-x-tenant": "contoso", "content-type": "application/json", **secrets})
        binary = client.post("/events", json={"v": 1}, headers={
            **BINARY, "ce-type": "modeltap.inference.secrets", "ce-id": "sec-ce",
            "ce-tenant": "contoso", "ce-authorization": "Bearer a", "ce-apikey": "k",
            "ce-xamznoidcdata": "o"})
    assert mdc.status_code == 202 and binary.status_code == 202
    records = _records_by_eventid(ingest_server, "secrets", 2)
    assert records["sec-mdc"]["headers"] == {"x-tenant": "contoso"}
    assert records["sec-ce"]["extensions"] == {"tenant": "contoso"}


# -- how many collections ingest creates ------------------------------------------------------


def _post_collection(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/modeldata/log", content=b'[{"v": 1}]', headers={
        "ce-type": f"azureml.inference.{name}", "content-type": "application/json"})


def test_listed_collections_refuse_other_names(server_dir: Path) -> None:
    """With a collections list, an unlisted name is 400 naming the list, and nothing is made
    for it; a listed one is stored."""
    deployment = write_deployment(
        server_dir, endpoint_name="ep", name="green",
        data_collector={"segment_max_age": 0.2, "fsync": "never",
                        "collections": {"model_inputs": {"enabled": True}}},
    )
    with running(server_dir, "ingest", "-f", str(deployment)) as server, \
            server.client() as client:
        refused = _post_collection(client, "surprise")
        kept = _post_collection(client, "model_inputs")
        server.wait_records("model_inputs", 1)
        metrics = client.get("/metrics").text
    assert refused.status_code == 400
    assert "'surprise' is not listed" in refused.text and "model_inputs" in refused.text
    assert kept.status_code == 202
    assert not list(server.data_dir.rglob("*surprise*"))
    assert 'collection="surprise"' not in metrics


def test_unlisted_collections_are_bounded(server_dir: Path) -> None:
    """Without a list, at most ingest_max_collections distinct names are created; new names
    beyond are refused with 400 and counted; known names are still accepted."""
    deployment = write_deployment(
        server_dir, endpoint_name="ep", name="green",
        data_collector={"segment_max_age": 0.2, "fsync": "never", "ingest_max_collections": 2},
    )
    with running(server_dir, "ingest", "-f", str(deployment)) as server, \
            server.client() as client:
        first = [_post_collection(client, name).status_code for name in ("c1", "c2")]
        refused = [_post_collection(client, f"n{i}") for i in range(3)]
        again = _post_collection(client, "c1")
        metrics = client.get("/metrics").text
    assert first == [202, 202]
    assert all(r.status_code == 400 and "ingest_max_collections" in r.text for r in refused)
    assert again.status_code == 202
    assert re.search(r'modeltap_dropped_total\{collection="\*",pid="\d+",'
                     r'reason="too_many_collections"\} 3\.0', metrics)
    assert 'collection="n0"' not in metrics


# -- the parsers on their own -------------------------------------------------------------------


def test_rfc3339_parsing() -> None:
    """RFC 3339 in its forms, to nanoseconds; leap seconds are the minute's last instant."""
    base = dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.UTC).timestamp()
    ns = int(base) * 10**9
    assert parse_rfc3339("2024-05-01T12:34:56Z") == ns
    assert parse_rfc3339("2024-05-01t12:34:56.000000001z") == ns + 1
    assert parse_rfc3339("2024-05-01 14:34:56.5+02:00") == ns + 500_000_000
    assert parse_rfc3339("2024-05-01T12:34:56.1234567891234Z") == ns + 123_456_789
    assert parse_rfc3339("2016-12-31T23:59:60Z") == parse_rfc3339("2017-01-01T00:00:00Z") - 1
    for bad in ("2024-05-01", "2024-05-01T12:34Z", "2024-05-01T25:00:00Z", "x"):
        with pytest.raises(IngestError, match="time"):
            parse_rfc3339(bad)


def test_epoch_seconds_parsing() -> None:
    """Epoch seconds with a fraction, to nanoseconds (microsecond precision)."""
    assert parse_epoch_seconds("0") == 0
    assert parse_epoch_seconds("1700000000.25") == 1_700_000_000_250_000_000
    with pytest.raises(IngestError, match="out of range"):
        parse_epoch_seconds(str(time.time() + 2 * 86_400))


def test_recent_events_is_bounded_by_time_and_count() -> None:
    """A key is a repeat within the window; the oldest keys go first past the capacity or the
    window; a forgotten key is new again."""
    now = [0.0]
    recent = RecentEvents(seconds=10.0, capacity=3, clock=lambda: now[0])
    assert recent.add(b"a") and not recent.add(b"a")
    assert recent.add(b"b") and recent.add(b"c") and recent.add(b"d")
    assert len(recent) == 3 and recent.add(b"a")  # "a" was the oldest, pushed out
    now[0] = 10.5
    assert recent.add(b"e") and len(recent) == 1  # the rest aged out
    recent.forget(b"e")
    assert recent.add(b"e")


def test_binary_headers_are_percent_decoded_as_utf8() -> None:
    """Percent-encoded UTF-8 is decoded; a sequence that is not UTF-8 is a 400 naming the
    header; a lone '%' is kept as it is."""
    headers = {"ce-specversion": "1.0", "ce-id": "p%20q", "ce-type": "a.request",
               "ce-source": "/%C3%BC/100%", "ce-note": "caf%C3%A9"}
    event = parse_cloudevents(headers, b"{}")[0]
    assert (event.extra["eventid"], event.extra["cesource"]) == ("p q", "/ü/100%")
    assert event.extra["extensions"] == {"note": "café"}
    with pytest.raises(IngestError, match="ce-note") as caught:
        parse_cloudevents({**headers, "ce-note": "%FF%FE"}, b"{}")
    assert caught.value.status == 400


def test_the_number_of_kept_attributes_is_capped() -> None:
    """At most MAX_RECORDED_ATTRIBUTES extensions per event; secrets do not count."""
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "a.request",
             "authorization": "x", **{f"e{i}": i for i in range(MAX_RECORDED_ATTRIBUTES)}}
    body = orjson.dumps(event)
    kept = parse_cloudevents({"content-type": "application/cloudevents+json"}, body)[0]
    assert len(kept.extra["extensions"]) == MAX_RECORDED_ATTRIBUTES
    event["one_more"] = True
    with pytest.raises(IngestError, match="at most 64") as caught:
        parse_cloudevents({"content-type": "application/cloudevents+json"}, orjson.dumps(event))
    assert caught.value.status == 400
