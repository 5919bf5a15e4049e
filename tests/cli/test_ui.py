"""``modeltap ui``: the warning without a key beyond loopback, clear errors before listening."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modeltap.cli import main


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """uvicorn's Server.run recorded instead of run: the sockets it was given."""
    calls: list[Any] = []

    def run(self: uvicorn.Server, sockets: Any = None) -> None:
        calls.append(sockets)
        for listener in sockets or []:
            listener.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return calls


def test_warns_beyond_loopback_without_a_key(
    tmp_path: Path, served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bound to every interface with no key: a warning naming --auth-key-file."""
    assert main(["ui", "-d", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: listening on 0.0.0.0 without a key" in err and "--auth-key-file" in err
    assert len(served) == 1


def test_no_warning_on_loopback_or_with_a_key(
    tmp_path: Path, served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Loopback, or a key: no warning; the announced URL carries the real port."""
    assert main(["ui", "-d", str(tmp_path), "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "WARNING" not in err
    assert "http://127.0.0.1:0/" not in err and "http://127.0.0.1:" in err
    key = tmp_path / "key"
    key.write_text("k\n")
    argv = ["ui", "-d", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]
    assert main([*argv, "--auth-key-file", str(key)]) == 0
    assert "WARNING" not in capsys.readouterr().err


def test_bad_key_file_exits_2_before_listening(
    tmp_path: Path, served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing or empty key file is a configuration error; nothing is served."""
    assert main(["ui", "-d", str(tmp_path), "--auth-key-file", str(tmp_path / "none")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(["ui", "-d", str(tmp_path), "--auth-key-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert served == []


def test_sigterm_stops_the_ui_with_status_0(tmp_path: Path) -> None:
    """A graceful stop of ``modeltap ui`` (SIGTERM) exits 0, not by the signal."""
    program = "from modeltap.cli import main; raise SystemExit(main())"
    process = subprocess.Popen(
        [sys.executable, "-c", program, "ui", "--destination", str(tmp_path), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "showing" in line, line
        url = line.rsplit(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(f"{url}healthz", timeout=30) as answer:
            assert answer.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
