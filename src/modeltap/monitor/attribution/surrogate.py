"""Global feature importances of a dataset: a gradient-boosting surrogate trained to predict
the target column from the features, explained by SHAP values on a held-out split.

As the platform does: LightGBM with learning rate 0.1, maximum depth 5 and 200 trees, a fixed
seed; the rows are split in half (training and held-out), the held-out half cut to 5,000 rows
when the data has more than 10,000; a feature's importance is the mean absolute SHAP value over
the held-out rows (and, for more than two classes, over the classes).

SHAP values come from LightGBM itself (``Booster.predict(..., pred_contrib=True)``): the exact
TreeSHAP algorithm (path-dependent, as ``shap.TreeExplainer`` computes it for tree models, which
for a LightGBM booster gives the same numbers: measured equal to the last bit on 2,000 rows x 5
features). The ``shap`` package is not needed: it would add numba and llvmlite (about 210 MB)
and its own release cadence for one call that LightGBM's C++ core already provides.

Deterministic: the split and the sample are seeded, LightGBM runs with ``deterministic``,
row-wise histograms and one thread (its results may otherwise depend on the thread count), so
the same data gives the same importances on every run and machine with the same versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import MonitorError
from modeltap.monitor.aggregates import ColumnCounts
from modeltap.monitor.feature_types import feature_type, type_kind

__all__ = [
    "HELD_OUT_CAP",
    "HELD_OUT_LARGE",
    "PARAMETERS",
    "SEED",
    "TRAINING_SAMPLE",
    "Importances",
    "column_counts",
    "feature_importances",
]

SEED = 42
PARAMETERS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_depth": 5,
    "num_iterations": 200,
    "seed": SEED,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
"""The surrogate's LightGBM parameters (the objective is set by the task)."""
HELD_OUT_LARGE = 10_000
HELD_OUT_CAP = 5_000
TRAINING_SAMPLE = 200_000
"""At most this many rows of a side are read for the surrogate (a seeded uniform sample), which
bounds memory and time on long windows."""


@dataclass(frozen=True)
class Importances:
    """Each feature's mean absolute SHAP value, with how they were learned."""

    values: dict[str, float]
    data_types: dict[str, str]
    task: str
    training_rows: int
    held_out_rows: int


def _lightgbm() -> Any:
    from modeltap.cli.extras import require_extra

    require_extra("attribution", "feature attribution drift and top_n_feature_importance")
    import lightgbm

    return lightgbm


def column_counts(column: pa.ChunkedArray) -> ColumnCounts:
    """Value counts of an Arrow column (NaN counted as null), for feature typing."""
    if type_kind(column.type) in ("other", "null"):
        return ColumnCounts.empty(column.type, len(column))
    valid = pc.drop_null(column)
    if pa.types.is_floating(column.type):
        valid = pc.filter(valid, pc.invert(pc.is_nan(valid)))
    counted = pc.value_counts(valid)
    values = counted.field("values")
    counts = np.asarray(counted.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64)
    return ColumnCounts(values, counts, len(column) - int(counts.sum()), column.type)


def _numbers(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    kind = type_kind(column.type)
    if kind in ("integer", "float", "decimal", "boolean"):
        as_float = pc.cast(column, pa.float64())
        return np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64)
    text = pd.Series(column.to_pylist(), dtype=object)
    return np.asarray(pd.to_numeric(text, errors="coerce"), dtype=np.float64)


def _codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.float64], int]:
    """Category codes by sorted text (null: NaN) and the number of categories."""
    text: pa.ChunkedArray | pa.Array = column
    if type_kind(column.type) != "string" or pa.types.is_dictionary(column.type):
        try:
            text = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. bytes that are not UTF-8
            text = pa.array([None if v is None else str(v) for v in column.to_pylist()])
    categories = pc.unique(pc.drop_null(text))
    categories = categories.take(pc.sort_indices(categories))
    codes = pc.index_in(text, value_set=categories)
    return (
        np.asarray(pc.cast(codes, pa.float64()).to_numpy(zero_copy_only=False), np.float64),
        len(categories),
    )


def _split(rows: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Training and held-out row positions: halves of a seeded shuffle, the held-out half cut
    to ``HELD_OUT_CAP`` rows when there are more than ``HELD_OUT_LARGE``."""
    order = np.random.default_rng(SEED).permutation(rows)
    half = rows // 2
    held_out, training = order[:half], order[half:]
    if rows > HELD_OUT_LARGE:
        held_out = held_out[:HELD_OUT_CAP]
    return np.sort(training), np.sort(held_out)


def feature_importances(
    table: pa.Table,
    features: Sequence[str],
    target: str,
    task: str | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
) -> Importances:
    """Train the surrogate on ``table`` to predict ``target`` from ``features`` and return each
    feature's global importance on the held-out split.

    ``task`` (``classification`` or ``regression``; default: categorical targets are
    classification) picks the objective; ``categorical``/``numerical`` override feature types
    as ``feature_type_override`` does. Features of types that cannot be learned from (lists,
    structs, no value) are left out. Raises MonitorError when the target is missing or fewer
    than 2 rows have one, MissingDependencyError without the attribution extra."""
    lightgbm = _lightgbm()
    if target not in table.column_names:
        raise MonitorError(
            f"no target column {target!r} (reference_data.data_column_names.target_column); "
            f"the data has: {', '.join(table.column_names) or 'no columns'}"
        )
    table = table.filter(pc.is_valid(table.column(target)))
    if pa.types.is_floating(table.schema.field(target).type):
        table = table.filter(pc.invert(pc.is_nan(table.column(target))))
    if table.num_rows < 2:
        raise MonitorError(
            f"{table.num_rows} row(s) with a value in the target column {target!r}: the "
            "surrogate model needs at least 2"
        )
    categorical, numerical = list(categorical), list(numerical)
    names: list[str] = []
    data_types: dict[str, str] = {}
    matrix: list[npt.NDArray[np.float64]] = []
    categorical_positions: list[int] = []
    for name in features:
        if name == target or name not in table.column_names:
            continue
        column = table.column(name)
        data_type = feature_type(name, column_counts(column), categorical, numerical)
        if data_type is None:
            continue
        if data_type == "categorical":
            codes, _ = _codes(column)
            categorical_positions.append(len(names))
            matrix.append(codes)
        else:
            matrix.append(_numbers(column))
        names.append(name)
        data_types[name] = data_type
    if not names:
        raise MonitorError("no feature to learn the target from (none of a usable type)")
    x = np.column_stack(matrix)
    target_column = table.column(target)
    if task is None:
        task = (
            "classification"
            if feature_type(target, column_counts(target_column)) == "categorical"
            else "regression"
        )
    parameters = dict(PARAMETERS)
    if task == "classification":
        y, classes = _codes(target_column)
        if classes < 2:
            zero = dict.fromkeys(names, 0.0)
            return Importances(zero, data_types, task, 0, 0)
        if classes == 2:
            parameters["objective"] = "binary"
        else:
            parameters.update(objective="multiclass", num_class=classes)
    else:
        y = _numbers(target_column)
        parameters["objective"] = "regression"
    training, held_out = _split(len(y))
    dataset = lightgbm.Dataset(
        x[training],
        y[training],
        feature_name=[f"f{i}" for i in range(len(names))],
        categorical_feature=categorical_positions or "auto",
        params={"verbosity": -1, "min_data_in_bin": 1},
        free_raw_data=True,
    )
    booster = lightgbm.train(parameters, dataset)
    contributions = np.asarray(booster.predict(x[held_out], pred_contrib=True), np.float64)
    width = len(names) + 1
    per_class = contributions.reshape(len(held_out), -1, width)[:, :, : len(names)]
    means = np.abs(per_class).mean(axis=(0, 1))
    values = {name: float(means[i]) for i, name in enumerate(names)}
    return Importances(values, data_types, task, len(training), len(held_out))
