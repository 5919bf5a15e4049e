"""``modeltap monitor report``: the latest or a named run to a file; clear errors, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from modeltap.cli import main
from tests.report.sample_store import MONITOR, write_sample_store


@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with three runs of the sample monitor."""
    return write_sample_store(tmp_path_factory.mktemp("sample"))


def test_latest_run_by_default(
    destination: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --run the latest run is written where -o says, and the path is printed."""
    out = tmp_path / "r.html"
    assert main(["monitor", "report", MONITOR, "-d", destination, "-o", str(out), "--latest"]) == 0
    assert str(out) in capsys.readouterr().out
    assert "run ending 2024-05-08T13:00:00Z" in out.read_text(encoding="utf-8")


def test_named_run_and_default_file_name(
    destination: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--run takes an ISO time; the default file is NAME-STAMP.html in the working folder."""
    monkeypatch.chdir(tmp_path)
    assert (
        main(["monitor", "report", MONITOR, "-d", destination, "--run", "2024-05-08T11:00Z"]) == 0
    )
    written = tmp_path / f"{MONITOR}-20240508T110000Z.html"
    assert "run ending 2024-05-08T11:00:00Z" in written.read_text(encoding="utf-8")


def test_unknown_run_or_monitor_exits_1(
    destination: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One clear line on stderr, exit status 1, no file."""
    out = tmp_path / "r.html"
    code = main(
        ["monitor", "report", MONITOR, "-d", destination, "--run", "2031-01-01", "-o", str(out)]
    )
    assert code == 1
    assert "has no run with window end '2031-01-01'" in capsys.readouterr().err
    assert main(["monitor", "report", "other", "-d", destination]) == 1
    assert "monitors with results: credit" in capsys.readouterr().err
    assert not out.exists()


def test_run_and_latest_exclude_each_other(destination: str) -> None:
    """--run and --latest together are a usage error."""
    with pytest.raises(SystemExit):
        main(["monitor", "report", MONITOR, "--run", "x", "--latest"])
