"""Late data: how many rows a window's sides hold now, to rerun a window that grew.

A run records each signal's row counts (``production_row_count``, and for model performance the
ground truth's ``reference_row_count``). Within ``trigger.recompute_late`` of a window's due
time the scheduler counts those rows again with :func:`modeltap.read_arrow` over the same
windows (one column read), or, for files of Parquet, CSV or JSON lines with a ``time`` column,
with ``pyarrow.dataset``'s row count under a time filter; when a count grew, the window runs
again. A side read whole (model performance's ground truth without a ``data_window``, its
default) is counted whole. Sides that cannot be read are not counted.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from modeltap.errors import ModelTapError
from modeltap.monitor.definition import ModelPerformanceSignal, MonitorDefinition
from modeltap.monitor.windows import to_utc

__all__ = ["count_rows", "recorded_counts"]

_log = logging.getLogger("modeltap.monitor.schedule")


def recorded_counts(definition: MonitorDefinition, signals: dict[str, Any]) -> dict[str, Any]:
    """From a run's per-signal entries: each side to recount, its window and its row count."""
    sides: dict[str, Any] = {}
    for name, signal in definition.signals.items():
        entry = signals.get(name)
        if entry is None or signal.production_data is None:
            continue
        sides[f"{name}.production"] = {
            "path": signal.production_data.input_data.ref.ref,
            "start": entry.get("window_start"),
            "end": entry.get("window_end"),
            "rows": int(entry.get("production_row_count") or 0),
        }
        if isinstance(signal, ModelPerformanceSignal) and signal.reference_data is not None:
            sides[f"{name}.reference"] = {
                "path": signal.reference_data.input_data.ref.ref,
                "start": entry.get("reference_window_start"),
                "end": entry.get("reference_window_end"),
                "rows": int(entry.get("reference_row_count") or 0),
            }
    return sides


_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json"}


def _count_files(
    path: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    storage_options: dict[str, Any] | None,
) -> int | None:
    """Rows of a file (or folder of files) of one format whose ``time`` is in [start, end)
    (all its rows without a window)."""
    import fsspec
    import pyarrow as pa
    import pyarrow.dataset as ds

    suffix = next((s for s in _FORMATS if path.lower().endswith(s)), ".parquet")
    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        dataset = ds.dataset(root, format=_FORMATS[suffix], filesystem=fs)
        if start is None and end is None:
            whole: int = dataset.count_rows()
            return whole
        if "time" not in dataset.schema.names:
            return None
        moment = dataset.schema.field("time").type
        bounds = []
        if start is not None:
            bounds.append(ds.field("time") >= pa.scalar(start, type=moment))
        if end is not None:
            bounds.append(ds.field("time") < pa.scalar(end, type=moment))
        condition = bounds[0] if len(bounds) == 1 else bounds[0] & bounds[1]
        rows: int = dataset.count_rows(filter=condition)
    except Exception as exc:  # pyarrow and fsspec raise many kinds: not countable, then
        _log.debug("late-data count of %s failed: %s", path, exc)
        return None
    return rows


def count_rows(
    sides: dict[str, Any], destination: str, storage_options: dict[str, Any] | None = None
) -> dict[str, int]:
    """The rows each side holds now, in its window (a side without one: all its rows); sides
    that cannot be read are left out."""
    import modeltap

    counts: dict[str, int] = {}
    for key, side in sides.items():
        start = to_utc(side["start"]) if side.get("start") else None
        end = to_utc(side["end"]) if side.get("end") else None
        try:
            counts[key] = modeltap.read_arrow(
                side["path"],
                start,
                end,
                columns=["time"],
                destination=destination,
                storage_options=storage_options,
            ).num_rows
            continue
        except (ModelTapError, OSError, ValueError, KeyError) as exc:
            _log.debug("late-data count of %s as collected data failed: %s", key, exc)
        rows = _count_files(str(side["path"]), start, end, storage_options)
        if rows is not None:
            counts[key] = rows
    return counts
