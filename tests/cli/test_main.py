"""The ``modeltap`` command itself: no command, --help and its extras, ``python -m``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeltap.cli import EXIT_USAGE, main
from modeltap.cli import extras as extras_module

SRC = Path(__file__).resolve().parents[2] / "src"


def _environment() -> dict[str, str]:
    """This test run's environment with this tree's sources first on the path."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(SRC), environment.get("PYTHONPATH", "")])
    return environment


def test_no_command_prints_help_and_exits_2() -> None:
    """``modeltap`` alone: the help on stderr, exit status 2, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "modeltap.cli"],
        capture_output=True, text=True, env=_environment(), timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "usage: modeltap" in done.stderr and "serve" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_no_command_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """main([]) returns 2 and prints the help to stderr; so does ``modeltap data``."""
    assert main([]) == EXIT_USAGE
    assert "usage: modeltap" in capsys.readouterr().err
    assert main(["data"]) == EXIT_USAGE
    assert "usage: modeltap data" in capsys.readouterr().err


def test_help_lists_the_extras_and_whether_they_are_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--help ends with every extra; a missing one shows its pip install command."""
    real = extras_module._importable
    monkeypatch.setattr(
        extras_module, "_importable", lambda module: module != "gcsfs" and real(module)
    )
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.split("extras:", 1)[1].splitlines() if line}
    assert set(lines) == set(extras_module.EXTRAS)
    assert lines["server"].endswith(" installed")
    assert lines["gcs"].endswith('not installed (pip install "modeltap[gcs]")')
