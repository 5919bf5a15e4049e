"""The attribution parts of a monitor definition: feature_attribution_drift and top-N."""

from __future__ import annotations

from typing import Any

import pytest

from modeltap.errors import MonitorDefinitionError
from modeltap.monitor import load
from modeltap.monitor.definition import (
    DataQualitySignal,
    FeatureAttributionDriftSignal,
    InputRef,
    TopNFeatures,
)

SIDES: dict[str, Any] = {
    "production_data": {"input_data": {"path": "./inputs.parquet"}},
    "reference_data": {
        "input_data": {"path": "./training.parquet"},
        "data_column_names": {"target_column": "default"},
    },
}


def _load(signal: dict[str, Any]) -> Any:
    """Load a monitor with this one signal and return it."""
    return load({"name": "m", "create_monitor": {"monitoring_signals": {"s": signal}}}).signals["s"]


def test_attribution_signal_loads_with_defaults() -> None:
    """The platform's shape loads; the NDCG threshold defaults to 0.9."""
    signal = _load({"type": "feature_attribution_drift", **SIDES})
    assert isinstance(signal, FeatureAttributionDriftSignal)
    assert signal.thresholds() == {"normalized_discounted_cumulative_gain": 0.9}
    assert signal.target_column == "default"
    given = _load(
        {
            "type": "feature_attribution_drift",
            **SIDES,
            "metric_thresholds": {"normalized_discounted_cumulative_gain": 0.8},
            "features": {"top_n_feature_importance": 5},
        }
    )
    assert given.thresholds() == {"normalized_discounted_cumulative_gain": 0.8}
    assert given.features == TopNFeatures(top_n_feature_importance=5)


def test_top_n_in_any_feature_signal() -> None:
    """top_n_feature_importance is accepted by data quality (and drift) with a target."""
    signal = _load({"type": "data_quality", **SIDES, "features": {"top_n_feature_importance": 3}})
    assert isinstance(signal, DataQualitySignal)
    assert signal.features == TopNFeatures(top_n_feature_importance=3)


@pytest.mark.parametrize(
    ("signal", "message"),
    [
        (
            {"type": "feature_attribution_drift", "reference_data": SIDES["reference_data"]},
            "s: no production_data, and no monitoring_target.endpoint_deployment_id",
        ),
        (
            {
                "type": "feature_attribution_drift",
                "production_data": SIDES["production_data"],
                "reference_data": {"input_data": {"path": "./training.parquet"}},
            },
            "needs reference_data with data_column_names.target_column",
        ),
        (
            {
                "type": "feature_attribution_drift",
                **SIDES,
                "metric_thresholds": {"ndcg": 0.9},
            },
            "s.metric_thresholds: unknown metric 'ndcg' for a feature_attribution_drift signal",
        ),
        (
            {
                "type": "feature_attribution_drift",
                **SIDES,
                "metric_thresholds": {"normalized_discounted_cumulative_gain": "high"},
            },
            "'high' is not a number",
        ),
        (
            {
                "type": "data_drift",
                "production_data": SIDES["production_data"],
                "features": {"top_n_feature_importance": 3},
            },
            "s.features: top_n_feature_importance needs reference_data with "
            "data_column_names.target_column",
        ),
        (
            {"type": "data_drift", **SIDES, "features": {"top_n_feature_importance": "ten"}},
            "top_n_feature_importance: 'ten' is not a number of features",
        ),
    ],
)
def test_load_time_errors(signal: dict[str, Any], message: str) -> None:
    """Each problem is a load-time error naming the key."""
    with pytest.raises(MonitorDefinitionError) as info:
        _load(signal)
    assert message in str(info.value)


def test_default_production_is_inputs_joined_with_outputs() -> None:
    """Without production_data, the deployment's model_inputs joined with its model_outputs
    (the platform's default); an explicit production_data joins nothing."""
    definition = load(
        {
            "name": "m",
            "create_monitor": {
                "monitoring_target": {"endpoint_deployment_id": "azureml:credit:blue"},
                "monitoring_signals": {
                    "s": {
                        "type": "feature_attribution_drift",
                        "reference_data": SIDES["reference_data"],
                    },
                    "t": {"type": "feature_attribution_drift", **SIDES},
                },
            },
        }
    )
    signal = definition.signals["s"]
    assert isinstance(signal, FeatureAttributionDriftSignal)
    assert signal.production_data is not None
    assert signal.production_data.input_data.path == "credit-blue-model_inputs"
    assert signal.joined_outputs == InputRef("asset", "credit-blue-model_outputs")
    explicit = definition.signals["t"]
    assert isinstance(explicit, FeatureAttributionDriftSignal)
    assert explicit.joined_outputs is None
