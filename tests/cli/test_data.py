"""``modeltap data list|show|read``: output for people and machines, and clear failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap.cli import main
from tests.conftest import ConfigureTap

Run = tuple[int, str, str]


@pytest.fixture
def store(configure_tap: ConfigureTap, data_dir: Path) -> Path:
    """A store with two collections written by the pipeline."""
    configure_tap()
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    for i in range(3):
        context = inputs.collect(pd.DataFrame({"x": [i, i + 10], "tag": ["p", "q"]}))
        outputs.collect(pd.DataFrame({"y": [i / 2, i / 4]}), context)
    assert modeltap.flush(timeout=30)
    return data_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run the CLI; (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_every_asset(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table names each asset with version, format and column count."""
    code, out, err = run(capsys, "data", "list", "--destination", str(store))
    assert code == 0, err
    assert "ep-dep-model_inputs" in out and "ep-dep-model_outputs" in out
    assert "jsonl" in out
    code, out, _ = run(capsys, "data", "list", "-d", str(store), "--format", "jsonl")
    names = sorted(json.loads(line)["name"] for line in out.splitlines())
    assert names == ["ep-dep-model_inputs", "ep-dep-model_outputs"]


def test_list_uses_the_configured_destination(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --destination the environment's data folder is listed."""
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(store))
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    assert "ep-dep-model_inputs" in out


def test_show_lists_columns_and_times(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """show prints the asset's fields and its columns with types."""
    code, out, err = run(capsys, "data", "show", "ep-dep-model_inputs:1", "-d", str(store))
    assert code == 0, err
    for text in ("root", str(store / "ep" / "dep" / "model_inputs"), "x", "int64", "tag"):
        assert text in out
    code, out, _ = run(capsys, "data", "show", "ep-dep-model_inputs", "-d", str(store),
                       "--format", "json")  # fmt: skip
    shown = json.loads(out)
    assert shown["columns"] == {"x": "int64", "tag": "string"}


def test_read_formats(store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """read prints a table, CSV or JSON lines, and writes Parquet to a file; --limit caps rows."""
    code, out, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store))
    assert code == 0, err
    assert "row_index" in out and "6 row(s)" in out
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                       "--format", "csv", "--limit", "4", "--columns", "x,tag")  # fmt: skip
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["x", "tag"]
    assert len(frame) == 4
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_outputs", "-d", str(store),
                       "--format", "jsonl")  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["y"] for r in rows) == [0.0, 0.0, 0.25, 0.5, 0.5, 1.0]
    target = tmp_path / "out.parquet"
    code, _, err = run(capsys, "data", "read", "ep-dep-model_outputs", "-d", str(store),
                       "--format", "parquet", "-o", str(target))  # fmt: skip
    assert code == 0, err
    assert pq.read_table(target).num_rows == 6


def test_read_a_window_and_a_path(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--start/--end bound the rows; a folder path works instead of an asset name."""
    window = ["--start", "2000-01-01", "--end", "2000-01-02", "--format", "csv"]
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store), *window)
    assert code == 0
    assert out.strip() == "correlationid,xrequestid,time,row_index"
    path = str(store / "ep" / "dep" / "model_inputs")
    code, out, _ = run(capsys, "data", "read", path, "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "show", "missing-asset"], "no data asset missing-asset"),
        (["data", "read", "missing-asset"], "no data asset missing-asset"),
        (["data", "read", "ep-dep-model_inputs", "--start", "soonish"], "is not a time"),
        (["data", "read", "ep-dep-model_inputs", "--format", "parquet"], "-o FILE"),
        (["data", "show", "ep-dep-model_inputs:9"], "versions of ep-dep-model_inputs: 1"),
    ],
)
def test_errors_are_one_clear_line(
    store: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Unknown assets, bad times and bad options: a message on stderr and exit code 1."""
    code, out, err = run(capsys, *argv, "-d", str(store))
    assert code == 1
    assert message in err
    assert "Traceback" not in err and out == ""


def test_unreadable_store_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination that is a file, is missing, or has an unknown scheme: exit 1, a reason."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for destination, reason in (
        (str(a_file), "a file, not a folder"),
        (str(tmp_path / "absent"), "not found"),
        ("nosuchscheme://bucket/x", "nosuchscheme"),
    ):
        code, _, err = run(capsys, "data", "list", "-d", destination)
        assert code == 1, destination
        assert reason in err, err


def test_read_warns_of_skipped_records(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged line is skipped: the rows are printed and stderr names the file and line."""
    path = sorted((store / "ep" / "dep" / "model_inputs").rglob("*.jsonl"))[0]
    with open(path, "ab") as handle:
        handle.write(b'{"torn":\n')
    folder = str(store / "ep" / "dep" / "model_inputs")
    code, out, err = run(capsys, "data", "read", folder, "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 7
    assert f"warning: skipped 1 record(s) that cannot be read: {path} line" in err
