"""Endpoint keys: /score and ingest need 'Bearer <key>'; liveness stays open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modeltap.server.auth import KeyAuth, is_loopback
from tests.server.conftest import SCRIPTS, ServerProcess, running

KEY = "s3cret-endpoint-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server started with --auth-key-file."""
    folder = tmp_path_factory.mktemp("auth")
    key_file = folder / "key.txt"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    script = str(SCRIPTS / "score_echo.py")
    with running(folder, "serve", "--entry-script", script, "--auth-key-file",
                 str(key_file)) as process:
        yield process


def test_score_without_key_is_401(server: ServerProcess) -> None:
    """No Authorization header: 401 with a Bearer challenge."""
    with server.client() as client:
        reply = client.post("/score", json={"rows": []})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_score_with_wrong_key_is_401(server: ServerProcess) -> None:
    """A wrong key, or the right one with another scheme, is refused."""
    with server.client() as client:
        wrong = client.post("/score", json={"rows": []}, headers={"Authorization": "Bearer nope"})
        basic = client.post("/score", json={"rows": []}, headers={"Authorization": f"Basic {KEY}"})
    assert wrong.status_code == 401
    assert basic.status_code == 401


def test_score_with_key_is_served(server: ServerProcess) -> None:
    """The right key is accepted."""
    with server.client() as client:
        reply = client.post(
            "/score", json={"rows": [{"a": 1}]}, headers={"Authorization": f"Bearer {KEY}"}
        )
    assert reply.status_code == 200


def test_liveness_and_metrics_stay_open(server: ServerProcess) -> None:
    """GET /, /ready and /metrics need no key."""
    with server.client() as client:
        assert client.get("/").status_code == 200
        assert client.get("/ready").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_cloudevents_ingest_needs_the_key(server: ServerProcess) -> None:
    """POST /events without the key is 401, with it 202."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "ev-1",
        "ce-source": "/test",
        "ce-type": "org.kubeflow.serving.inference.request",
        "content-type": "application/json",
    }
    with server.client() as client:
        refused = client.post("/events", json={"x": 1}, headers=headers)
        accepted = client.post(
            "/events", json={"x": 1}, headers={**headers, "Authorization": f"Bearer {KEY}"}
        )
    assert refused.status_code == 401
    assert accepted.status_code == 202


def test_refused_requests_are_not_captured(server: ServerProcess) -> None:
    """A /score call refused with 401 is not stored as a payload record; an accepted one is."""
    with server.client() as client:
        refused = client.post("/score", json={"rows": [{"a": "unauthorised-body"}]},
                              headers={"x-request-id": "unauth-1"})
        accepted = client.post("/score", json={"rows": []}, headers={
            "x-request-id": "auth-ok-1", "Authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401 and accepted.status_code == 200
    for collection in ("request", "response"):
        found = server.wait_records(collection, 1)
        while not any(r["correlationid"] == "auth-ok-1" for r in found):
            found = server.wait_records(collection, len(found) + 1)
        assert not [r for r in found if r["correlationid"] == "unauth-1"], collection


def test_loopback_needs_a_key_for_modeldata_log(server: ServerProcess) -> None:
    """With auth on, /modeldata/log from this machine without a key is 401 (the in-process SDK
    has a key of its own); with the endpoint key it is accepted."""
    headers = {"ce-type": "azureml.inference.model_inputs", "content-type": "application/json"}
    with server.client() as client:
        refused = client.post("/modeldata/log", content=b'[{"a": 1}]', headers=headers)
        accepted = client.post("/modeldata/log", content=b'[{"a": 1}]',
                               headers={**headers, "Authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401
    assert accepted.status_code == 202


def test_key_check_unit() -> None:
    """KeyAuth accepts exactly the configured keys, with the Bearer scheme in any case."""
    auth = KeyAuth("primary", "secondary")
    assert auth.check("Bearer primary")
    assert auth.check("bearer secondary")
    assert not auth.check("Bearer primary2")
    assert not auth.check("primary")
    assert not auth.check(None)


def test_loopback_detection() -> None:
    """Loopback hosts are recognised; wildcard and public addresses are not."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")


def test_non_loopback_without_auth_warns(server_dir: Path) -> None:
    """Binding 0.0.0.0 without a key prints a warning."""
    script = str(SCRIPTS / "score_echo.py")
    with running(server_dir, "serve", "--entry-script", script, "--host", "0.0.0.0") as process:
        assert "WARNING: listening on 0.0.0.0 without authentication" in process.log()
