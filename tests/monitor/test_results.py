"""The results store: the run layout, atomic and idempotent writes, local and fsspec."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from modeltap.errors import MonitorError
from modeltap.monitor.results import HISTOGRAM_SCHEMA, METRIC_SCHEMA, ResultsStore


def _metrics(value: float) -> pa.Table:
    """One metric row holding ``value``."""
    row = {name: None for name in METRIC_SCHEMA.names}
    row.update(monitor_name="m", signal_name="s", metric_name="x", metric_value=value)
    row["breached"] = False
    return pa.Table.from_pylist([row], schema=METRIC_SCHEMA)


def _write(store: ResultsStore, stamp: str, value: float) -> str:
    """Write a run whose metric is ``value``."""
    info = {"monitor": "m", "status": "succeeded", "breached": False, "value": value}
    return store.write("m", stamp, _metrics(value), HISTOGRAM_SCHEMA.empty_table(), info)


def test_local_layout_and_replace(tmp_path: Path) -> None:
    """Files in runs/{stamp}/; the same window again replaces the run, leaving nothing else."""
    store = ResultsStore(str(tmp_path))
    path = _write(store, "20240101T000000Z", 1.0)
    assert path == f"{tmp_path}/_monitoring/m/runs/20240101T000000Z"
    assert sorted(p.name for p in Path(path).iterdir()) == [
        "histograms.parquet",
        "metrics.parquet",
        "run.json",
    ]
    _write(store, "20240101T000000Z", 2.0)
    _write(store, "20240102T000000Z", 3.0)
    runs = tmp_path / "_monitoring" / "m" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["20240101T000000Z", "20240102T000000Z"]
    assert store.runs("m") == ["20240101T000000Z", "20240102T000000Z"]
    assert store.metrics("m")["metric_value"].tolist() == [2.0, 3.0]
    assert store.run_info("m", "20240101T000000Z")["value"] == 2.0
    assert store.monitors() == ["m"]


def test_uncommitted_runs_are_invisible(tmp_path: Path) -> None:
    """A run folder without run.json and hidden temporary folders are never read."""
    store = ResultsStore(str(tmp_path))
    _write(store, "20240101T000000Z", 1.0)
    runs = tmp_path / "_monitoring" / "m" / "runs"
    (runs / "20240103T000000Z").mkdir()
    (runs / "20240103T000000Z" / "metrics.parquet").write_bytes(b"partial")
    (runs / ".20240104T000000Z.tmp-ab").mkdir()
    assert store.runs("m") == ["20240101T000000Z"]
    assert len(store.metrics("m")) == 1


def test_object_store_commit_marker() -> None:
    """On fsspec stores run.json is written last and is what makes a run visible."""
    url = f"memory://results-{uuid.uuid4().hex}"
    store = ResultsStore(url)
    _write(store, "20240101T000000Z", 1.0)
    _write(store, "20240101T000000Z", 5.0)
    assert store.runs("m") == ["20240101T000000Z"]
    assert store.metrics("m")["metric_value"].tolist() == [5.0]
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.pipe(f"{root}/_monitoring/m/runs/20240105T000000Z/metrics.parquet", b"partial")
    assert store.runs("m") == ["20240101T000000Z"]


def test_unreadable_run(tmp_path: Path) -> None:
    """A corrupt run.json is a MonitorError naming the run."""
    store = ResultsStore(str(tmp_path))
    path = Path(_write(store, "20240101T000000Z", 1.0))
    (path / "run.json").write_bytes(b"{not json")
    with pytest.raises(MonitorError, match="cannot read run 20240101T000000Z of m"):
        store.run_info("m", "20240101T000000Z")


def test_metrics_table_reads_the_columns_asked_for(tmp_path: Path) -> None:
    """One run's metrics as Arrow, all columns or some, typed as the metric schema."""
    store = ResultsStore(str(tmp_path))
    _write(store, "20240101T000000Z", 4.0)
    assert store.metrics_table("m", "20240101T000000Z").schema == METRIC_SCHEMA
    table = store.metrics_table("m", "20240101T000000Z", ("metric_name", "metric_value"))
    assert table.column_names == ["metric_name", "metric_value"]
    assert table.to_pylist() == [{"metric_name": "x", "metric_value": 4.0}]


def test_unreadable_metrics_name_the_run(tmp_path: Path) -> None:
    """A corrupt metrics.parquet is a MonitorError naming the run, from either reader."""
    store = ResultsStore(str(tmp_path))
    path = Path(_write(store, "20240101T000000Z", 1.0))
    (path / "metrics.parquet").write_bytes(b"not parquet")
    with pytest.raises(MonitorError, match="cannot read run 20240101T000000Z of m"):
        store.metrics_table("m", "20240101T000000Z")
    with pytest.raises(MonitorError, match="cannot read run 20240101T000000Z of m"):
        store.metrics("m")


def test_a_stray_file_among_the_runs_is_not_a_run(tmp_path: Path) -> None:
    """Only folders holding run.json are runs."""
    store = ResultsStore(str(tmp_path))
    _write(store, "20240101T000000Z", 1.0)
    (tmp_path / "_monitoring" / "m" / "runs" / "notes.txt").write_text("x")
    assert store.runs("m") == ["20240101T000000Z"]
