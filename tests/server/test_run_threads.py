"""run() concurrency per worker: one call at a time by default, as many as --threads or the
YAML's request_settings allow."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modeltap.errors import ConfigError
from modeltap.server.options import resolve_options
from tests.server.conftest import SCRIPTS, running, write_deployment


def _most_concurrent(server_dir: Path, *args: str) -> int:
    """Send 6 requests at once to a server whose run() sleeps; the most concurrent run()s."""
    with running(server_dir, "serve", "--entry-script", str(SCRIPTS / "score_slow.py"),
                 *args) as server, server.client() as client, ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: client.post("/score", content=b"{}"), range(6)))
    assert all(reply.status_code == 200 for reply in replies)
    return max(int(reply.json()["most_concurrent"]) for reply in replies)


def test_run_is_called_one_at_a_time_by_default(server_dir: Path) -> None:
    """Without --threads, concurrent requests reach run() one after the other."""
    assert _most_concurrent(server_dir) == 1


def test_default_calls_a_quick_run_on_the_loop_and_a_slow_one_on_a_thread(
    server_dir: Path,
) -> None:
    """By default a quick run() is called on the event loop's thread; once run() is slow it
    moves to a thread of its own, and the loop answers health checks while it runs."""
    with running(server_dir, "serve", "--entry-script", str(SCRIPTS / "score_slow.py")) as server, \
            server.client() as client, ThreadPoolExecutor(1) as pool:
        quick = [client.post("/score", content=b'{"sleep": 0}').json()["thread"]
                 for _ in range(5)]
        assert quick == ["MainThread"] * 5
        for _ in range(2):
            client.post("/score", content=b'{"sleep": 0.2}')
        started, release = server_dir / "started", server_dir / "release"
        body = json.dumps({"started": str(started), "release": str(release)})
        slow = pool.submit(client.post, "/score", content=body.encode())
        deadline = time.monotonic() + 60
        while not started.exists():  # run() has begun on its thread
            assert time.monotonic() < deadline, "run() never started"
            time.sleep(0.01)
        assert client.get("/").text == "Healthy"  # while run() waits for the release file
        assert not slow.done()
        release.touch()
        assert slow.result().json()["thread"].startswith("modeltap-run")
        metrics = client.get("/metrics").text
    calls = {
        sample.labels["thread"]: sample.value
        for family in text_string_to_metric_families(metrics) if family.name == "modeltap_run_calls"
        for sample in family.samples if sample.name == "modeltap_run_calls_total"
    }
    assert calls["event_loop"] >= 6 and calls["pool"] >= 1  # the first slow call ran on the loop
    assert sum(calls.values()) == 8


def test_threads_lets_run_calls_overlap(server_dir: Path) -> None:
    """--threads 3 lets three run() calls overlap, and no more, on pool threads."""
    assert _most_concurrent(server_dir, "--threads", "3") == 3


def test_threads_zero_runs_run_on_the_event_loop(server_dir: Path) -> None:
    """--threads 0 calls run() on the event loop's thread: one call at a time, and correlation
    still reaches the collectors inside run()."""
    assert _most_concurrent(server_dir, "--threads", "0") == 1
    with running(server_dir, "serve", "--entry-script", str(SCRIPTS / "score_slow.py"),
                 "--threads", "0") as server, server.client() as client:
        reply = client.post("/score", content=b"{}", headers={"x-request-id": "inline-1"})
        assert reply.status_code == 200
        assert not reply.json()["thread"].startswith("modeltap-run")  # no pool thread
        assert reply.headers["x-request-id"] == "inline-1"


def test_request_settings_are_shared_by_the_workers(tmp_path: Path) -> None:
    """max_concurrent_requests_per_instance is split over the workers (rounded up)."""
    deployment = write_deployment(
        tmp_path,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_slow.py"},
        request_settings={"max_concurrent_requests_per_instance": 5},
    )
    assert resolve_options(deployment_file=str(deployment), workers=2).run_threads == 3
    assert resolve_options(deployment_file=str(deployment)).run_threads == 5
    assert resolve_options(deployment_file=str(deployment), threads=2).run_threads == 2


@pytest.mark.parametrize(
    ("request_settings", "threads", "message"),
    [
        ({"max_concurrent_requests_per_instance": 0}, None,
         "request_settings.max_concurrent_requests_per_instance: must be a positive integer"),
        ("many", None, "request_settings: expected a mapping"),
        (None, -1, "--threads: must be 0 or a positive integer (got -1)"),
    ],
)
def test_bad_concurrency_is_refused(
    tmp_path: Path, request_settings: object, threads: int | None, message: str
) -> None:
    """A bad per-instance limit or --threads fails with the key and the rule."""
    document: dict[str, object] = {
        "code_configuration": {"code": str(SCRIPTS), "scoring_script": "score_slow.py"}
    }
    if request_settings is not None:
        document["request_settings"] = request_settings
    deployment = write_deployment(tmp_path, **document)
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_options(deployment_file=str(deployment), threads=threads)


def test_bad_log_level_is_refused(tmp_path: Path) -> None:
    """--log-level names the allowed levels."""
    deployment = write_deployment(
        tmp_path, code_configuration={"code": str(SCRIPTS), "scoring_script": "score_slow.py"}
    )
    with pytest.raises(ConfigError, match="'loud' is not one of critical, error, warning"):
        resolve_options(deployment_file=str(deployment), log_level="loud")
