"""Each signal computed from two sides: metric rows, histograms, schema changes and status.

Features are taken one at a time (value counts of one column on both sides, its metrics, then
the next), so memory holds one feature's distributions at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from modeltap.monitor.aggregates import ColumnCounts
from modeltap.monitor.definition import (
    DataQualitySignal,
    FeatureSignal,
    ModelPerformanceSignal,
    PredictionDriftSignal,
)
from modeltap.monitor.engines.base import Engine, JoinSpec, Side
from modeltap.monitor.feature_types import SchemaChanges, compatible, feature_type, type_kind
from modeltap.monitor.metrics import drift, names, performance, quality
from modeltap.monitor.source import ENVELOPE_COLUMNS

__all__ = ["SignalResult", "drift_signal", "performance_signal", "quality_signal"]

TOP_CATEGORIES = 100
OTHER = "__other__"


@dataclass
class SignalResult:
    """What one signal produced."""

    name: str
    type: str
    status: str = "ok"
    rows: list[dict[str, Any]] = field(default_factory=list)
    histograms: list[dict[str, Any]] = field(default_factory=list)
    schema_changes: SchemaChanges | None = None
    no_data_features: list[str] = field(default_factory=list)
    error: str | None = None
    production_rows: int = 0
    reference_rows: int = 0
    alert_enabled: bool = True

    def add(
        self,
        feature: str,
        data_type: str,
        metric: str,
        value: float | None,
        threshold: float | None,
        baseline: float | None = None,
        compare_to: float | None = None,
    ) -> None:
        """One metric row; breached by the metric's direction against ``compare_to`` (default:
        the threshold)."""
        limit = threshold if compare_to is None else compare_to
        self.rows.append(
            {
                "feature_name": feature,
                "data_type": data_type,
                "metric_name": metric,
                "metric_value": math.nan if value is None else float(value),
                "threshold_value": None if limit is None else float(limit),
                "breached": names.breached(metric, value, limit),
                "baseline_value": baseline,
                "group": feature,
                "group_dimension": "",
            }
        )

    def add_row_count(self) -> None:
        """The signal-level ``row_count`` row: production's rows (the reference's are in the
        ``reference_row_count`` column of every row; a row count never breaches)."""
        self.add("", "", "row_count", float(self.production_rows), None)

    @property
    def breached(self) -> bool:
        """Whether any row breached."""
        return any(row["breached"] for row in self.rows)

    def finish(self) -> SignalResult:
        """Set the status from the rows (unless failed or without data)."""
        if self.status == "ok" and self.breached:
            self.status = "breached"
        return self

    def message(self) -> str | None:
        """The platform's alert text for a breached signal."""
        if self.status != "breached":
            return None
        lines = [
            f"The signal '{self.name}' has failed due to one or more features violating "
            "metric thresholds."
        ]
        for row in self.rows:
            if row["breached"]:
                lines.append(
                    f"feature: {row['feature_name'] or '(signal)'}, metric: {row['metric_name']}, "
                    f"value: {row['metric_value']:.6g}, threshold: {row['threshold_value']:.6g}"
                )
        return "\n".join(lines)


def _features(
    signal: FeatureSignal, reference: Side, production: Side, exclude: Iterable[str]
) -> list[str]:
    skip = set(ENVELOPE_COLUMNS) | set(exclude)
    if signal.features == "all_features":
        return [c for c in reference.schema if c not in skip]
    if not isinstance(signal.features, list):  # the runner resolves top-N to a list first
        raise TypeError("top_n_feature_importance must be resolved to a list of features")
    return list(signal.features)


def _excluded(signal: FeatureSignal) -> list[str]:
    reference = signal.reference_data
    columns = reference.data_column_names if reference is not None else None
    return [columns.target_column] if columns is not None and columns.target_column else []


def _numbers(counts: ColumnCounts) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Distinct numbers and counts (text converted; what does not convert is left out)."""
    kind = type_kind(counts.type)
    if kind in ("integer", "float", "decimal", "boolean"):
        return counts.numbers(), counts.counts
    numbers = pd.to_numeric(pd.Series(counts.values.to_pylist(), dtype=object), errors="coerce")
    frame = pd.DataFrame({"v": np.asarray(numbers, dtype=np.float64), "n": counts.counts})
    grouped = frame.dropna().groupby("v", sort=True)["n"].sum()
    return grouped.index.to_numpy(np.float64), grouped.to_numpy(np.int64)


def _categories(counts: ColumnCounts) -> dict[str, int]:
    out: dict[str, int] = {}
    for text, n in zip(counts.texts(), counts.counts.tolist(), strict=True):
        out[text] = out.get(text, 0) + int(n)
    return out


def _typed(
    name: str,
    signal: FeatureSignal,
    reference: ColumnCounts,
    production: ColumnCounts,
    changes: SchemaChanges,
) -> str | None:
    """The feature's data type, or None when it is not compared (recorded in ``changes``)."""
    override = signal.feature_type_override
    typing_side = reference if not pa.types.is_null(reference.type) else production
    data_type = feature_type(
        name,
        typing_side,
        override.categorical if override else (),
        override.numerical if override else (),
    )
    if data_type is None:
        if not pa.types.is_null(typing_side.type):
            changes.unmonitored.append(
                {"feature": name, "reason": f"type {typing_side.type} is not monitored"}
            )
        return None
    verdict = compatible(reference.type, production.type, data_type)
    if verdict != "same":
        changes.retype(name, reference.type, production.type)
    return None if verdict == "incompatible" else data_type


def _feature_signal(
    name: str, kind: str, signal: FeatureSignal, reference: Side, production: Side
) -> tuple[SignalResult, Iterator[tuple[str, str, ColumnCounts, ColumnCounts]]]:
    """A feature signal's result (schema changes, row count) and its features to compute: none
    when a side has no rows (status ``no_data``)."""
    result = SignalResult(
        name, kind, production_rows=production.rows, reference_rows=reference.rows
    )
    features = _features(signal, reference, production, _excluded(signal))
    changes = SchemaChanges.of_columns(
        [c for c in reference.schema if c not in ENVELOPE_COLUMNS],
        [c for c in production.schema if c not in ENVELOPE_COLUMNS],
        features,
    )
    result.schema_changes = changes
    result.add_row_count()
    if production.rows == 0 or reference.rows == 0:
        result.status = "no_data"
        return result, iter(())
    return result, _typed_features(result, signal, features, changes, reference, production)


def _typed_features(
    result: SignalResult,
    signal: FeatureSignal,
    features: list[str],
    changes: SchemaChanges,
    reference: Side,
    production: Side,
) -> Iterator[tuple[str, str, ColumnCounts, ColumnCounts]]:
    """Each feature that can be monitored, with its data type and both sides' value counts,
    one at a time; the others are noted in the result (schema changes, no data)."""
    for feature in features:
        if feature not in reference.schema:
            changes.unmonitored.append({"feature": feature, "reason": "not in the reference"})
            continue
        if feature in changes.missing:
            continue
        ref_counts, prod_counts = reference.counts(feature), production.counts(feature)
        if pa.types.is_null(ref_counts.type) and pa.types.is_null(prod_counts.type):
            result.no_data_features.append(feature)  # no value anywhere: no type either
            continue
        data_type = _typed(feature, signal, ref_counts, prod_counts, changes)
        if data_type is not None:
            yield feature, data_type, ref_counts, prod_counts


def drift_signal(
    name: str, signal: FeatureSignal, reference: Side, production: Side
) -> SignalResult:
    """Data or prediction drift: every selected feature's metrics and histogram."""
    kind = "prediction_drift" if isinstance(signal, PredictionDriftSignal) else "data_drift"
    result, typed = _feature_signal(name, kind, signal, reference, production)
    for feature, data_type, ref_counts, prod_counts in typed:
        thresholds = signal.thresholds(data_type)
        if data_type == "numerical":
            b, bc = _numbers(ref_counts)
            p, pc = _numbers(prod_counts)
            if bc.sum() == 0 or pc.sum() == 0:
                _no_data(result, feature, data_type, thresholds)
                continue
            bins = drift.numerical_bins(b, bc, p, pc)
            for metric, threshold in thresholds.items():
                value = drift.numerical_metric(metric, bins, b, bc, p, pc)
                result.add(feature, data_type, metric, value, threshold)
            for index in range(len(bins.reference)):
                result.histograms.append(
                    {
                        "signal_name": name,
                        "feature_name": feature,
                        "data_type": data_type,
                        "bin": index,
                        "lower_bound": float(bins.edges[index]),
                        "upper_bound": float(bins.edges[index + 1]),
                        "category": None,
                        "reference_count": int(bins.reference[index]),
                        "production_count": int(bins.production[index]),
                    }
                )
        else:
            ref_map, prod_map = _categories(ref_counts), _categories(prod_counts)
            if not ref_map or not prod_map:
                _no_data(result, feature, data_type, thresholds)
                continue
            cats = drift.categories(ref_map, prod_map)
            for metric, threshold in thresholds.items():
                value = drift.categorical_metric(metric, cats)
                result.add(feature, data_type, metric, value, threshold)
            result.histograms.extend(_category_histogram(name, feature, cats))
    return result.finish()


def _no_data(
    result: SignalResult, feature: str, data_type: str, thresholds: dict[str, float]
) -> None:
    result.no_data_features.append(feature)
    for metric, threshold in thresholds.items():
        result.add(feature, data_type, metric, None, threshold)


def _category_histogram(signal: str, feature: str, cats: drift.Categories) -> list[dict[str, Any]]:
    order = np.argsort(-(cats.reference + cats.production), kind="stable")
    keep, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    rows = [(cats.names[i], int(cats.reference[i]), int(cats.production[i])) for i in keep.tolist()]
    if len(rest):
        rows.append((OTHER, int(cats.reference[rest].sum()), int(cats.production[rest].sum())))
    return [
        {
            "signal_name": signal,
            "feature_name": feature,
            "data_type": "categorical",
            "bin": index,
            "lower_bound": None,
            "upper_bound": None,
            "category": category,
            "reference_count": ref,
            "production_count": prod,
        }
        for index, (category, ref, prod) in enumerate(rows)
    ]


def quality_signal(
    name: str, signal: DataQualitySignal, reference: Side, production: Side
) -> SignalResult:
    """Data quality: each feature's null, type-error and out-of-bounds rates, typed from the
    reference, against the reference's rates plus the threshold."""
    result, typed = _feature_signal(name, "data_quality", signal, reference, production)
    for feature, data_type, ref_counts, prod_counts in typed:
        stats = quality.reference_statistics(ref_counts, data_type)
        base = quality.quality_counts(ref_counts, stats)
        prod = quality.quality_counts(prod_counts, stats)
        pairs = {
            "null_value_rate": (prod.nulls, base.nulls),
            "data_type_error_rate": (prod.type_errors, base.type_errors),
            "out_of_bounds_rate": (prod.out_of_bounds, base.out_of_bounds),
        }
        for metric, threshold in signal.thresholds(data_type).items():
            count, base_count = pairs[metric]
            value = quality.rate(count, prod.rows)
            baseline = quality.rate(base_count, base.rows)
            result.add(feature, data_type, metric, value, baseline + threshold, baseline)
    return result.finish()


def performance_signal(
    name: str, signal: ModelPerformanceSignal, engine: Engine, labels: Side, production: Side
) -> SignalResult:
    """Model performance: predictions joined with ground truth; quality metrics breach below
    their threshold, error metrics above."""
    result = SignalResult(
        name, "model_performance", production_rows=production.rows, reference_rows=labels.rows
    )
    assert signal.production_data is not None and signal.reference_data is not None
    p_columns = signal.production_data.data_column_names
    l_columns = signal.reference_data.data_column_names
    assert p_columns is not None and l_columns is not None
    spec = JoinSpec(
        prediction=str(p_columns.prediction),
        actual=str(l_columns.actual),
        prediction_key=p_columns.correlation_id,
        label_key=l_columns.correlation_id,
        task=signal.task,
    )
    result.add_row_count()
    if production.rows == 0:
        result.add("", "", "labelled_row_count", 0.0, None)
        result.status = "no_data"
        return result
    joined = engine.labelled(production, labels, spec)
    result.add("", "", "labelled_row_count", float(joined.labelled_rows), None)
    if joined.labelled_rows == 0:
        result.status = "no_data"
        return result
    if signal.task == "classification":
        values = performance.classification_metrics(joined.pairs)
    else:
        values = performance.regression_metrics(
            joined.labelled_rows, joined.abs_error_sum, joined.squared_error_sum
        )
    for metric, threshold in signal.thresholds().items():
        result.add("", "", metric, values[metric], threshold)
    return result.finish()
