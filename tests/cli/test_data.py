"""``modeltap data list|show|read``: output for people and machines, and clear failures."""

from __future__ import annotations

import io
import json
import logging
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
    assert "row_index" in out and out.rstrip().endswith("\n6 rows")
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


# -- read: times, columns, roots, limits, payload bodies ----------------------------------------


@pytest.mark.parametrize("text", ["1h", "today", "07/12/2026"])
@pytest.mark.parametrize("option", ["--start", "--end"])
def test_times_that_are_not_iso_or_relative_are_errors(
    store: Path, capsys: pytest.CaptureFixture[str], option: str, text: str
) -> None:
    """'1h' (once read as year 1), 'today', '07/12/2026': exit 1 naming the accepted forms."""
    code, out, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                         option, text)  # fmt: skip
    assert code == 1 and out == ""
    assert f"{option} {text!r} is not a time: use ISO 8601" in err
    assert "relative to now (-30m, -2h, -7d" in err


@pytest.mark.parametrize(
    ("window", "rows"),
    [
        (["--since", "1h"], 6),
        (["--start", "-2d"], 6),  # a separate argument that begins with '-'
        (["--start=-2d", "--end", "now"], 6),
        (["--end", "-1h"], 0),
        (["--start", "now"], 0),
        (["--start", "2000-01-01", "--end", "2000-01-02T00:00:00Z"], 0),
    ],
)
def test_relative_and_iso_windows(
    store: Path, capsys: pytest.CaptureFixture[str], window: list[str], rows: int
) -> None:
    """Relative forms count back from now; the rows written a moment ago fall inside or not."""
    code, out, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                         "--format", "csv", *window)  # fmt: skip
    assert code == 0, err
    assert len(out.strip().splitlines()) == rows + 1


def test_since_with_start_is_an_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--since is a start: giving both is refused."""
    code, _, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                       "--since", "1h", "--start", "-1d")  # fmt: skip
    assert code == 1 and "give --since or --start, not both" in err


def test_unknown_column_lists_the_known_ones(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--columns with a typo: an error listing every known column, for an asset and a path."""
    for source in ("ep-dep-model_inputs", str(store / "ep" / "dep" / "model_inputs")):
        code, out, err = run(capsys, "data", "read", source, "-d", str(store),
                             "--columns", "x,tags")  # fmt: skip
        assert code == 1 and out == ""
        assert "--columns: no column 'tags'; the known columns are: " in err
        assert "correlationid, xrequestid, time, row_index, x, tag" in err


def test_a_known_column_outside_the_window_is_nulls(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column the asset has, in a window without rows, is not an error."""
    window = ["--end", "2000-01-01", "--format", "csv"]
    code, out, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                         "--columns", "tag,x", *window)  # fmt: skip
    assert code == 0, err
    assert out.strip() == "tag,x"


def test_reading_a_destination_root_says_so(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's own folder is not a collection: the error says what to give instead."""
    code, out, err = run(capsys, "data", "read", str(store))
    assert code == 1 and out == ""
    assert f"{store} is a destination (it holds the catalog, _assets/), not a collection" in err
    assert f"modeltap data read ep-dep-model_inputs -d {store}" in err


@pytest.fixture
def many(configure_tap: ConfigureTap, data_dir: Path) -> Path:
    """A store whose model_inputs holds 25 one-row events."""
    configure_tap()
    inputs = modeltap.Collector(name="model_inputs")
    for i in range(25):
        inputs.collect(pd.DataFrame({"x": [i]}))
    assert modeltap.flush(timeout=30)
    return data_dir


def _table_rows(out: str) -> list[str]:
    """The body rows of a rich table."""
    return [line for line in out.splitlines() if line.startswith("│")]


def test_table_shows_twenty_rows_and_says_how_many_there_are(
    many: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --limit a table stops at 20 rows and names the total; --limit shows more."""
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(many))
    assert code == 0
    assert len(_table_rows(out)) == 20
    assert out.rstrip().endswith("first 20 of 25 rows (--limit N shows more)")
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(many),
                       "--limit", "25")  # fmt: skip
    assert len(_table_rows(out)) == 25 and out.rstrip().endswith("\n25 rows")
    code, out, _ = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(many),
                       "--format", "csv")  # fmt: skip
    assert len(out.strip().splitlines()) == 26  # machines get every row


def test_jsonl_payload_bodies_are_json_not_text(
    configure_tap: ConfigureTap, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request collection in --format jsonl: the body is a JSON object, not an encoded string."""
    import orjson

    from modeltap.context import BasicCorrelationContext
    from modeltap.server.capture import PayloadCapture

    capture = PayloadCapture(configure_tap(), max_event_bytes=1 << 20)
    body = {"data": [[1, 2]], "note": 'a "quoted" / text'}
    capture.capture(
        BasicCorrelationContext(), path="/score", method="POST", request_headers=[],
        request_body=orjson.dumps(body), request_type="application/json", status=200,
        response_headers=[], response_body=b'"ok"', response_type="application/json",
        latency_ms=1.0,
    )  # fmt: skip
    assert modeltap.flush(timeout=30)
    code, out, err = run(capsys, "data", "read", "ep-dep-request", "-d", str(data_dir),
                         "--format", "jsonl")  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert record["data"] == body
    assert record["path"] == "/score" and record["statuscode"] == 200
    assert record["time"].endswith("Z") and len(record["time"]) == len("2026-01-01T00:00:00.000Z")


# -- list on a narrow terminal --------------------------------------------------------------------


def test_list_never_cuts_names_on_80_columns(
    configure_tap: ConfigureTap, data_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an 80-column terminal long asset names appear whole (one block per asset)."""
    configure_tap()
    names = ["customer_churn_scoring_inputs_v2", "customer_churn_scoring_outputs_v2"]
    for name in names:
        modeltap.Collector(name=name).collect(pd.DataFrame({"x": [1]}))
    assert modeltap.flush(timeout=30)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "data", "list", "-d", str(data_dir))
    assert code == 0, err
    lines = out.splitlines()
    for name in names:
        assert f"ep-dep-{name}:1" in lines
    assert "…" not in out
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "data", "list", "-d", str(data_dir))
    assert "┃ name" in out and all(f"ep-dep-{n}" in out for n in names)  # a table when it fits


# -- tail -----------------------------------------------------------------------------------------


def test_tail_prints_the_newest_records(
    many: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tail -n 3: the three newest records, oldest first, as JSON lines."""
    code, out, err = run(capsys, "data", "tail", "ep-dep-model_inputs", "-d", str(many),
                         "-n", "3", "--columns", "x")  # fmt: skip
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [{"x": 22}, {"x": 23}, {"x": 24}]


def test_tail_follow_prints_what_is_committed_next(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """tail --follow (a real process): the newest record first, then each newly committed one."""
    import os
    import select
    import signal
    import subprocess
    import sys

    configure_tap()
    inputs = modeltap.Collector(name="model_inputs")
    inputs.collect(pd.DataFrame({"x": [1]}))
    assert modeltap.flush(timeout=30)
    source = Path(__file__).resolve().parents[2] / "src"
    process = subprocess.Popen(
        [sys.executable, "-m", "modeltap.cli", "data", "tail", "ep-dep-model_inputs",
         "-d", str(data_dir), "-n", "1", "--follow", "--interval", "0.1", "--columns", "x"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(source)),
    )  # fmt: skip
    assert process.stdout is not None

    def next_line() -> str:
        """The next line the tail prints (30 s at most)."""
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "tail printed nothing"
        assert process.stdout is not None
        return process.stdout.readline()

    try:
        assert json.loads(next_line()) == {"x": 1}
        for value in (2, 3):
            inputs.collect(pd.DataFrame({"x": [value]}))
            assert modeltap.flush(timeout=30)
            assert json.loads(next_line()) == {"x": value}
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_tail_interval_is_bounded(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--interval outside 0.1..60 seconds is refused."""
    code, _, err = run(capsys, "data", "tail", "ep-dep-model_inputs", "-d", str(store),
                       "--follow", "--interval", "0")  # fmt: skip
    assert code == 1 and "--interval must be from 0.1 to 60" in err


# -- missing backends ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["list", "-d", "s3://bucket/data"], "s3"),
        (["read", "s3://bucket/data/ep/dep/model_inputs"], "s3"),
        (["tail", "gs://bucket/data/ep/dep/model_inputs"], "gcs"),
        (["show", "x", "-d", "az://container/data"], "azure"),
    ],
)
def test_missing_backend_names_modeltaps_extra(
    tmp_path: Path, argv: list[str], extra: str
) -> None:
    """Without s3fs/gcsfs/adlfs: 'pip install "modeltap[EXTRA]"', not fsspec's own wording."""
    import os
    import subprocess
    import sys

    blocked = "import sys; sys.modules.update(s3fs=None, gcsfs=None, adlfs=None); "
    code = blocked + "from modeltap.cli import main; sys.exit(main(sys.argv[1:]))"
    source = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [sys.executable, "-c", code, "data", *argv], capture_output=True, text=True,
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(source)), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f'pip install "modeltap[{extra}]"' in done.stderr
    assert "Install s3fs" not in done.stderr and "Traceback" not in done.stderr


def test_reading_a_folder_above_the_collections_says_so(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An endpoint's or deployment's folder is not a collection: not '0 rows' but an error."""
    for folder, inside in ((store / "ep", "dep"), (store / "ep" / "dep", "model_inputs")):
        code, out, err = run(capsys, "data", "read", str(folder))
        assert code == 1 and out == ""
        assert f"{folder} is not a collection folder: it holds {inside}" in err
    empty = store / "ep" / "dep" / "not_yet"
    empty.mkdir()
    code, out, _ = run(capsys, "data", "read", str(empty), "--format", "csv")
    assert code == 0  # a collection with nothing committed yet is just empty


def test_reader_warnings_are_printed_on_stderr(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warning of modeltap's reader (such as skipped records) is one line on stderr; another
    library's warning is not printed; the rows still come out."""
    import warnings

    class ReaderWarning(UserWarning):
        """Stands for a warning class of modeltap's reader."""

    ReaderWarning.__module__ = "modeltap.reading"
    real = modeltap.read_arrow

    def warning_reader(*args: object, **kwargs: object) -> object:
        """read_arrow that warns as a reader skipping a bad line would."""
        warnings.warn(ReaderWarning("skipped 1 record: a.jsonl line 3 is not JSON"), stacklevel=1)
        warnings.warn(FutureWarning("a pandas deprecation"), stacklevel=1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(modeltap, "read_arrow", warning_reader)
    code, out, err = run(capsys, "data", "read", "ep-dep-model_inputs", "-d", str(store),
                         "--format", "csv")  # fmt: skip
    assert code == 0
    assert len(out.strip().splitlines()) == 7
    assert err == "modeltap data: warning: skipped 1 record: a.jsonl line 3 is not JSON\n"
def test_read_warns_of_skipped_records(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged line is skipped: the rows are printed and stderr names the file and line."""
    path = sorted((store / "ep" / "dep" / "model_inputs").rglob("*.jsonl"))[0]
    with open(path, "ab") as handle:
        handle.write(b'{"torn":\n')
    folder = str(store / "ep" / "dep" / "model_inputs")
    code, out, err = run(capsys, "data", "read", folder, "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 7
    assert f"warning: skipped 1 record(s) that cannot be read: {path} line" in err


def test_skipped_records_are_printed_once(
    store: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The reader's log line about skipped records is held back while the command prints the
    warning, so the message reaches stderr once (not also through logging's last resort)."""
    path = sorted((store / "ep" / "dep" / "model_inputs").rglob("*.jsonl"))[0]
    with open(path, "ab") as handle:
        handle.write(b'{"torn":\n')
    with caplog.at_level(logging.WARNING):
        code, _, err = run(capsys, "data", "read", str(path.parents[4]), "--format", "csv")
    assert code == 0
    assert err.count("skipped 1 record(s)") == 1
    assert not [r for r in caplog.records if r.name.startswith("modeltap.reading")]
    with pytest.warns(modeltap.SkippedRecordsWarning):
        modeltap.read(str(path.parents[4]))  # outside the command the reader logs as before
    assert [r for r in caplog.records if r.name.startswith("modeltap.reading")]
