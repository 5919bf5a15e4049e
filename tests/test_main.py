"""``python -m modeltap`` is the ``modeltap`` command."""

from __future__ import annotations

import subprocess
import sys

import modeltap


def test_python_m_modeltap_runs_the_command() -> None:
    """``python -m modeltap --version`` prints the version and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "modeltap", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"modeltap {modeltap.__version__}"
