"""Several worker processes, and graceful shutdown that loses nothing."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import SCRIPTS, ServerProcess, running, write_deployment

REQUESTS = 40
SCRAPES = 10


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


def _score_counts(text: str) -> dict[str, float]:
    """POST /score 200s by pid in an exposition; fails if a family appears twice."""
    families = list(text_string_to_metric_families(text))
    names = Counter(family.name for family in families)
    assert [name for name, count in names.items() if count > 1] == []
    by_name = {family.name: family for family in families}
    return {
        sample.labels["pid"]: sample.value
        for sample in by_name["modeltap_http_requests"].samples
        if sample.name == "modeltap_http_requests_total"
        and sample.labels["route"] == "/score" and sample.labels["status"] == "200"
    }


def _published(run_dir: Path) -> dict[str, float]:
    """The /score counts the workers' published files hold, by pid."""
    counts: dict[str, float] = {}
    for path in run_dir.glob("*.prom"):
        counts.update(_score_counts(path.read_text(encoding="utf-8")))
    return counts


def _scrape(server: ServerProcess) -> tuple[dict[str, float], set[str]]:
    """One /metrics answer on a new connection: POST /score 200s by pid, and the pids of the
    queue depth gauge; fails if the text does not parse or a family appears twice."""
    reply = httpx.get(f"{server.url}/metrics", headers={"connection": "close"}, timeout=30)
    assert reply.status_code == 200
    scored = _score_counts(reply.text)
    families = {family.name: family for family in text_string_to_metric_families(reply.text)}
    gauge_pids = {sample.labels["pid"] for sample in families["modeltap_queue_depth"].samples}
    return scored, gauge_pids


def test_metrics_of_two_workers_show_the_whole_server(server_dir: Path) -> None:
    """Whichever worker answers, /metrics holds both workers' series once, and the /score
    counters sum to the requests sent; the run directory is gone after the stop."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
    )
    tmp = server_dir / "tmp"
    tmp.mkdir(parents=True)
    with running(server_dir, "serve", "-f", str(deployment), "--workers", "2",
                 env={"TMPDIR": str(tmp)}) as server:
        pids: Counter[str] = Counter()
        for i in range(REQUESTS):
            reply = httpx.post(
                f"{server.url}/score", json={"rows": [{"i": i}]},
                headers={"connection": "close"}, timeout=30,
            )
            assert reply.status_code == 200
            pids[str(reply.json()["pid"])] += 1
        assert len(pids) == 2
        [run_dir] = list(tmp.glob("modeltap-metrics-*"))
        assert sorted(path.stem for path in run_dir.glob("*.prom")) == sorted(pids)

        # the workers publish every second: wait until both files show every request
        deadline = time.monotonic() + 15
        while _published(run_dir) != dict(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _published(run_dir) == dict(pids)
        for _ in range(SCRAPES):
            scored, gauge_pids = _scrape(server)
            assert scored == dict(pids)
            assert sum(scored.values()) == REQUESTS
            assert gauge_pids == set(pids)
        assert server.stop() == 0
    assert list(tmp.glob("modeltap-metrics-*")) == []
