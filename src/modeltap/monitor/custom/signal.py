"""Running a custom signal: call the user's function, check what it returned, add thresholds
and breaches.

The function is called as ``function(production, reference, **params)`` with ``pyarrow.Table``
sides (``reference`` None when the signal has no ``reference_data``) and returns a
``pyarrow.Table``, a pandas or a polars DataFrame with the columns ``group``, ``metric_name``,
``metric_value`` and optionally ``group_dimension``. Anything else (another type, a missing
column, a value that is not a number, the same ``(group, metric_name)`` twice) or an exception
fails the signal with an error naming the function and the problem.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import MonitorError
from modeltap.monitor.definition import CustomSignal
from modeltap.monitor.feature_types import type_kind
from modeltap.monitor.signals import SignalResult

__all__ = ["REQUIRED_COLUMNS", "custom_signal"]

REQUIRED_COLUMNS = ("group", "metric_name", "metric_value")


def _from_pandas(frame: Any) -> pa.Table:
    """The frame as a table, its float columns' NaN kept as NaN (``from_pandas`` turns them into
    nulls, which would read as a missing value rather than one that could not be computed)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for position, name in enumerate(table.column_names):
        column = frame.iloc[:, position]
        numpy_dtype = type(column.dtype).__module__.startswith("numpy")
        if numpy_dtype and column.dtype.kind == "f":
            numbers = pa.array(column.to_numpy(), from_pandas=False)
            table = table.set_column(position, name, numbers)
    return table


def _as_table(output: Any, where: str) -> pa.Table:
    if isinstance(output, pa.Table):
        return output
    module = type(output).__module__
    if module.startswith("pandas") and hasattr(output, "columns"):
        return _from_pandas(output)
    if module.startswith("polars") and hasattr(output, "to_arrow"):
        table = output.to_arrow()
        assert isinstance(table, pa.Table)
        return table
    raise MonitorError(
        f"{where} returned {type(output).__name__}: return a pyarrow Table, a pandas or a "
        "polars DataFrame with the columns group, metric_name, metric_value"
    )


def _texts(table: pa.Table, column: str, where: str) -> list[str]:
    values = table.column(column)
    if type_kind(values.type) not in ("string", "integer", "boolean", "null"):
        raise MonitorError(f"{where}: column {column!r} holds {values.type}, not text")
    if values.null_count and column == "metric_name":
        raise MonitorError(f"{where}: column 'metric_name' has {values.null_count} empty value(s)")
    return ["" if v is None else str(v) for v in values.to_pylist()]


def _checked(output: Any, where: str) -> list[tuple[str, str, str, float]]:
    """(group, group_dimension, metric_name, metric_value) rows of a valid output."""
    table = _as_table(output, where)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise MonitorError(
            f"{where} returned no column {', '.join(repr(c) for c in missing)} (it has: "
            f"{', '.join(table.column_names) or 'no columns'}); return group, metric_name, "
            "metric_value and optionally group_dimension"
        )
    values = table.column("metric_value")
    if type_kind(values.type) not in ("integer", "float", "decimal") and not (
        pa.types.is_null(values.type) and len(values) == 0
    ):
        sample = next((v for v in values.to_pylist() if v is not None), None)
        raise MonitorError(
            f"{where}: metric_value must be numbers; it holds {values.type} (e.g. {sample!r})"
        )
    if values.null_count:
        raise MonitorError(
            f"{where}: metric_value has {values.null_count} empty value(s): give a number "
            "(NaN for a value that cannot be computed)"
        )
    numbers = pc.cast(values, pa.float64()).to_pylist()
    groups = _texts(table, "group", where)
    names = _texts(table, "metric_name", where)
    dimensions = (
        _texts(table, "group_dimension", where)
        if "group_dimension" in table.column_names
        else [""] * len(groups)
    )
    seen: set[tuple[str, str]] = set()
    for group, name in zip(groups, names, strict=True):
        if (group, name) in seen:
            raise MonitorError(
                f"{where}: (group, metric_name) = ({group!r}, {name!r}) appears more than "
                "once; give one value for each"
            )
        seen.add((group, name))
    return list(zip(groups, dimensions, names, [float(v) for v in numbers], strict=True))


def custom_signal(
    name: str,
    signal: CustomSignal,
    production: pa.Table,
    reference: pa.Table | None,
) -> SignalResult:
    """Call the signal's function on both sides; each returned row becomes a metric row with
    ``feature_name`` = ``group``, breached by its ``metric_thresholds`` entry (above the
    threshold, or below it when ``higher_is_worse`` is false). Raises MonitorError naming the
    function and the problem when the function raises or returns something unusable."""
    result = SignalResult(
        name,
        "custom",
        production_rows=production.num_rows,
        reference_rows=0 if reference is None else reference.num_rows,
    )
    if production.num_rows == 0:
        result.status = "no_data"
        return result
    where = f"custom signal function {signal.component}"
    try:
        output = signal.function(production, reference, **signal.params)
    except Exception as exc:
        raise MonitorError(f"{where} raised {type(exc).__name__}: {exc}") from exc
    for group, dimension, metric, value in _checked(output, where):
        limit = signal.threshold(metric)
        breached = False
        if limit is not None and not math.isnan(value):
            breached = value > limit.threshold if limit.higher_is_worse else value < limit.threshold
        result.rows.append(
            {
                "feature_name": group,
                "data_type": "",
                "metric_name": metric,
                "metric_value": value,
                "threshold_value": None if limit is None else limit.threshold,
                "breached": breached,
                "baseline_value": None,
                "group": group,
                "group_dimension": dimension,
            }
        )
    return result.finish()
