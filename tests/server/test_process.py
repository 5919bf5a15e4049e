"""The listening socket, process helpers, and where `modeltap serve` runs the writer."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from modeltap.errors import ModelTapError
from modeltap.server.process import bind
from modeltap.server.sdk_bridge import sdk_environment
from tests.server.conftest import SCRIPTS, launch, write_deployment


def test_listening_socket_disables_nagle() -> None:
    """The listener has TCP_NODELAY (inherited by connections), so responses are not delayed."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_port_in_use_is_a_clear_error() -> None:
    """Binding a port that is taken raises ModelTapError naming host and port."""
    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(ModelTapError, match=f"127.0.0.1:{port}"):
            bind("127.0.0.1", port)
    finally:
        first.close()


def test_sdk_environment_points_at_loopback_for_wildcards() -> None:
    """The reference SDK is told to send to 127.0.0.1 when the server binds every interface."""
    assert sdk_environment("0.0.0.0", 5001) == {
        "AZUREML_MDC_ENABLED": "true",
        "AZUREML_MDC_HOST": "127.0.0.1",
        "AZUREML_MDC_PORT": "5001",
    }
    assert sdk_environment("10.0.0.5", 80)["AZUREML_MDC_HOST"] == "10.0.0.5"


def _writer_children(pid: int) -> list[int]:
    """The pids of writer processes (``modeltap.pipeline.writer_process.child``) whose parent
    is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"modeltap.pipeline.writer_process.child" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("writer_key", "in_a_process"), [(None, True), ("process", True), ("thread", False)]
)
def test_serve_writes_from_a_writer_process_unless_told_otherwise(
    server_dir: Path, monkeypatch: pytest.MonkeyPatch, writer_key: str | None, in_a_process: bool
) -> None:
    """serve runs the writer in a process of its own by default; ``writer: thread`` keeps it in
    the serving process; either way every record of a request is committed by shutdown."""
    monkeypatch.delenv("MODELTAP_WRITER", raising=False)
    collector: dict[str, Any] = {
        "collections": {
            name: {"enabled": "True"}
            for name in ("model_inputs", "model_outputs", "request", "response")
        }
    }
    if writer_key is not None:
        collector["writer"] = writer_key
    deployment = write_deployment(
        server_dir,
        endpoint_name="ep",
        name="blue",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector=collector,
    )
    server = launch(server_dir, "serve", "-f", str(deployment))
    try:
        server.wait_started()
        assert bool(_writer_children(server.process.pid)) is in_a_process
        with server.client() as client:
            for number in range(5):
                answer = client.post("/score", json={"rows": [{"x": number}]})
                assert answer.status_code == 200
    finally:
        exit_code = server.stop()
    assert exit_code == 0
    for collection in ("model_inputs", "model_outputs", "request", "response"):
        assert len(server.records(collection)) == 5, collection
