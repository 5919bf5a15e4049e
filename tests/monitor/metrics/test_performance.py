"""Model-performance metrics from confusion counts and error sums agree with scikit-learn."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from sklearn import metrics

from modeltap.monitor.metrics.performance import classification_metrics, regression_metrics


def test_classification_against_sklearn() -> None:
    """Accuracy and macro precision/recall/F1, including a label never predicted."""
    actual = ["a", "a", "b", "b", "b", "c", "c", "a", "b", "c"]
    predicted = ["a", "b", "b", "b", "a", "a", "a", "a", "b", "a"]
    values = classification_metrics(Counter(zip(actual, predicted, strict=True)))
    assert values["accuracy"] == pytest.approx(metrics.accuracy_score(actual, predicted))
    for name, function in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1_score", metrics.f1_score),
    ):
        expected = function(actual, predicted, average="macro", zero_division=0)
        assert values[name] == pytest.approx(expected), name


def test_classification_empty() -> None:
    """No labelled row: every metric NaN (never a breach)."""
    assert all(math.isnan(v) for v in classification_metrics({}).values())


def test_regression_against_sklearn() -> None:
    """MAE, MSE and RMSE from the sums."""
    actual = np.array([1.0, 2.5, 3.0, 7.0])
    predicted = np.array([1.5, 2.0, 3.5, 5.0])
    errors = predicted - actual
    values = regression_metrics(4, float(np.abs(errors).sum()), float((errors**2).sum()))
    assert values["mae"] == pytest.approx(metrics.mean_absolute_error(actual, predicted))
    assert values["mse"] == pytest.approx(metrics.mean_squared_error(actual, predicted))
    assert values["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(actual, predicted)))
    assert all(math.isnan(v) for v in regression_metrics(0, 0.0, 0.0).values())
