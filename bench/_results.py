"""Keep a benchmark's printed tables: ``bench/results/<script>-<YYYY-MM-DD>.md``.

Each file starts with when and where the run happened (date, cores, CPU model, load average) and
the versions that were measured (python, modeltap and the libraries on its path), then holds
what the script printed, verbatim. A second run of a script on the same day is appended to that
day's file. ``bench/README.md`` links the files, newest first.

    recording = start_recording("stores")
    print(table)
    recording.save()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

RESULTS = Path(__file__).resolve().parent / "results"
_LIBRARIES = ("modeltap", "pandas", "pyarrow", "polars", "numpy", "duckdb", "orjson", "fsspec",
              "starlette", "uvicorn")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """python and the installed version of each library the benchmarks measure."""
    found = {"python": platform.python_version()}
    for name in _LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=RESULTS.parent, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def header(command: Sequence[str], when: dt.datetime) -> str:
    """The run's date, machine and versions, as Markdown."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    listed = ", ".join(f"{name} {version}" for name, version in versions().items())
    return "\n".join([
        f"## Run of {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{shlex.join(command)}` (git {_git_commit()})",
        f"- machine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} "
        f"{platform.machine()}; load average {load:.1f} at the end",
        f"- versions: {listed}",
        "",
    ])


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.terminal.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self.terminal.flush()


def write_result(script: str, output: str, command: Sequence[str],
                 when: dt.datetime | None = None) -> Path:
    """Append one run's output to ``results/<script>-<date>.md``; returns the file."""
    when = when or dt.datetime.now(dt.UTC)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{script}-{when:%Y-%m-%d}.md"
    fresh = not path.exists()
    with path.open("a", encoding="utf-8") as file:
        if fresh:
            file.write(f"# bench/{script}.py, {when:%Y-%m-%d}\n\n")
        file.write(header(command, when) + "\n```text\n" + output.strip("\n") + "\n```\n\n")
    return path


class Recording:
    """Keeps what is printed from its start until ``save()``, while printing it as usual."""

    def __init__(self, script: str, enabled: bool = True) -> None:
        self.script = script
        self.enabled = enabled
        self._terminal = sys.stdout
        self._tee = _Tee(sys.stdout)
        if enabled:
            sys.stdout = self._tee

    def save(self, command: Sequence[str] | None = None) -> Path | None:
        """Stop keeping and write the kept output to ``results/``; returns the file."""
        if not self.enabled:
            return None
        sys.stdout = self._terminal
        self.enabled = False
        path = write_result(self.script, self._tee.copy.getvalue(), command or sys.argv)
        print(f"\nresults kept in {path.relative_to(RESULTS.parent.parent)}", file=sys.stderr)
        return path


def start_recording(script: str, enabled: bool = True) -> Recording:
    """Start keeping what the script prints (its tables) for ``bench/results/``."""
    return Recording(script, enabled)
