"""The monitor definition: the platform's monitor YAML, validated in full when it is loaded.

Every problem is found by :func:`load`, never halfway through a run: the error names the file,
the key path (``create_monitor.monitoring_signals.drift.metric_thresholds.numerical``), the bad
value and what is allowed; an unknown key suggests the nearest known one.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modeltap.config import load_yaml_text
from modeltap.errors import MonitorDefinitionError
from modeltap.monitor.metrics import names
from modeltap.monitor.windows import parse_duration, to_utc

__all__ = [
    "AnySignal",
    "CustomSignal",
    "CustomThreshold",
    "DataDriftSignal",
    "DataQualitySignal",
    "DataWindow",
    "FeatureAttributionDriftSignal",
    "FeatureSignal",
    "InputRef",
    "ModelPerformanceSignal",
    "MonitorDefinition",
    "MonitorInput",
    "PredictionDriftSignal",
    "Signal",
    "TopNFeatures",
    "load",
    "parse_input_path",
]

SIGNAL_TYPES = (
    "data_drift",
    "prediction_drift",
    "data_quality",
    "model_performance",
    "feature_attribution_drift",
    "custom",
)
NDCG = "normalized_discounted_cumulative_gain"
DEFAULT_NDCG_THRESHOLD = 0.9
"""The platform's documented threshold for feature attribution drift (its SDK has no default)."""
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_ASSET_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]{1,255})(?::(?P<version>[A-Za-z0-9_.-]{1,255})|@latest)?$"
)
_FILE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json", ".ndjson")
_ZERO = parse_duration("P0D")


# -- input paths ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputRef:
    """Where a signal's data is: a data asset (``version`` None = latest) or a path/URL."""

    kind: Literal["asset", "path"]
    name: str
    version: str | None = None

    @property
    def ref(self) -> str:
        """``NAME:VERSION``, ``NAME`` (latest) or the path."""
        if self.kind == "asset" and self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name


def parse_input_path(path: str) -> InputRef:
    """``NAME``, ``NAME:VERSION``, ``NAME@latest``, ``azureml:NAME:VERSION``,
    ``azureml:NAME@latest``, a folder or file path, or a URL. Raises ValueError."""
    text = path.strip()
    if not text:
        raise ValueError("an empty path: give a data asset NAME[:VERSION] or a folder, file or URL")
    if text.startswith("azureml://"):
        raise ValueError(
            f"{text!r} is a platform datastore URI, which modeltap cannot read: give the data's "
            "folder or URL (s3://, az://, gs://, a local path) or a data asset NAME[:VERSION]"
        )
    if text.startswith("azureml:"):
        match = _ASSET_RE.match(text[len("azureml:") :])
        if match is None or (match["version"] is None and not text.endswith("@latest")):
            raise ValueError(
                f"{text!r} is not a data asset reference: use azureml:NAME:VERSION or "
                "azureml:NAME@latest"
            )
        return InputRef("asset", match["name"], match["version"])
    looks_like_path = (
        "://" in text
        or "/" in text
        or os.sep in text
        or text.startswith((".", "~"))
        or text.lower().endswith(_FILE_SUFFIXES)
    )
    if looks_like_path:
        return InputRef("path", text)
    match = _ASSET_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is neither a data asset (NAME, NAME:VERSION, azureml:NAME:VERSION, "
            "azureml:NAME@latest) nor a folder, file or URL"
        )
    return InputRef("asset", match["name"], match["version"])


# -- the models -------------------------------------------------------------------------------


class _At(ValueError):
    """A validation error about a key below the one being validated (``where`` is appended to
    the key path in the message)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _nearest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


class _Model(BaseModel):
    """Strict keys: an unknown key is an error that suggests the nearest known one."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        known = [f.alias or n for n, f in cls.model_fields.items()]
        known += list(cls.model_fields)
        for key in data:
            if key not in known:
                allowed = ", ".join(sorted({f.alias or n for n, f in cls.model_fields.items()}))
                raise ValueError(
                    f"unknown key {key!r}: {_nearest(str(key), known)}allowed: {allowed}"
                )
        return data


class InputData(_Model):
    """``input_data``: the path and its (informative) type."""

    path: str
    type: Literal["uri_folder", "uri_file", "mltable"] | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_input_path(value)
        return value

    @property
    def ref(self) -> InputRef:
        """The parsed path."""
        return parse_input_path(self.path)


class DataWindow(_Model):
    """``data_window``: a lookback (size, offset) or fixed bounds (reference data only)."""

    lookback_window_size: str | None = None
    lookback_window_offset: str | None = None
    window_start: str | None = None
    window_end: str | None = None

    @field_validator("lookback_window_size", "lookback_window_offset", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not an ISO 8601 duration such as P7D or PT6H")
        if parse_duration(value).total_seconds() < 0:
            raise ValueError(f"{value!r} is negative: a window size or offset is P0D or more")
        return value

    @field_validator("lookback_window_size")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value).total_seconds() == 0:
            raise ValueError(f"{value!r} is empty: a window size must be longer than P0D")
        return value

    @field_validator("window_start", "window_end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if value is None:
            return value
        to_utc(value, "the time")
        return str(value) if not isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> DataWindow:
        lookback = self.lookback_window_size is not None or self.lookback_window_offset is not None
        fixed = self.window_start is not None or self.window_end is not None
        if lookback and fixed:
            raise ValueError(
                "give either lookback_window_size/lookback_window_offset or "
                "window_start/window_end, not both"
            )
        if self.lookback_window_offset is not None and self.lookback_window_size is None:
            raise ValueError("lookback_window_offset needs lookback_window_size")
        if fixed and (self.window_start is None or self.window_end is None):
            raise ValueError("window_start and window_end go together: give both")
        if self.window_start is not None and self.window_end is not None:
            start, end = to_utc(self.window_start), to_utc(self.window_end)
            if start >= end:
                raise ValueError(
                    f"window_start {self.window_start} is not before window_end {self.window_end}"
                )
        return self


class DataColumnNames(_Model):
    """``data_column_names``: which columns hold the target, prediction, label and join key."""

    target_column: str | None = None
    prediction: str | None = None
    prediction_probability: str | None = None
    actual: str | None = None
    correlation_id: str | None = None


DataContext = Literal[
    "model_inputs", "model_outputs", "training", "test", "validation", "ground_truth"
]


class MonitorInput(_Model):
    """``production_data`` or ``reference_data``."""

    input_data: InputData
    data_context: DataContext | None = None
    data_window: DataWindow | None = None
    data_column_names: DataColumnNames | None = None


class ProductionInput(MonitorInput):
    """``production_data``: a lookback window only."""

    @field_validator("data_window")
    @classmethod
    def _lookback_only(cls, value: DataWindow | None) -> DataWindow | None:
        if value is not None and value.window_start is not None:
            raise ValueError(
                "production data takes lookback_window_size/lookback_window_offset; "
                "window_start/window_end are for reference data"
            )
        return value


class FeatureTypeOverride(_Model):
    """``feature_type_override``: features forced to a type (numerical if listed in both)."""

    categorical: list[str] = Field(default_factory=list)
    numerical: list[str] = Field(default_factory=list)


class TopNFeatures(_Model):
    """``features: {top_n_feature_importance: N}``: the N features most important on the
    reference (by the feature-attribution surrogate's importances)."""

    top_n_feature_importance: Annotated[int, Field(ge=1)]


def _features(value: Any) -> Any:
    if value is None or value == "all_features":
        return "all_features"
    if isinstance(value, TopNFeatures):
        return value
    if isinstance(value, Mapping):
        if "top_n_feature_importance" in value:
            count = value["top_n_feature_importance"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(
                    f"top_n_feature_importance: {count!r} is not a number of features (1 or more)"
                )
            others = [str(k) for k in value if k != "top_n_feature_importance"]
            if others:
                raise ValueError(
                    f"unknown key {others[0]!r} next to top_n_feature_importance: give it alone"
                )
            return TopNFeatures(top_n_feature_importance=count)
        raise ValueError(
            f"{dict(value)!r} is not a feature selection: use all_features, a list of names or "
            "{top_n_feature_importance: N}"
        )
    if isinstance(value, str):
        raise ValueError(
            f"{value!r} is not a feature selection: use all_features or a list of names "
            f"(did you mean [{value}]?)"
        )
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(
            f"{value!r} is not a feature selection: use all_features or a non-empty list of names"
        )
    return value


class _SignalBase(_Model):
    """What every signal has."""

    type: str
    alert_enabled: bool = True
    properties: dict[str, Any] | None = None


def _thresholds(signal_type: str, value: Any, groups: tuple[str, ...]) -> Any:
    if value is None:
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{value!r} is not a mapping: use {{{groups[0]}: {{metric_name: threshold}}}}"
        )
    out: dict[str, dict[str, float]] = {}
    for group, metrics in value.items():
        if group not in groups:
            raise ValueError(
                f"unknown key {group!r}: {_nearest(str(group), list(groups))}allowed: "
                f"{', '.join(groups)}"
            )
        if not isinstance(metrics, Mapping) or not metrics:
            raise _At(str(group), f"{metrics!r} is not a mapping of metric names to thresholds")
        allowed = names.allowed_metrics(signal_type, group)
        resolved: dict[str, float] = {}
        for metric, threshold in metrics.items():
            name = names.canonical(str(metric))
            if name not in allowed:
                raise _At(
                    str(group),
                    f"unknown metric {metric!r} for a {signal_type} signal: "
                    f"{_nearest(str(metric), list(allowed))}allowed: {', '.join(allowed)}",
                )
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise _At(f"{group}.{metric}", f"{threshold!r} is not a number")
            resolved[name] = float(threshold)
        out[str(group)] = resolved
    return out


class _FeatureSignal(_SignalBase):
    """A signal over features (drift, data quality)."""

    production_data: ProductionInput | None = None
    reference_data: MonitorInput | None = None
    features: list[str] | Literal["all_features"] | TopNFeatures = "all_features"
    feature_type_override: FeatureTypeOverride | None = None
    metric_thresholds: dict[str, dict[str, float]] | None = None

    kind: ClassVar[str] = ""
    default_context: ClassVar[str] = "model_inputs"

    @field_validator("features", mode="before")
    @classmethod
    def _feature_selection(cls, value: Any) -> Any:
        return _features(value)

    @model_validator(mode="after")
    def _top_n_target(self) -> _FeatureSignal:
        _check_top_n(self.features, self.reference_data)
        return self

    @property
    def target_column(self) -> str | None:
        """``reference_data.data_column_names.target_column``, when given."""
        return _target(self.reference_data)

    @field_validator("metric_thresholds", mode="before")
    @classmethod
    def _metric_thresholds(cls, value: Any) -> Any:
        return _thresholds(cls.kind, value, ("numerical", "categorical"))

    def thresholds(self, data_type: str) -> dict[str, float]:
        """The metrics to compute for ``data_type`` and their thresholds (defaults filled)."""
        given = (self.metric_thresholds or {}).get(data_type)
        if given:
            return dict(given)
        return dict(names.DEFAULT_THRESHOLDS[self.type][data_type])


def _target(reference: MonitorInput | None) -> str | None:
    columns = reference.data_column_names if reference is not None else None
    return columns.target_column if columns is not None and columns.target_column else None


def _check_top_n(features: Any, reference: MonitorInput | None) -> None:
    if isinstance(features, TopNFeatures) and _target(reference) is None:
        raise _At(
            "features",
            "top_n_feature_importance needs reference_data with "
            "data_column_names.target_column (the column the feature importances are learned "
            "to predict)",
        )


class DataDriftSignal(_FeatureSignal):
    """``type: data_drift``: model inputs against a reference."""

    type: Literal["data_drift"]
    kind: ClassVar[str] = "data_drift"


class PredictionDriftSignal(_FeatureSignal):
    """``type: prediction_drift``: model outputs against a reference."""

    type: Literal["prediction_drift"]
    kind: ClassVar[str] = "prediction_drift"
    default_context: ClassVar[str] = "model_outputs"


class DataQualitySignal(_FeatureSignal):
    """``type: data_quality``: null, data-type error and out-of-bounds rates."""

    type: Literal["data_quality"]
    kind: ClassVar[str] = "data_quality"


class ModelPerformanceSignal(_SignalBase):
    """``type: model_performance``: predictions joined with ground truth."""

    type: Literal["model_performance"]
    production_data: ProductionInput | None = None
    reference_data: MonitorInput | None = None
    metric_thresholds: dict[str, dict[str, float]] | None = None

    @field_validator("metric_thresholds", mode="before")
    @classmethod
    def _metric_thresholds(cls, value: Any) -> Any:
        value = _thresholds("model_performance", value, ("classification", "regression"))
        if value is not None and len(value) != 1:
            raise ValueError("give thresholds for one task: classification or regression, not both")
        return value

    @model_validator(mode="after")
    def _columns(self) -> ModelPerformanceSignal:
        if self.production_data is None:
            raise ValueError(
                "model_performance needs production_data (the model's outputs with the "
                "prediction column)"
            )
        if self.reference_data is None:
            raise ValueError(
                "model_performance needs reference_data (the ground truth, data_context: "
                "ground_truth, with the actual column)"
            )
        columns = self.production_data.data_column_names
        if columns is None or not columns.prediction:
            raise ValueError(
                "model_performance needs production_data.data_column_names.prediction: the "
                "column holding the model's prediction"
            )
        labels = self.reference_data.data_column_names
        if labels is None or not labels.actual:
            raise ValueError(
                "model_performance needs reference_data.data_column_names.actual: the column "
                "holding the ground truth"
            )
        if not self.metric_thresholds:
            raise ValueError(
                "model_performance needs metric_thresholds: {classification: {accuracy: 0.9}} "
                "or {regression: {mae: 1.0}} (there is no default)"
            )
        return self

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return next(iter(self.metric_thresholds or {"classification": {}}))

    def thresholds(self, data_type: str = "") -> dict[str, float]:
        """The metrics to compute and their thresholds."""
        return dict((self.metric_thresholds or {}).get(self.task, {}))


class FeatureAttributionDriftSignal(_SignalBase):
    """``type: feature_attribution_drift``: how far production's feature-importance ranking
    moved from the reference's (NDCG; a breach when it falls below the threshold)."""

    type: Literal["feature_attribution_drift"]
    production_data: ProductionInput | None = None
    reference_data: MonitorInput | None = None
    features: list[str] | Literal["all_features"] | TopNFeatures = "all_features"
    feature_type_override: FeatureTypeOverride | None = None
    metric_thresholds: dict[str, float] | None = None

    default_context: ClassVar[str] = "model_inputs"
    _outputs: InputRef | None = PrivateAttr(default=None)

    @field_validator("features", mode="before")
    @classmethod
    def _feature_selection(cls, value: Any) -> Any:
        return _features(value)

    @property
    def joined_outputs(self) -> InputRef | None:
        """The model outputs joined to the production inputs (on ``{correlationid}_{row_index}``)
        when production_data was left out: the deployment's ``model_outputs``, as the
        platform does."""
        return self._outputs

    @field_validator("metric_thresholds", mode="before")
    @classmethod
    def _metric_thresholds(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, Mapping) or not value:
            raise ValueError(f"{value!r} is not a mapping: use {{{NDCG}: 0.9}}")
        for metric, threshold in value.items():
            if metric != NDCG:
                raise ValueError(
                    f"unknown metric {metric!r} for a feature_attribution_drift signal: "
                    f"{_nearest(str(metric), [NDCG])}allowed: {NDCG}"
                )
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise _At(str(metric), f"{threshold!r} is not a number")
        return {str(k): float(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _inputs(self) -> FeatureAttributionDriftSignal:
        if _target(self.reference_data) is None:
            raise ValueError(
                "feature_attribution_drift needs reference_data with "
                "data_column_names.target_column (the column the surrogate model learns to "
                "predict; production needs the same column)"
            )
        _check_top_n(self.features, self.reference_data)
        return self

    @property
    def target_column(self) -> str | None:
        """``reference_data.data_column_names.target_column``."""
        return _target(self.reference_data)

    def thresholds(self, data_type: str = "") -> dict[str, float]:
        """The NDCG threshold (default 0.9, the platform's documented value)."""
        return dict(self.metric_thresholds or {NDCG: DEFAULT_NDCG_THRESHOLD})


class CustomThreshold(_Model):
    """One ``metric_thresholds`` entry of a custom signal."""

    metric_name: str
    threshold: float
    higher_is_worse: bool = True

    @field_validator("threshold", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        return value


class CustomSignal(_SignalBase):
    """``type: custom``: ``component`` (``"package.module:function"``) is called as
    ``function(production, reference, **params)`` with each side's rows as ``pyarrow.Table``
    (``reference`` None when not given) and returns rows ``group, metric_name, metric_value``
    (optionally ``group_dimension``)."""

    type: Literal["custom"]
    component: str
    production_data: ProductionInput | None = None
    reference_data: MonitorInput | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metric_thresholds: list[CustomThreshold] = Field(default_factory=list)

    _function: Callable[..., Any] | None = PrivateAttr(default=None)

    @field_validator("component")
    @classmethod
    def _component(cls, value: str) -> str:
        from modeltap.monitor.custom.component import parse_component

        parse_component(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"{value!r} is not a mapping of parameter names to values")
        for key in value:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"{key!r} cannot be a keyword argument name")
            if key in ("production", "reference"):
                raise ValueError(
                    f"{key!r} is the name of the data argument: give the parameter another name"
                )
        return value

    @field_validator("metric_thresholds", mode="before")
    @classmethod
    def _unique(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError(
                f"{value!r} is not a list: use [{{metric_name: NAME, threshold: 0.1}}, ...]"
            )
        seen: set[Any] = set()
        for entry in value:
            name = entry.get("metric_name") if isinstance(entry, Mapping) else None
            if name is not None and name in seen:
                raise ValueError(f"metric_name {name!r} is listed twice: give one threshold each")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _inputs(self, info: ValidationInfo) -> CustomSignal:
        from modeltap.monitor.custom.component import resolve_component

        if self.production_data is None:
            raise ValueError("a custom signal needs production_data")
        folder = (info.context or {}).get("folder") if info is not None else None
        try:
            self._function = resolve_component(
                self.component, [Path(folder)] if folder is not None else []
            )
        except ValueError as exc:
            raise _At("component", str(exc)) from None
        return self

    def threshold(self, metric: str) -> CustomThreshold | None:
        """The threshold given for ``metric``, if any."""
        return next((t for t in self.metric_thresholds if t.metric_name == metric), None)

    @property
    def function(self) -> Callable[..., Any]:
        """The component's function (imported when the definition was loaded)."""
        if self._function is None:
            from modeltap.monitor.custom.component import resolve_component

            self._function = resolve_component(self.component)
        return self._function


Signal = Annotated[
    DataDriftSignal
    | PredictionDriftSignal
    | DataQualitySignal
    | ModelPerformanceSignal
    | FeatureAttributionDriftSignal
    | CustomSignal,
    Field(discriminator="type"),
]
FeatureSignal = DataDriftSignal | PredictionDriftSignal | DataQualitySignal
AnySignal = (
    DataDriftSignal
    | PredictionDriftSignal
    | DataQualitySignal
    | ModelPerformanceSignal
    | FeatureAttributionDriftSignal
    | CustomSignal
)


class MonitoringTarget(_Model):
    """``monitoring_target``: the model task and the deployment being monitored."""

    ml_task: Literal["classification", "regression"] | None = None
    endpoint_deployment_id: str | None = None
    model_id: str | None = None

    @field_validator("endpoint_deployment_id")
    @classmethod
    def _deployment(cls, value: str | None) -> str | None:
        if value is None:
            return value
        text = value.removeprefix("azureml:")
        endpoint, _, deployment = text.partition(":")
        if not endpoint or not deployment or ":" in deployment:
            raise ValueError(
                f"{value!r} is not a deployment: use azureml:ENDPOINT:DEPLOYMENT or "
                "ENDPOINT:DEPLOYMENT"
            )
        return value

    @property
    def endpoint_deployment(self) -> tuple[str, str] | None:
        """(endpoint, deployment) when given."""
        if self.endpoint_deployment_id is None:
            return None
        endpoint, _, deployment = self.endpoint_deployment_id.removeprefix("azureml:").partition(
            ":"
        )
        return endpoint, deployment


class SmtpSettings(_Model):
    """``alert_notification.smtp``: the mail server (the password only from the environment)."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None


class Webhook(_Model):
    """``alert_notification.webhooks[]``: a URL (or the environment variable holding it) that
    receives a JSON POST, in modeltap's ``json`` shape or as a Slack or Teams message."""

    url: str | None = None
    url_env: str | None = None
    format: Literal["json", "slack", "teams"] = "json"
    headers_env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url or url_env (the environment variable holding it), one")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"{self.url!r} is not an http:// or https:// URL")
        return self


class AlertNotification(_Model):
    """``alert_notification``: who hears about a breach, and how often."""

    emails: list[str] = Field(default_factory=list)
    smtp: SmtpSettings | None = None
    webhooks: list[Webhook] = Field(default_factory=list)
    renotify_after: str = "P1D"
    ui_url: str | None = None

    @field_validator("renotify_after", mode="before")
    @classmethod
    def _renotify(cls, value: Any) -> Any:
        if not isinstance(value, str) or parse_duration(value) <= _ZERO:
            raise ValueError(f"{value!r} is not a positive ISO 8601 duration such as P1D")
        return value


class Compute(_Model):
    """``compute``: the platform's Spark pool settings (accepted; modeltap runs where it is)."""

    instance_type: str | None = None
    runtime_version: str | None = None


class CreateMonitor(_Model):
    """``create_monitor``: what to monitor and how."""

    compute: Compute | None = None
    monitoring_target: MonitoringTarget | None = None
    monitoring_signals: dict[str, Signal] = Field(default_factory=dict)
    alert_notification: AlertNotification | None = None

    @field_validator("monitoring_signals", mode="before")
    @classmethod
    def _signal_types(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"{value!r} is not a mapping of signal names to signals")
        for name, signal in value.items():
            if not _NAME_RE.match(str(name)):
                raise _At(str(name), "a signal name uses letters, digits, '.', '_' and '-'")
            kind = signal.get("type") if isinstance(signal, Mapping) else None
            if not isinstance(signal, Mapping):
                raise _At(str(name), f"{signal!r} is not a mapping with a type")
            kind = signal.get("type")
            if kind is None or kind not in SIGNAL_TYPES:
                hint = _nearest(str(kind), list(SIGNAL_TYPES)) if kind is not None else ""
                raise _At(
                    f"{name}.type",
                    f"{kind!r} is not a signal type: {hint}allowed: {', '.join(SIGNAL_TYPES)}",
                )
        return value

    @model_validator(mode="after")
    def _defaults(self) -> CreateMonitor:
        deployment = self.monitoring_target.endpoint_deployment if self.monitoring_target else None
        signals: dict[str, Any] = dict(self.monitoring_signals)
        if not signals:
            if deployment is None:
                raise ValueError(
                    "no monitoring_signals: list some, or give "
                    "monitoring_target.endpoint_deployment_id for the out-of-box monitor"
                )
            signals = {
                "data-drift-signal": DataDriftSignal(type="data_drift"),
                "prediction-drift-signal": PredictionDriftSignal(type="prediction_drift"),
                "data-quality-signal": DataQualitySignal(type="data_quality"),
            }
        task = self.monitoring_target.ml_task if self.monitoring_target else None
        for name, signal in signals.items():
            if isinstance(signal, ModelPerformanceSignal) and task and signal.task != task:
                raise _At(
                    f"monitoring_signals.{name}.metric_thresholds",
                    f"thresholds for {signal.task} but monitoring_target.ml_task is {task}: "
                    f"use {task} metrics ({', '.join(names.allowed_metrics(signal.type, task))})",
                )
            if isinstance(signal, ModelPerformanceSignal | CustomSignal) or (
                signal.production_data is not None
            ):
                continue
            if deployment is None:
                raise _At(
                    f"monitoring_signals.{name}",
                    "no production_data, and no monitoring_target.endpoint_deployment_id to "
                    "find the collected data by",
                )
            endpoint, dep = deployment
            context = signal.default_context
            production = ProductionInput(
                input_data=InputData(path=f"{endpoint}-{dep}-{context}", type="uri_folder"),
                data_context=context,
            )
            copy = signal.model_copy(update={"production_data": production})
            if isinstance(copy, FeatureAttributionDriftSignal):
                # the platform's default: model inputs joined with the model's outputs
                copy._outputs = InputRef("asset", f"{endpoint}-{dep}-model_outputs")
            signals[name] = copy
        object.__setattr__(self, "monitoring_signals", signals)
        return self


class _Scheduled(_Model):
    """What both triggers have: zone, bounds, and modeltap's catch-up and late-data keys."""

    time_zone: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    catch_up: Annotated[int, Field(ge=0)] = 24
    recompute_late: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        from modeltap.monitor.schedule.timezones import resolve_time_zone

        resolve_time_zone(value)
        return value

    @field_validator("recompute_late", mode="before")
    @classmethod
    def _late(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or parse_duration(value) <= _ZERO):
            raise ValueError(f"{value!r} is not a positive ISO 8601 duration such as PT2H")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> _Scheduled:
        from modeltap.monitor.schedule.due_times import parse_trigger_time
        from modeltap.monitor.schedule.timezones import resolve_time_zone

        zone = resolve_time_zone(self.time_zone)
        for key in ("start_time", "end_time"):
            value = getattr(self, key)
            if value is not None:
                try:
                    parse_trigger_time(value, zone)
                except ValueError as exc:
                    raise _At(key, str(exc)) from None
        if self.start_time and self.end_time:
            start = parse_trigger_time(self.start_time, zone)
            if start >= parse_trigger_time(self.end_time, zone):
                raise ValueError(f"start_time {self.start_time} is not before end_time")
        return self


class CronTrigger(_Scheduled):
    """``trigger: {type: cron, expression, time_zone}``."""

    type: Literal["cron"]
    expression: str

    @field_validator("expression")
    @classmethod
    def _fields(cls, value: str) -> str:
        from modeltap.monitor.schedule.dependencies import optional_module

        croniter = optional_module("croniter").croniter
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron expression: five fields, "
                "minute hour day-of-month month day-of-week"
            )
        return value


class Schedule(_Model):
    """``trigger.schedule``: when in the period a recurrence fires."""

    hours: list[int] | int | None = None
    minutes: list[int] | int | None = None
    week_days: list[str] | str | None = None
    month_days: list[int] | int | None = None

    @field_validator("hours", "minutes", "month_days")
    @classmethod
    def _ranges(cls, value: list[int] | int | None, info: ValidationInfo) -> Any:
        key = str(info.field_name)
        low, high = {"hours": (0, 23), "minutes": (0, 59), "month_days": (1, 31)}[key]
        for number in [value] if isinstance(value, int) else value or []:
            if not low <= number <= high:
                raise ValueError(f"{number} is out of range: {key} are {low}..{high}")
        return value

    @field_validator("week_days")
    @classmethod
    def _days(cls, value: list[str] | str | None) -> list[str] | str | None:
        from modeltap.monitor.schedule.due_times import week_day

        for day in [value] if isinstance(value, str) else value or []:
            week_day(day)
        return value


class RecurrenceTrigger(_Scheduled):
    """``trigger: {type: recurrence, frequency, interval, schedule}``."""

    type: Literal["recurrence"]
    frequency: Literal["minute", "hour", "day", "week", "month"]
    interval: Annotated[int, Field(ge=1)] = 1
    schedule: Schedule | None = None


class MonitorDefinition(_Model):
    """A whole monitor: its name, trigger, what it monitors and (modeltap) where the data is."""

    schema_: str | None = Field(default=None, alias="$schema")
    name: str
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    trigger: Annotated[RecurrenceTrigger | CronTrigger, Field(discriminator="type")] | None = None
    create_monitor: CreateMonitor
    destination: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} cannot name a monitor: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        return value

    @property
    def signals(self) -> dict[str, AnySignal]:
        """Every signal by name (the out-of-box ones when none were listed)."""
        return dict(self.create_monitor.monitoring_signals)


# -- loading ----------------------------------------------------------------------------------


def _path_of(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # pydantic puts the union member's tag into the path: drop it
    signal_path = parts[:2] == ["create_monitor", "monitoring_signals"]
    if signal_path and len(parts) > 3 and parts[3] in SIGNAL_TYPES:
        del parts[3]
    if len(parts) > 1 and parts[0] == "trigger" and parts[1] in ("cron", "recurrence"):
        del parts[1]
    if parts and parts[-1] in ("list[str]", "literal['all_features']"):
        parts.pop()
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    text = str(error["msg"])
    text = text.removeprefix("Value error, ")
    if kind == "missing":
        return "required key missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"type {ctx.get('tag')!r} is not allowed: use one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "the key 'type' is missing"
    value = error.get("input")
    if kind.startswith(("literal_", "string_", "int_", "float_", "bool_", "dict_", "list_")):
        return f"{text}; got {value!r}"
    return text


def _format(error: ValidationError, source: str) -> MonitorDefinitionError:
    seen: set[str] = set()
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, _At):
            loc = (*loc, *cause.where.split("."))
        line = f"{_path_of(loc)}: {_message(item)}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    head = f"invalid monitor definition {source}"
    if len(lines) == 1:
        return MonitorDefinitionError(f"{head}: {lines[0]}")
    return MonitorDefinitionError(head + ":\n" + "\n".join(f"  {line}" for line in lines))


def load(
    definition: str | os.PathLike[str] | Mapping[str, Any] | MonitorDefinition,
) -> MonitorDefinition:
    """Load and validate a monitor definition from a YAML file or a mapping.

    Raises MonitorDefinitionError naming the file, the key path, the bad value and what is
    allowed."""
    if isinstance(definition, MonitorDefinition):
        return definition
    folder: Path | None = None
    if isinstance(definition, Mapping):
        source, raw = "(mapping)", definition
    else:
        path = Path(definition)
        source = str(path)
        folder = path.resolve().parent
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MonitorDefinitionError(
                f"cannot read the monitor definition {source}: {exc.strerror or exc}"
            ) from None
        try:
            raw = load_yaml_text(text)  # aliases refused, as in every YAML modeltap reads
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise MonitorDefinitionError(
                f"invalid monitor definition {source}{where}: not valid YAML ({problem})"
            ) from None
    if not isinstance(raw, Mapping):
        raise MonitorDefinitionError(
            f"invalid monitor definition {source}: the top level must be a mapping with name, "
            f"trigger and create_monitor; got {type(raw).__name__}"
        )
    try:
        context = {"folder": str(folder)} if folder is not None else None
        return MonitorDefinition.model_validate(dict(raw), context=context)
    except ValidationError as exc:
        raise _format(exc, source) from None
