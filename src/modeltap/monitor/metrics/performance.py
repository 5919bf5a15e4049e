"""Model performance from joined predictions and labels: classification from confusion counts,
regression from error sums.

Classification: ``accuracy = sum_c tp_c / n``; macro averages over the union of labels seen in
either column, as ``sklearn.metrics.precision_score(..., average="macro", zero_division=0)``:
``precision_c = tp_c / (tp_c + fp_c)``, ``recall_c = tp_c / (tp_c + fn_c)``,
``f1_c = 2 tp_c / (2 tp_c + fp_c + fn_c)`` (0 where undefined). Regression:
``mae = sum|e| / n``, ``mse = sum e^2 / n``, ``rmse = sqrt(mse)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["classification_metrics", "regression_metrics"]


def classification_metrics(pairs: Mapping[tuple[str, str], int]) -> dict[str, float]:
    """``accuracy``, ``precision``, ``recall``, ``f1_score`` (macro) from
    ``(actual, predicted) -> rows``; NaN for all when there is no row."""
    total = sum(pairs.values())
    if total == 0:
        return dict.fromkeys(("accuracy", "precision", "recall", "f1_score"), math.nan)
    labels = sorted({a for a, _ in pairs} | {p for _, p in pairs})
    tp = dict.fromkeys(labels, 0)
    predicted = dict.fromkeys(labels, 0)
    actual = dict.fromkeys(labels, 0)
    for (a, p), n in pairs.items():
        actual[a] += n
        predicted[p] += n
        if a == p:
            tp[a] += n
    precision = [tp[c] / predicted[c] if predicted[c] else 0.0 for c in labels]
    recall = [tp[c] / actual[c] if actual[c] else 0.0 for c in labels]
    f1 = [
        2 * tp[c] / (predicted[c] + actual[c]) if predicted[c] + actual[c] else 0.0 for c in labels
    ]
    return {
        "accuracy": sum(tp.values()) / total,
        "precision": sum(precision) / len(labels),
        "recall": sum(recall) / len(labels),
        "f1_score": sum(f1) / len(labels),
    }


def regression_metrics(
    rows: int, abs_error_sum: float, squared_error_sum: float
) -> dict[str, float]:
    """``mae``, ``mse``, ``rmse`` from the error sums; NaN for all when there is no row."""
    if rows == 0:
        return dict.fromkeys(("mae", "mse", "rmse"), math.nan)
    mse = squared_error_sum / rows
    return {"mae": abs_error_sum / rows, "mse": mse, "rmse": math.sqrt(mse)}
