"""Custom-signal functions the tests name as components (``tests.monitor.custom.functions:F``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

CALLS: list[dict[str, Any]] = []


def mean_and_rows(production: pa.Table, reference: pa.Table | None, column: str) -> pa.Table:
    """The mean of ``column`` on each side (group = side) and production's row count."""
    CALLS.append({"production": production.num_rows, "reference": reference, "column": column})
    groups = ["production"]
    values = [pc.mean(production.column(column)).as_py()]
    if reference is not None:
        groups.append("reference")
        values.append(pc.mean(reference.column(column)).as_py())
    return pa.table(
        {
            "group": [*groups, ""],
            "metric_name": ["mean"] * len(groups) + ["rows"],
            "metric_value": [*values, float(production.num_rows)],
        }
    )


def as_pandas(production: pa.Table, reference: pa.Table | None) -> pd.DataFrame:
    """A pandas DataFrame with a group dimension and an integer value."""
    return pd.DataFrame(
        {
            "group": ["a", "b"],
            "group_dimension": ["zone", "zone"],
            "metric_name": ["hits", "hits"],
            "metric_value": [3, 12],
        }
    )


def as_polars(production: pa.Table, reference: pa.Table | None) -> pl.DataFrame:
    """A polars DataFrame."""
    return pl.DataFrame({"group": ["x"], "metric_name": ["score"], "metric_value": [0.25]})


def missing_column(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """No metric_value column."""
    return pa.table({"group": ["x"], "metric_name": ["score"], "value": [1.0]})


def text_values(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """metric_value holds text."""
    return pa.table({"group": ["x"], "metric_name": ["score"], "metric_value": ["high"]})


def duplicate_rows(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """The same (group, metric_name) twice."""
    return pa.table(
        {"group": ["x", "x"], "metric_name": ["score", "score"], "metric_value": [1.0, 2.0]}
    )


def not_a_table(production: pa.Table, reference: pa.Table | None) -> dict[str, float]:
    """A dict instead of a table."""
    return {"score": 1.0}


def raises(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """Fails inside."""
    raise KeyError("no column 'prompt'")


def nan_pandas(production: pa.Table, reference: pa.Table | None) -> pd.DataFrame:
    """A pandas DataFrame whose second value could not be computed (NaN)."""
    return pd.DataFrame(
        {
            "group": ["x", "y"],
            "metric_name": ["score", "score"],
            "metric_value": [0.5, float("nan")],
        }
    )


def nan_polars(production: pa.Table, reference: pa.Table | None) -> pl.DataFrame:
    """A polars DataFrame whose second value could not be computed (NaN)."""
    return pl.DataFrame(
        {
            "group": ["x", "y"],
            "metric_name": ["score", "score"],
            "metric_value": [0.5, float("nan")],
        }
    )


def nan_arrow(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """A pyarrow Table whose second value could not be computed (NaN)."""
    return pa.table(
        {
            "group": ["x", "y"],
            "metric_name": ["score", "score"],
            "metric_value": [0.5, float("nan")],
        }
    )


def null_value(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """metric_value has an empty (null) value."""
    return pa.table(
        {"group": ["x", "y"], "metric_name": ["score", "score"], "metric_value": [1.0, None]}
    )


def null_name(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """metric_name has an empty (null) value."""
    return pa.table(
        {"group": ["x", "y"], "metric_name": ["score", None], "metric_value": [1.0, 2.0]}
    )


def number_groups(production: pa.Table, reference: pa.Table | None) -> pa.Table:
    """group holds floating-point numbers instead of text."""
    return pa.table(
        {"group": [0.5, 1.5], "metric_name": ["score", "score"], "metric_value": [1.0, 2.0]}
    )
