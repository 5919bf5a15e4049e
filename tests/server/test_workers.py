"""Several worker processes, and graceful shutdown that loses nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server.conftest import SCRIPTS, running, write_deployment

REQUESTS = 40


def test_two_workers_serve_and_shutdown_loses_nothing(server_dir: Path) -> None:
    """Two workers share the port; after SIGTERM every request has its four records."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={"segment_max_age": 60.0},  # nothing commits before shutdown
    )
    with running(server_dir, "serve", "-f", str(deployment), "--workers", "2") as server:
        pids = set()
        for i in range(REQUESTS):
            # a new connection each time, so the kernel spreads them over both workers
            reply = httpx.post(
                f"{server.url}/score",
                json={"rows": [{"i": i}]},
                headers={"x-request-id": f"w-{i}", "connection": "close"},
                timeout=30,
            )
            assert reply.status_code == 200
            pids.add(reply.json()["pid"])
        assert len(pids) == 2
        assert server.records("model_inputs") == []  # still in the open segments
        assert server.stop() == 0
    expected = {f"w-{i}" for i in range(REQUESTS)}
    for collection in ("request", "response", "model_inputs", "model_outputs"):
        ids = [r["correlationid"] for r in server.records(collection)]
        assert sorted(ids) == sorted(expected), collection


def test_single_worker_shutdown_flushes(server_dir: Path) -> None:
    """One worker: SIGTERM exits 0 and every collected record is committed."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={"segment_max_age": 60.0},
    )
    with running(server_dir, "serve", "-f", str(deployment)) as server, server.client() as client:
        for i in range(10):
            client.post("/score", json={"rows": [{"i": i}, {"i": -i}]})
        assert server.stop() == 0
    assert len(server.records("model_inputs")) == 10
    assert sum(len(r["data"]) for r in server.records("model_outputs")) == 20
    assert "Finished server process" in server.log()
