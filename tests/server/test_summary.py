"""The start-up and shutdown lines of a server, from settings and counters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modeltap.server
from modeltap.config import load_settings
from modeltap.server.summary import shutdown_lines, startup_lines, writer_placement
from modeltap.stats import StatsRecorder


def test_scoring_without_listed_collections(tmp_path: Path) -> None:
    """No list: the payload collections and every name the script uses, under one pattern."""
    settings = load_settings({"destination": str(tmp_path), "sampling_rate": 0.25})
    lines = startup_lines(settings, kind="scoring", environment={"MODELTAP_WRITER": "thread"})
    assert lines == [
        f"collecting request (payloads of /score) -> {tmp_path}/local/default/request "
        "(jsonl, sampling 25% of requests)",
        f"collecting response (payloads of /score) -> {tmp_path}/local/default/response "
        "(jsonl, sampling 25% of requests)",
        "collecting every collection the scoring script names -> "
        f"{tmp_path}/local/default/<collection> (jsonl, sampling 25% of requests; no "
        "collections are listed in the configuration)",
        "writer: a thread in each worker (writer: process in the YAML moves it to a process "
        "of its own)",
    ]


def test_listed_collections_with_a_path_of_their_own(tmp_path: Path) -> None:
    """A data.path wins over the destination; an all-off list says nothing is collected."""
    settings = load_settings(
        {
            "destination": str(tmp_path),
            "format": "parquet",
            "writer": "process",
            "collections": {
                "model_outputs": {"enabled": True, "data": {"path": "memory://elsewhere/out"}},
                "model_inputs": {"enabled": False},
            },
        }
    )
    lines = startup_lines(settings, kind="scoring", environment={})
    assert lines[0] == ("collecting model_outputs -> memory://elsewhere/out "
                        "(parquet, every request)")
    assert lines[1] == "not collecting model_inputs (disabled in <mapping>)"
    assert lines[2].startswith("writer: a process of its own beside each worker")
    off = load_settings({"destination": str(tmp_path),
                         "collections": {"model_inputs": {"enabled": False}}})
    assert startup_lines(off, kind="ingest", environment={})[-1] == (
        "nothing will be collected: no collection is enabled in <mapping>"
    )


@pytest.mark.parametrize(
    ("key", "environment", "process_env", "expected"),
    [
        ("thread", {"MODELTAP_WRITER": "process"}, None, "thread"),
        (None, {"MODELTAP_WRITER": "thread"}, "process", "thread"),
        (None, {}, "thread", "thread"),
        (None, {}, None, "process"),
    ],
)
def test_writer_placement(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str | None,
    environment: dict[str, str], process_env: str | None, expected: str,
) -> None:
    """The YAML's key, then the deployment's variables, then this process's, then a process."""
    if process_env is None:
        monkeypatch.delenv("MODELTAP_WRITER", raising=False)
    else:
        monkeypatch.setenv("MODELTAP_WRITER", process_env)
    section = {"destination": str(tmp_path)} | ({"writer": key} if key else {})
    assert writer_placement(load_settings(section), environment) == expected


def test_shutdown_lines_count_what_happened() -> None:
    """One line per collection, in name order, with the drop reasons when there are drops."""
    recorder = StatsRecorder()
    for _ in range(5):
        recorder.collected("model_inputs")
    recorder.dropped("model_inputs", "queue_full", 2)
    recorder.sampled_out("model_inputs")
    recorder.collected("a_first")
    assert shutdown_lines(recorder.snapshot()) == [
        "a_first: collected 1, written 0, dropped 0",
        "model_inputs: collected 5, written 0, dropped 2 (queue_full 2), sampled out 1",
    ]


def test_shutdown_without_collections_says_so() -> None:
    """No collection saw anything: one line that says so."""
    assert shutdown_lines(StatsRecorder().snapshot()) == ["nothing was collected"]


def test_server_code_does_not_import_the_cli() -> None:
    """The server package stands on its own: no module under modeltap.server imports
    modeltap.cli (the command line imports the server, never the other way round)."""
    root = Path(modeltap.server.__file__).parent
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} {name}" for name in names
                          if name == "modeltap.cli" or name.startswith("modeltap.cli.")]
    assert not offenders, offenders
