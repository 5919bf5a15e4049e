"""``modeltap serve`` / ``ingest``: the install hint without the server extra, what start-up
says about the collections and the writer, and the per-collection summary at shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import modeltap.server.process
from modeltap.cli import main
from modeltap.server.options import ServeOptions
from tests.server.conftest import SCRIPTS, launch, write_deployment

SRC = Path(__file__).resolve().parents[2] / "src"
_WITHOUT_SERVER = (
    "import sys; sys.modules['starlette'] = None; "
    "from modeltap.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("argv", [["serve", "--entry-script", "score.py"], ["ingest"]])
def test_without_the_server_extra_the_install_hint_not_a_traceback(
    tmp_path: Path, argv: list[str]
) -> None:
    """With starlette not importable: exit 2 and ``pip install "modeltap[server]"``."""
    environment = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVER, *argv],
        capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert 'pip install "modeltap[server]"' in done.stderr
    assert f"modeltap {argv[0]} needs the server extra (starlette not installed)" in done.stderr
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[ServeOptions]:
    """serve() replaced by a recorder: the command resolves and announces, starts nothing."""
    calls: list[ServeOptions] = []

    def record(options: ServeOptions) -> int:
        calls.append(options)
        return 0

    monkeypatch.setattr(modeltap.server.process, "serve", record)
    return calls


def test_mlflow_model_without_collect_says_nothing_is_collected(
    tmp_path: Path, started: list[ServeOptions], capsys: pytest.CaptureFixture[str]
) -> None:
    """--mlflow-model alone: start-up says nothing will be collected and how to change that."""
    (tmp_path / "model").mkdir()
    data = tmp_path / "data"
    assert main(["serve", "--mlflow-model", str(tmp_path / "model"), "--data-dir", str(data)]) == 0
    err = capsys.readouterr().err
    assert "nothing will be collected: --mlflow-model without --collect" in err
    assert "collecting" not in err.replace("not collecting", "")
    assert main(["serve", "--mlflow-model", str(tmp_path / "model"), "--data-dir", str(data),
                 "--collect"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "nothing will be collected" not in err
    assert f"collecting model_inputs -> {data}/local/default/model_inputs (jsonl" in err
    assert len(started) == 2


def test_ingest_start_up_names_the_destination_pattern(
    tmp_path: Path, started: list[ServeOptions], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ingest server without listed collections says any name is collected, and where."""
    monkeypatch.delenv("MODELTAP_WRITER", raising=False)
    data = tmp_path / "data"
    assert main(["ingest", "--data-dir", str(data)]) == 0
    err = capsys.readouterr().err
    assert (f"collecting every collection a client sends -> {data}/local/default/<collection>"
            in err)
    assert "writer: a process of its own beside each worker" in err


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_start_up_and_shutdown_lines_of_a_real_server(tmp_path: Path, writer: str) -> None:
    """A served script: the collections on and off, their folders and the writer at start; one
    line per collection at shutdown with what was collected, written and dropped."""
    deployment = write_deployment(
        tmp_path,
        endpoint_name="ep",
        name="blue",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={
            "collections": {
                "model_inputs": {"enabled": "True"},
                "model_outputs": {"enabled": "True", "sampling_rate": 0.5},
                "request": {"enabled": "False"},
                "response": {"enabled": "False"},
            },
            "writer": writer,
        },
    )
    server = launch(tmp_path, "serve", "-f", str(deployment))
    try:
        server.wait_started()
        with server.client() as client:
            for number in range(4):
                assert client.post("/score", json={"rows": [{"x": number}]}).status_code == 200
    finally:
        assert server.stop() == 0
    log = server.log()
    data = tmp_path / "data"
    assert f"collecting model_inputs -> {data}/ep/blue/model_inputs (jsonl, every request)" in log
    assert (f"collecting model_outputs -> {data}/ep/blue/model_outputs "
            "(jsonl, sampling 50% of requests)") in log
    assert "not collecting request, response (disabled in" in log
    placement = {"thread": "a thread in each worker", "process": "a process of its own"}
    assert f"writer: {placement[writer]}" in log
    written = len(server.records("model_inputs"))
    assert written == 4
    assert "model_inputs: collected 4, written 4, dropped 0" in log
    outputs = len(server.records("model_outputs"))
    sampled = 4 - outputs
    detail = f", sampled out {sampled}" if sampled else ""
    assert f"model_outputs: collected {outputs}, written {outputs}, dropped 0{detail}" in log


def test_a_secret_in_a_bad_deployment_is_not_printed(
    tmp_path: Path, started: list[ServeOptions], capsys: pytest.CaptureFixture[str]
) -> None:
    """storage_options given as a string: serve names the key and exits 2, the value unshown."""
    secret = "DefaultEndpointsProtocol=https;AccountKey=bXktc2VjcmV0LWtleQ=="
    deployment = write_deployment(
        tmp_path, data_collector={"storage_options": secret, "destination": "memory://x"}
    )
    assert main(["ingest", "-f", str(deployment)]) == 2
    err = capsys.readouterr().err
    assert f"{deployment}" in err and "data_collector.storage_options" in err
    assert "bXktc2VjcmV0" not in err and "AccountKey" not in err
    assert started == []
