"""The results store: ``{destination}/_monitoring/{monitor}/runs/{YYYYMMDDTHHMMSSZ}/``.

Each run folder holds ``metrics.parquet``, ``histograms.parquet`` and ``run.json``. Writes are
atomic and idempotent: on local disk the run is written to a hidden temporary folder and renamed
into place (a run of the same window replaces the old folder, which is renamed away first); on
object stores ``run.json`` is the commit marker — removed first, written last — and readers
only see runs that have one. Hidden (``.``-prefixed) folders are never read.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from modeltap.errors import MonitorError

__all__ = ["HISTOGRAM_SCHEMA", "METRIC_SCHEMA", "MONITORING_FOLDER", "ResultsStore"]

MONITORING_FOLDER = "_monitoring"
_TIME = pa.timestamp("us", tz="UTC")
METRIC_SCHEMA = pa.schema(
    [
        ("monitor_name", pa.string()),
        ("signal_name", pa.string()),
        ("signal_type", pa.string()),
        ("feature_name", pa.string()),
        ("data_type", pa.string()),
        ("metric_name", pa.string()),
        ("metric_value", pa.float64()),
        ("threshold_value", pa.float64()),
        ("breached", pa.bool_()),
        ("baseline_value", pa.float64()),
        ("production_row_count", pa.int64()),
        ("reference_row_count", pa.int64()),
        ("window_start", _TIME),
        ("window_end", _TIME),
        ("reference_window_start", _TIME),
        ("reference_window_end", _TIME),
        ("run_time", _TIME),
        ("group", pa.string()),
        ("group_dimension", pa.string()),
    ]
)
HISTOGRAM_SCHEMA = pa.schema(
    [
        ("signal_name", pa.string()),
        ("feature_name", pa.string()),
        ("data_type", pa.string()),
        ("bin", pa.int64()),
        ("lower_bound", pa.float64()),
        ("upper_bound", pa.float64()),
        ("category", pa.string()),
        ("reference_count", pa.int64()),
        ("production_count", pa.int64()),
    ]
)
_FILES = ("metrics.parquet", "histograms.parquet")


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _read_parquet(blob: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """A small Parquet file held in memory. ``ParquetFile.read`` rather than ``read_table``,
    which goes through the dataset machinery: a run's metrics in 0.2 ms of CPU instead of 0.8
    (30 runs of bench/ui.py's store, the history a monitor page reads on its first visit);
    bench/ui.py, 2026-12-06, 599073e against 9c5297c: a run page's first visit 80 -> 50 ms of
    server CPU, a monitor page's 70 -> 60 (their wall times within the load's noise)."""
    handle = pq.ParquetFile(pa.BufferReader(blob))
    return handle.read(columns=None if columns is None else list(columns), use_threads=False)


class ResultsStore:
    """Monitor runs under ``{destination}/_monitoring/``, local or any fsspec URL."""

    def __init__(self, destination: str, storage_options: dict[str, Any] | None = None) -> None:
        self.destination = destination
        self.url = f"{destination.rstrip('/')}/{MONITORING_FOLDER}"
        self._local = "://" not in destination or destination.startswith("file://")
        self._options = storage_options or {}

    def _fs(self) -> tuple[Any, str]:
        import fsspec

        return fsspec.core.url_to_fs(self.url, **self._options)  # type: ignore[no-any-return]

    def run_url(self, monitor: str, stamp: str) -> str:
        """Where a run's folder is."""
        return f"{self.url}/{monitor}/runs/{stamp}"

    # -- writing ------------------------------------------------------------------------------

    def write(
        self, monitor: str, stamp: str, metrics: pa.Table, histograms: pa.Table, run: dict[str, Any]
    ) -> str:
        """Write one run (replacing a run of the same window); returns its folder."""
        blobs = {
            "metrics.parquet": _parquet(metrics.cast(METRIC_SCHEMA)),
            "histograms.parquet": _parquet(histograms.cast(HISTOGRAM_SCHEMA)),
            "run.json": orjson.dumps(run, option=orjson.OPT_INDENT_2) + b"\n",
        }
        try:
            if self._local:
                self._write_local(monitor, stamp, blobs)
            else:
                self._write_remote(monitor, stamp, blobs)
        except OSError as exc:
            raise MonitorError(
                f"cannot write the results to {self.run_url(monitor, stamp)}: {exc}"
            ) from None
        return self.run_url(monitor, stamp)

    def _write_local(self, monitor: str, stamp: str, blobs: dict[str, bytes]) -> None:
        runs = Path(self.url.removeprefix("file://")) / monitor / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(4)
        temporary = runs / f".{stamp}.tmp-{token}"
        temporary.mkdir()
        try:
            for name, blob in blobs.items():
                with open(temporary / name, "wb") as handle:
                    handle.write(blob)
                    handle.flush()
                    os.fsync(handle.fileno())
            final = runs / stamp
            old = runs / f".{stamp}.old-{token}"
            if final.exists():
                final.rename(old)
            temporary.rename(final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)

    def _write_remote(self, monitor: str, stamp: str, blobs: dict[str, bytes]) -> None:
        fs, root = self._fs()
        folder = f"{root}/{monitor}/runs/{stamp}"
        with contextlib.suppress(FileNotFoundError):
            fs.rm(f"{folder}/run.json")  # un-commit the old run before replacing its files
        for name in (*_FILES, "run.json"):
            fs.pipe(f"{folder}/{name}", blobs[name])

    # -- reading ------------------------------------------------------------------------------

    def _read(self, relative: str) -> bytes:
        if self._local:
            return (Path(self.url.removeprefix("file://")) / relative).read_bytes()
        fs, root = self._fs()
        data: bytes = fs.cat_file(f"{root}/{relative}")
        return data

    def _ls(self, relative: str) -> list[str]:
        try:
            if self._local:
                folder = Path(self.url.removeprefix("file://")) / relative
                return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            fs, root = self._fs()
            path = f"{root}/{relative}".rstrip("/")
            if not fs.exists(path):
                return []
            return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        except OSError as exc:
            raise MonitorError(f"cannot list {self.url}/{relative}: {exc}") from None

    def monitors(self) -> list[str]:
        """Monitors with at least one committed run."""
        return [m for m in self._ls("") if not m.startswith((".", "_")) and self.runs(m)]

    def runs(self, monitor: str) -> list[str]:
        """The committed runs of a monitor (their window-end stamps), oldest first."""
        stamps = [s for s in self._ls(f"{monitor}/runs") if not s.startswith(".")]
        if self._local:
            # one stat per run instead of listing its folder: 10 monitors of 100 runs listed in
            # 1.7 ms instead of 12 ms (bench/ui.py's store; its monitors page lists them twice,
            # whose first visit went 48 -> 21 ms with this and Arrow metrics, 706a1c2 against
            # 5c31335 in bench/ui.py, 2026-12-06)
            runs = Path(self.url.removeprefix("file://")) / monitor / "runs"
            return [s for s in stamps if os.path.isfile(runs / s / "run.json")]
        return [s for s in stamps if "run.json" in self._ls(f"{monitor}/runs/{s}")]

    def run_info(self, monitor: str, stamp: str) -> dict[str, Any]:
        """A run's ``run.json``."""
        try:
            info: dict[str, Any] = orjson.loads(self._read(f"{monitor}/runs/{stamp}/run.json"))
        except (OSError, orjson.JSONDecodeError) as exc:
            raise MonitorError(f"cannot read run {stamp} of {monitor}: {exc}") from None
        return info

    def metrics(self, monitor: str, stamps: Sequence[str] | None = None) -> pd.DataFrame:
        """The metrics of the given runs (default: every committed run), oldest first."""
        stamps = self.runs(monitor) if stamps is None else stamps
        tables = [self.metrics_table(monitor, stamp) for stamp in stamps]
        table = pa.concat_tables(tables) if tables else METRIC_SCHEMA.empty_table()
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def metrics_table(
        self, monitor: str, stamp: str, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """One run's metrics as an Arrow table (only ``columns``, when given)."""
        try:
            blob = self._read(f"{monitor}/runs/{stamp}/metrics.parquet")
            table = _read_parquet(blob, columns)
        except (OSError, pa.ArrowException) as exc:
            raise MonitorError(f"cannot read run {stamp} of {monitor}: {exc}") from None
        schema = (
            METRIC_SCHEMA
            if columns is None
            else pa.schema([METRIC_SCHEMA.field(name) for name in columns])
        )
        return table.cast(schema)

    def histograms(self, monitor: str, stamp: str) -> pd.DataFrame:
        """A run's histograms."""
        blob = self._read(f"{monitor}/runs/{stamp}/histograms.parquet")
        frame: pd.DataFrame = _read_parquet(blob).to_pandas()
        return frame
