"""Metric names per signal and data type, their default thresholds and breach directions."""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "ALIASES",
    "CLASSIFICATION",
    "DEFAULT_THRESHOLDS",
    "DRIFT_CATEGORICAL",
    "DRIFT_NUMERICAL",
    "LOWER_IS_WORSE",
    "QUALITY",
    "REGRESSION",
    "allowed_metrics",
    "breached",
    "canonical",
]

DRIFT_NUMERICAL: Final = (
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "population_stability_index",
    "two_sample_kolmogorov_smirnov_test",
    "chebyshev_distance",
)
DRIFT_CATEGORICAL: Final = (
    "jensen_shannon_distance",
    "population_stability_index",
    "pearsons_chi_squared_test",
    "chebyshev_distance",
)
QUALITY: Final = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")
CLASSIFICATION: Final = ("accuracy", "precision", "recall", "f1_score")
REGRESSION: Final = ("mae", "mse", "rmse")
ALIASES: Final = {"chi_squared_test": "pearsons_chi_squared_test"}

LOWER_IS_WORSE: Final = frozenset(
    {
        "two_sample_kolmogorov_smirnov_test",  # p-values: the threshold is the significance level
        "pearsons_chi_squared_test",
        "normalized_discounted_cumulative_gain",
        *CLASSIFICATION,  # quality metrics breach when they fall below the threshold
    }
)
"""Metrics that breach when ``value < threshold``; every other metric breaches when above."""

DEFAULT_THRESHOLDS: Final[dict[str, dict[str, dict[str, float]]]] = {
    "data_drift": {
        "numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1},
    },
    "prediction_drift": {
        "numerical": {"normalized_wasserstein_distance": 0.1},
        "categorical": {"jensen_shannon_distance": 0.1},
    },
    "data_quality": {
        "numerical": dict.fromkeys(QUALITY, 0.0),
        "categorical": dict.fromkeys(QUALITY, 0.0),
    },
}
"""The platform SDK's defaults; model performance has none (its thresholds are required)."""


def allowed_metrics(signal_type: str, group: str) -> tuple[str, ...]:
    """The metric names a signal type accepts under ``metric_thresholds.<group>``."""
    if signal_type in ("data_drift", "prediction_drift"):
        return {"numerical": DRIFT_NUMERICAL, "categorical": DRIFT_CATEGORICAL}.get(group, ())
    if signal_type == "data_quality":
        return QUALITY if group in ("numerical", "categorical") else ()
    if signal_type == "model_performance":
        return {"classification": CLASSIFICATION, "regression": REGRESSION}.get(group, ())
    return ()


def canonical(name: str) -> str:
    """The metric's YAML name, aliases resolved (``chi_squared_test`` ->
    ``pearsons_chi_squared_test``)."""
    return ALIASES.get(name, name)


def breached(metric: str, value: float | None, threshold: float | None) -> bool:
    """Whether ``value`` breaches ``threshold``: below it for p-values and quality metrics,
    above it for distances, PSI, rates and errors. A missing or NaN value never breaches."""
    if value is None or threshold is None or math.isnan(value):
        return False
    if metric in LOWER_IS_WORSE:
        return value < threshold
    return value > threshold
