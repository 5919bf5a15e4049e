"""A custom monitoring signal: the share of requests that reached the model with empty inputs.

Used by custom-signal.yaml as ``component: empty_inputs:empty_input_share``. modeltap calls it
with each side's rows as a ``pyarrow.Table`` (``reference`` is None: this signal has none) and
the signal's ``params``; it returns one row per group: each input column's share of empty values
(``group_dimension: column``), and the share of rows whose inputs are all empty
(``group: all_inputs``, ``group_dimension: row``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _empty(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where a value is null, NaN or blank text."""
    empty = pc.is_null(column, nan_is_null=True)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        blank = pc.equal(pc.utf8_trim_whitespace(column), "")
        empty = pc.or_(empty, pc.fill_null(blank, False))
    return empty


def empty_input_share(
    production: pa.Table, reference: pa.Table | None, columns: list[str]
) -> pa.Table:
    """Share of rows with an empty value in each of ``columns``, and with all of them empty."""
    rows = production.num_rows
    groups, dimensions, values = [], [], []
    all_empty = None
    for name in columns:
        if name in production.column_names:
            empty = _empty(production.column(name))
        else:  # a column the requests never had is empty everywhere
            empty = pa.chunked_array([pa.array([True] * rows)])
        all_empty = empty if all_empty is None else pc.and_(all_empty, empty)
        groups.append(name)
        dimensions.append("column")
        values.append(pc.sum(empty).as_py() / rows)
    groups.append("all_inputs")
    dimensions.append("row")
    values.append((pc.sum(all_empty).as_py() or 0) / rows if all_empty is not None else 0.0)
    return pa.table(
        {
            "group": groups,
            "group_dimension": dimensions,
            "metric_name": ["empty_input_share"] * len(groups),
            "metric_value": pa.array(values, pa.float64()),
        }
    )
