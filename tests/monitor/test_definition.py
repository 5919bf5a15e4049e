"""The monitor definition: the platform's YAML loads, and every problem fails at load time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from modeltap.errors import ConfigError, MonitorDefinitionError
from modeltap.monitor import load
from modeltap.monitor.definition import (
    DataDriftSignal,
    DataQualitySignal,
    InputRef,
    ModelPerformanceSignal,
    PredictionDriftSignal,
    parse_input_path,
)

PLATFORM_YAML = """
name: credit-monitor
trigger:
  type: recurrence
  frequency: day
  interval: 1
  schedule: {hours: 3, minutes: 15}
create_monitor:
  monitoring_target:
    ml_task: classification
    endpoint_deployment_id: azureml:credit-endpoint:blue
  monitoring_signals:
    data-drift:
      type: data_drift
      production_data:
        input_data: {path: azureml:credit-endpoint-blue-model_inputs:1, type: uri_folder}
        data_context: model_inputs
        data_window: {lookback_window_size: P7D, lookback_window_offset: P0D}
      reference_data:
        input_data: {path: azureml:credit-training:1, type: mltable}
        data_context: training
        data_column_names: {target_column: default}
      features: all_features
      feature_type_override: {categorical: [zip_code]}
      metric_thresholds:
        numerical: {jensen_shannon_distance: 0.01}
        categorical: {pearsons_chi_squared_test: 0.02}
      alert_enabled: true
    data-quality:
      type: data_quality
      production_data:
        input_data: {path: credit-endpoint-blue-model_inputs, type: uri_folder}
      reference_data:
        input_data: {path: ./training/credit.parquet, type: uri_file}
      metric_thresholds:
        numerical: {null_value_rate: 0.05}
        categorical: {out_of_bounds_rate: 0.03}
  alert_notification:
    emails: [ops@example.com]
"""

BASE: dict[str, Any] = {
    "name": "m",
    "trigger": {"type": "recurrence", "frequency": "day", "interval": 1},
    "create_monitor": {
        "monitoring_signals": {
            "drift": {
                "type": "data_drift",
                "production_data": {"input_data": {"path": "ep-dep-model_inputs"}},
                "reference_data": {"input_data": {"path": "training.parquet"}},
            }
        }
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """BASE with ``value`` set at the dotted ``path``."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


def _error(data: dict[str, Any]) -> str:
    """The load error's message."""
    with pytest.raises(MonitorDefinitionError) as info:
        load(data)
    return str(info.value)


def test_platform_yaml_loads(tmp_path: Path) -> None:
    """The platform's documented YAML loads with its thresholds, features and paths."""
    path = tmp_path / "monitor.yaml"
    path.write_text(PLATFORM_YAML)
    definition = load(path)
    drift = definition.signals["data-drift"]
    assert isinstance(drift, DataDriftSignal)
    assert drift.thresholds("numerical") == {"jensen_shannon_distance": 0.01}
    assert drift.thresholds("categorical") == {"pearsons_chi_squared_test": 0.02}
    assert drift.feature_type_override is not None
    assert drift.feature_type_override.categorical == ["zip_code"]
    assert drift.production_data is not None
    assert drift.production_data.input_data.ref == InputRef(
        "asset", "credit-endpoint-blue-model_inputs", "1"
    )
    quality = definition.signals["data-quality"]
    assert isinstance(quality, DataQualitySignal)
    assert quality.thresholds("numerical") == {"null_value_rate": 0.05}
    assert quality.reference_data is not None
    assert quality.reference_data.input_data.ref.kind == "path"
    assert definition.create_monitor.alert_notification is not None
    assert definition.create_monitor.alert_notification.emails == ["ops@example.com"]


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    """A monitor file with an alias (a billion-laughs file) fails at the alias, naming the file."""
    path = tmp_path / "laughs.yaml"
    path.write_text('name: m\na: &a ["lol", "lol"]\nb: [*a, *a]\n')
    with pytest.raises(MonitorDefinitionError, match=r"laughs\.yaml line 3 .*alias"):
        load(path)


def test_out_of_box_monitor() -> None:
    """No signals + a deployment: data drift, prediction drift and data quality, defaults."""
    definition = load(
        {
            "name": "oob",
            "create_monitor": {
                "monitoring_target": {"endpoint_deployment_id": "azureml:credit:blue"}
            },
        }
    )
    signals = definition.signals
    assert list(signals) == ["data-drift-signal", "prediction-drift-signal", "data-quality-signal"]
    assert isinstance(signals["prediction-drift-signal"], PredictionDriftSignal)
    paths = {}
    for name, signal in signals.items():
        assert not isinstance(signal, ModelPerformanceSignal)
        assert signal.production_data is not None and signal.reference_data is None
        paths[name] = signal.production_data.input_data.path
    assert paths == {
        "data-drift-signal": "credit-blue-model_inputs",
        "prediction-drift-signal": "credit-blue-model_outputs",
        "data-quality-signal": "credit-blue-model_inputs",
    }
    drift = signals["data-drift-signal"]
    assert not isinstance(drift, ModelPerformanceSignal)
    assert drift.thresholds("numerical") == {"normalized_wasserstein_distance": 0.1}
    assert drift.thresholds("categorical") == {"jensen_shannon_distance": 0.1}
    quality = signals["data-quality-signal"]
    assert not isinstance(quality, ModelPerformanceSignal)
    assert quality.thresholds("categorical") == {
        "null_value_rate": 0.0,
        "data_type_error_rate": 0.0,
        "out_of_bounds_rate": 0.0,
    }
    assert drift.features == "all_features"


def test_modeltap_deployment_id_and_destination() -> None:
    """``ENDPOINT:DEPLOYMENT`` works without the prefix; ``destination`` is a top-level key."""
    definition = load(
        {
            "name": "oob",
            "destination": "s3://bucket/data",
            "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "ep:dep"}},
        }
    )
    assert definition.destination == "s3://bucket/data"
    assert definition.create_monitor.monitoring_target is not None
    assert definition.create_monitor.monitoring_target.endpoint_deployment == ("ep", "dep")


def test_chi_squared_alias() -> None:
    """``chi_squared_test`` is read as ``pearsons_chi_squared_test``."""
    data = _with(
        "create_monitor.monitoring_signals.drift.metric_thresholds",
        {"categorical": {"chi_squared_test": 0.05}},
    )
    signal = load(data).signals["drift"]
    assert not isinstance(signal, ModelPerformanceSignal)
    assert signal.thresholds("categorical") == {"pearsons_chi_squared_test": 0.05}
    assert signal.thresholds("numerical") == {"normalized_wasserstein_distance": 0.1}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("ep-dep-model_inputs", InputRef("asset", "ep-dep-model_inputs")),
        ("credit:3", InputRef("asset", "credit", "3")),
        ("credit@latest", InputRef("asset", "credit")),
        ("azureml:credit:3", InputRef("asset", "credit", "3")),
        ("azureml:credit@latest", InputRef("asset", "credit")),
        ("s3://bucket/ep/dep/model_inputs", InputRef("path", "s3://bucket/ep/dep/model_inputs")),
        ("/data/ep/dep/model_inputs", InputRef("path", "/data/ep/dep/model_inputs")),
        ("train.parquet", InputRef("path", "train.parquet")),
        ("train.csv", InputRef("path", "train.csv")),
        ("./train", InputRef("path", "./train")),
    ],
)
def test_input_paths(path: str, expected: InputRef) -> None:
    """Every accepted form of ``input_data.path``."""
    assert parse_input_path(path) == expected


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("trigerr", 1, "(top level): unknown key 'trigerr': did you mean 'trigger'?"),
        ("name", "bad name", "name: 'bad name' cannot name a monitor"),
        (
            "trigger.frequency",
            "daily",
            "trigger.frequency: Input should be 'minute', 'hour', 'day', 'week' or 'month'; "
            "got 'daily'",
        ),
        ("trigger.interval", 0, "trigger.interval: Input should be greater than or equal to 1"),
        (
            "trigger.type",
            "weekly",
            "trigger: type 'weekly' is not allowed: use one of 'recurrence', 'cron'",
        ),
        (
            "trigger",
            {"type": "cron", "expression": "15 3 *"},
            "trigger.expression: '15 3 *' is not a cron expression",
        ),
        (
            "create_monitor.monitoring_signals.drift.type",
            "data_drif",
            "create_monitor.monitoring_signals.drift.type: 'data_drif' is not a signal type: "
            "did you mean 'data_drift'? allowed: data_drift, prediction_drift, data_quality, "
            "model_performance",
        ),
        (
            "create_monitor.monitoring_signals.drift.type",
            "custom",
            "create_monitor.monitoring_signals.drift.component: required key missing",
        ),
        (
            "create_monitor.monitoring_signals.drift.features",
            {"top_n_feature_importance": 0},
            "create_monitor.monitoring_signals.drift.features: top_n_feature_importance: 0 is "
            "not a number of features (1 or more)",
        ),
        (
            "create_monitor.monitoring_signals.drift.features",
            {"top_n_feature_importance": 3, "extra": 1},
            "unknown key 'extra' next to top_n_feature_importance",
        ),
        (
            "create_monitor.monitoring_signals.drift.features",
            "age",
            "create_monitor.monitoring_signals.drift.features: 'age' is not a feature selection",
        ),
        (
            "create_monitor.monitoring_signals.drift.metric_thresholds",
            {"numerical": {"jensen_shannon": 0.1}},
            "create_monitor.monitoring_signals.drift.metric_thresholds.numerical: unknown metric "
            "'jensen_shannon' for a data_drift signal: did you mean 'jensen_shannon_distance'?",
        ),
        (
            "create_monitor.monitoring_signals.drift.metric_thresholds",
            {"categorical": {"normalized_wasserstein_distance": 0.1}},
            "metric_thresholds.categorical: unknown metric 'normalized_wasserstein_distance'",
        ),
        (
            "create_monitor.monitoring_signals.drift.metric_thresholds",
            {"numerical": {"jensen_shannon_distance": "high"}},
            "metric_thresholds.numerical.jensen_shannon_distance: 'high' is not a number",
        ),
        (
            "create_monitor.monitoring_signals.drift.metric_thresholds",
            {"numerica": {"jensen_shannon_distance": 0.1}},
            "metric_thresholds: unknown key 'numerica': did you mean 'numerical'?",
        ),
        (
            "create_monitor.monitoring_signals.drift.production_data.data_window",
            {"lookback_window_size": "7 days"},
            "production_data.data_window.lookback_window_size: '7 days' is not an ISO 8601 "
            "duration",
        ),
        (
            "create_monitor.monitoring_signals.drift.production_data.data_window",
            {"lookback_window_size": "P0D"},
            "lookback_window_size: 'P0D' is empty",
        ),
        (
            "create_monitor.monitoring_signals.drift.production_data.data_window",
            {"lookback_window_sise": "P7D"},
            "production_data.data_window: unknown key 'lookback_window_sise': did you mean "
            "'lookback_window_size'?",
        ),
        (
            "create_monitor.monitoring_signals.drift.production_data.data_window",
            {"window_start": "2024-01-01", "window_end": "2024-01-02"},
            "production_data.data_window: production data takes lookback_window_size",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.data_window",
            {"window_start": "2024-01-02", "window_end": "2024-01-01"},
            "reference_data.data_window: window_start 2024-01-02 is not before window_end",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.data_window",
            {"window_start": "yesterday", "window_end": "2024-01-01"},
            "reference_data.data_window.window_start: the time 'yesterday' is not a time",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.input_data",
            {"path": "azureml:credit"},
            "reference_data.input_data.path: 'azureml:credit' is not a data asset reference: "
            "use azureml:NAME:VERSION or azureml:NAME@latest",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.input_data",
            {"path": "azureml://datastores/x/paths/y"},
            "is a platform datastore URI",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.input_data",
            {"path": "x", "type": "folder"},
            "reference_data.input_data.type: Input should be 'uri_folder', 'uri_file' or "
            "'mltable'; got 'folder'",
        ),
        (
            "create_monitor.monitoring_signals.drift.reference_data.data_context",
            "train",
            "reference_data.data_context: Input should be 'model_inputs'",
        ),
        (
            "create_monitor.monitoring_signals.drift.alert_enabled",
            "sometimes",
            "create_monitor.monitoring_signals.drift.alert_enabled: Input should be a valid "
            "boolean",
        ),
        (
            "create_monitor.monitoring_target",
            {"endpoint_deployment_id": "azureml:credit"},
            "create_monitor.monitoring_target.endpoint_deployment_id: 'azureml:credit' is not a "
            "deployment",
        ),
        (
            "create_monitor.monitoring_target",
            {"ml_task": "ranking"},
            "create_monitor.monitoring_target.ml_task: Input should be 'classification' or "
            "'regression'; got 'ranking'",
        ),
        (
            "create_monitor.alert_notification",
            {"email": ["a@b.c"]},
            "create_monitor.alert_notification: unknown key 'email': did you mean 'emails'?",
        ),
    ],
)
def test_bad_definitions(path: str, value: Any, expected: str) -> None:
    """Each bad key fails at load with the key path, the bad value and what is allowed."""
    message = _error(_with(path, value))
    assert message.startswith("invalid monitor definition (mapping): ")
    assert expected in message


def test_missing_signals_without_deployment() -> None:
    """No signals and no deployment: nothing to monitor, said so."""
    message = _error({"name": "m", "create_monitor": {}})
    assert "no monitoring_signals: list some, or give monitoring_target.endpoint_deployment_id" in (
        message
    )


def test_signal_without_production_data_or_deployment() -> None:
    """A signal with no production data needs a deployment to find its collected data."""
    data = copy.deepcopy(BASE)
    del data["create_monitor"]["monitoring_signals"]["drift"]["production_data"]
    assert "create_monitor.monitoring_signals.drift: no production_data" in _error(data)


def test_missing_required_keys() -> None:
    """A missing ``name`` or ``create_monitor`` is named."""
    message = _error({"trigger": {"type": "cron", "expression": "0 * * * *"}})
    assert "name: required key missing" in message
    assert "create_monitor: required key missing" in message


MODEL_PERFORMANCE: dict[str, Any] = {
    "type": "model_performance",
    "production_data": {
        "input_data": {"path": "ep-dep-model_outputs"},
        "data_column_names": {"prediction": "label"},
    },
    "reference_data": {
        "input_data": {"path": "ep-dep-ground_truth"},
        "data_context": "ground_truth",
        "data_column_names": {"actual": "label"},
    },
    "metric_thresholds": {"classification": {"accuracy": 0.9, "f1_score": 0.8}},
}


def test_model_performance_loads() -> None:
    """A model-performance signal with its columns and thresholds."""
    data = _with("create_monitor.monitoring_signals.perf", MODEL_PERFORMANCE)
    signal = load(data).signals["perf"]
    assert isinstance(signal, ModelPerformanceSignal)
    assert signal.task == "classification"
    assert signal.thresholds() == {"accuracy": 0.9, "f1_score": 0.8}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"metric_thresholds": {"classification": {"mae": 1.0}}},
            "perf.metric_thresholds.classification: unknown metric 'mae' for a "
            "model_performance signal",
        ),
        (
            {"metric_thresholds": {"classification": {"accuracy": 0.9}, "regression": {"mae": 1}}},
            "give thresholds for one task",
        ),
        ({"metric_thresholds": None}, "needs metric_thresholds"),
        (
            {"production_data": {"input_data": {"path": "x"}}},
            "needs production_data.data_column_names.prediction",
        ),
        (
            {"reference_data": {"input_data": {"path": "x"}}},
            "needs reference_data.data_column_names.actual",
        ),
    ],
)
def test_bad_model_performance(change: dict[str, Any], expected: str) -> None:
    """Model performance needs its columns and one task's thresholds."""
    signal = {**MODEL_PERFORMANCE, **change}
    message = _error(_with("create_monitor.monitoring_signals.perf", signal))
    assert "create_monitor.monitoring_signals.perf" in message
    assert expected in message


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    """Unreadable files, bad YAML and bad keys name the file; the error is a ConfigError."""
    missing = tmp_path / "absent.yaml"
    with pytest.raises(MonitorDefinitionError, match="cannot read the monitor definition"):
        load(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: m\ncreate_monitor: [unclosed\n")
    with pytest.raises(MonitorDefinitionError, match=r"broken\.yaml line \d+ column \d+"):
        load(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(MonitorDefinitionError, match="the top level must be a mapping"):
        load(listed)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: m\ncreate_monitor: {monitoring_target: {ml_tsk: regression}}\n")
    with pytest.raises(ConfigError) as info:
        load(bad)
    assert str(info.value) == (
        f"invalid monitor definition {bad}: create_monitor.monitoring_target: unknown key "
        "'ml_tsk': did you mean 'ml_task'? allowed: endpoint_deployment_id, ml_task, model_id"
    )


def test_example_monitor_loads() -> None:
    """The example monitor in examples/monitor/ is valid."""
    path = Path(__file__).resolve().parents[2] / "examples" / "monitor" / "monitor.yaml"
    definition = load(path)
    assert list(definition.signals) == ["data-drift", "prediction-drift", "data-quality"]
    drift = definition.signals["data-drift"]
    assert isinstance(drift, DataDriftSignal) and drift.reference_data is None


def test_model_performance_task_matches_ml_task() -> None:
    """Regression thresholds on a classification target are refused at load."""
    data = _with("create_monitor.monitoring_signals.perf", MODEL_PERFORMANCE)
    data["create_monitor"]["monitoring_target"] = {"ml_task": "regression"}
    assert (
        "create_monitor.monitoring_signals.perf.metric_thresholds: thresholds for classification "
        "but monitoring_target.ml_task is regression: use regression metrics (mae, mse, rmse)"
    ) in _error(data)
