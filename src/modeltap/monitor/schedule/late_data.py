"""Late data: how many rows a window's sides hold now, to rerun a window that grew.

A run records each signal's row counts (``production_row_count``, and for model performance the
ground truth's ``reference_row_count``). Within ``trigger.recompute_late`` of a window's due
time the scheduler counts those rows again with :func:`modeltap.read_arrow` over the same
windows (one column read); when a count grew, the window runs again. Sides that are files of
training data or cannot be read are not counted.
"""

from __future__ import annotations

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


def count_rows(
    sides: dict[str, Any], destination: str, storage_options: dict[str, Any] | None = None
) -> dict[str, int]:
    """The rows each side holds now (sides that cannot be read as collected data are left out)."""
    import modeltap

    counts: dict[str, int] = {}
    for key, side in sides.items():
        if not side.get("start") or not side.get("end"):
            continue
        try:
            table = modeltap.read_arrow(
                side["path"],
                to_utc(side["start"]),
                to_utc(side["end"]),
                columns=["time"],
                destination=destination,
                storage_options=storage_options,
            )
        except (ModelTapError, OSError, ValueError) as exc:
            _log.debug("late-data count of %s skipped: %s", key, exc)
            continue
        counts[key] = table.num_rows
    return counts
