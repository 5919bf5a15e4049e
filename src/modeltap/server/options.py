"""Server options: from a deployment YAML in the platform's online-deployment shape and flags.

Besides ``data_collector`` the YAML may give ``model`` (a local path, or ``{path: ...}``; with
``model_type: mlflow`` also a URI mlflow resolves: ``models:/NAME/VERSION``, ``runs:/ID/PATH``,
``file://`` ...),
``code_configuration`` (``code`` and ``scoring_script``), ``environment_variables``,
``auth_mode: key``, ``model_type: mlflow`` (serve ``model`` as an MLflow pyfunc model with the
built-in scoring script, no ``code_configuration``), ``request_settings.
max_concurrent_requests_per_instance`` (concurrent run() calls, shared by the workers) and
modeltap's own ``server:`` section
(``max_request_bytes``, ``max_event_bytes``, ``auth_key_file``, and the limits of
``modeltap.server.limits``: ``max_header_bytes``, ``max_headers``, ``header_timeout``,
``body_timeout``). Relative paths are relative to the YAML's folder.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modeltap.config import Settings, load_settings, load_yaml_file
from modeltap.errors import ConfigError
from modeltap.server.app import DEFAULT_MAX_REQUEST_BYTES
from modeltap.server.auth import generate_key, read_key_file
from modeltap.server.headers import HeaderAllowlist
from modeltap.server.limits import DEFAULT_LIMITS, HttpLimits
from modeltap.server.payload import DEFAULT_MAX_EVENT_BYTES

__all__ = ["ServeOptions", "resolve_options"]

_LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(HttpLimits))
_SERVER_KEYS = ("max_request_bytes", "max_event_bytes", "auth_key_file", *_LIMIT_KEYS)
_DEPLOYMENT_KEYS = (
    "data_collector", "endpoint_name", "name", "model", "code_configuration",
    "environment_variables", "auth_mode", "server", "environment", "instance_type",
    "instance_count", "request_settings", "model_type",
)
_MODEL_COLLECTIONS = ("model_inputs", "model_outputs")


@dataclass
class ServeOptions:
    """Everything a server process needs, resolved and validated."""

    config: dict[str, Any]
    settings: Settings
    entry_script: Path | None = None
    model_dir: Path | None = None
    model_type: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 5001
    workers: int = 1
    run_threads: int | None = None
    """None: one run() at a time, on the event loop while it is quick (``Runner``)."""
    auth_key: str | None = None
    auth_key_source: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    access_log: bool = False
    log_level: str = "info"
    http_limits: HttpLimits = DEFAULT_LIMITS
    """Request heads' size and count, and how slowly a request may arrive."""
    metrics_dir: Path | None = None
    """Set by the supervisor of several workers: where they publish their metrics."""
    bridge_key: str | None = None
    """Set by ``serve`` when auth is on: the secret the in-process reference SDK sends to
    /modeldata/log (``modeltap.server.sdk_bridge``)."""


def _positive_int(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{label}: must be a positive integer (got {value!r})")
    return value


def _model_path(label: str, model: object, base: Path, *, mlflow: bool) -> Path | None:
    """The model folder ``model:`` names: a path relative to the YAML's folder, or for an
    MLflow model a URI mlflow resolves (``models:/``, ``runs:/``, ``file://`` ...), downloaded
    as ``--mlflow-model`` is."""
    if model is None:
        return None
    if isinstance(model, Mapping):
        model = model.get("path")
        if model is None:
            return None
    if not isinstance(model, str):
        raise ConfigError(f"{label}: model: expected a local path or {{path: ...}} (got {model!r})")
    if model.startswith("azureml:"):
        raise ConfigError(
            f"{label}: model: {model!r} is a registry reference; modeltap serve needs a local "
            "path (download the model and point model: at it)"
        )
    if mlflow and len(urlparse(model).scheme) >= 2:  # not a path (nor a drive letter)
        from modeltap.server.mlflow_model import local_model_folder

        return local_model_folder(model, source=f"{label}: model:")
    return (base / model).resolve()


def _read_deployment(path: str) -> dict[str, Any]:
    loaded = load_yaml_file(path) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(loaded).__name__}")
    if not any(key in loaded for key in _DEPLOYMENT_KEYS):
        return {"data_collector": loaded}  # a bare data_collector section
    return dict(loaded)


def resolve_options(
    *,
    deployment_file: str | None = None,
    entry_script: str | None = None,
    model_dir: str | None = None,
    data_dir: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5001,
    workers: int = 1,
    threads: int | None = None,
    log_level: str = "info",
    auth_key_file: str | None = None,
    max_request_bytes: int | None = None,
    max_event_bytes: int | None = None,
    access_log: bool = False,
    need_script: bool = True,
    mlflow_model: str | None = None,
    collect: bool = False,
) -> ServeOptions:
    """Validate the YAML and flags into ServeOptions (ConfigError with the reason otherwise;
    ModelUriError where an MLflow ``model:`` URI cannot be resolved).

    ``mlflow_model`` (or ``model_type: mlflow`` in the YAML) serves an MLflow model with the
    built-in scoring script; ``collect`` turns ``model_inputs`` and ``model_outputs`` on. An
    MLflow model collects nothing unless one of those, or the YAML's collections, says so."""
    raw: dict[str, Any] = {}
    label = "<command line>"
    base = Path.cwd()
    if deployment_file is not None:
        label = deployment_file
        raw = _read_deployment(deployment_file)
        base = Path(deployment_file).resolve().parent
    collector = dict(raw.get("data_collector") or {})
    model_type = _model_type(label, raw.get("model_type"), mlflow_model is not None)
    if model_type == "mlflow":
        if mlflow_model is not None:
            raw["model"] = str(Path(mlflow_model).expanduser().resolve())
        _mlflow_collections(label, collector, collect)
    elif collect:
        raise ConfigError(f"{label}: --collect is for MLflow models (--mlflow-model); a "
                          "scoring script's collections are set in data_collector.collections")
    if data_dir is not None:
        collector["destination"] = str(Path(data_dir).expanduser().resolve())
    raw["data_collector"] = collector
    server = raw.pop("server", None) or {}
    if not isinstance(server, Mapping):
        raise ConfigError(f"{label}: server: expected a mapping with {', '.join(_SERVER_KEYS)}")
    unknown = sorted(set(server) - set(_SERVER_KEYS))
    if unknown:
        raise ConfigError(
            f"{label}: server.{unknown[0]}: unknown key; allowed keys here: "
            f"{', '.join(_SERVER_KEYS)}"
        )
    try:
        settings = load_settings(raw)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("<mapping>", label)) from None
    settings = Settings(deployment=settings.deployment, source=label,
                        destination=settings.destination)
    HeaderAllowlist(settings.collector.request_logging.capture_headers, source=label)

    script: Path | None = None
    if model_type == "mlflow":
        _check_mlflow_deployment(label, raw, entry_script)
    elif entry_script is not None:
        script = Path(entry_script).expanduser().resolve()
    else:
        code_configuration = raw.get("code_configuration") or {}
        if isinstance(code_configuration, Mapping) and code_configuration.get("scoring_script"):
            code = base / str(code_configuration.get("code") or ".")
            script = (code / str(code_configuration["scoring_script"])).resolve()
    if need_script and script is None and model_type is None:
        raise ConfigError(
            f"{label}: no scoring script: give --entry-script or "
            "code_configuration.scoring_script in the deployment YAML"
        )
    if script is not None and not script.is_file():
        raise ConfigError(f"{label}: scoring script {script} not found")

    model = Path(model_dir).expanduser().resolve() if model_dir else _model_path(
        label, raw.get("model"), base, mlflow=model_type == "mlflow"
    )
    environment: dict[str, str] = {}
    variables = raw.get("environment_variables") or {}
    if not isinstance(variables, Mapping):
        raise ConfigError(f"{label}: environment_variables: expected a mapping of names to values")
    environment.update({str(k): str(v) for k, v in variables.items()})
    if model_type == "mlflow" and model is None:
        raise ConfigError(f"{label}: model_type: mlflow needs model: (the MLflow model folder)")
    if model is not None:
        environment["AZUREML_MODEL_DIR"] = str(model)
        environment["MODELTAP_MODEL_DIR"] = str(model)

    auth_mode = raw.get("auth_mode")
    if auth_mode is not None and str(auth_mode).lower() not in ("key", "none"):
        raise ConfigError(
            f"{label}: auth_mode: {auth_mode!r} is not supported by modeltap serve; use key"
        )
    key_file = auth_key_file or server.get("auth_key_file")
    auth_key: str | None = None
    key_source: str | None = None
    if key_file:
        if deployment_file is not None and not auth_key_file:
            key_file = str(base / str(key_file))
        auth_key = read_key_file(key_file)
        key_source = str(key_file)
    elif str(auth_mode).lower() == "key":
        auth_key = os.environ.get("MODELTAP_AUTH_KEY") or None
        key_source = "MODELTAP_AUTH_KEY"
        if auth_key is None:
            auth_key = generate_key()
            key_source = "generated"

    return ServeOptions(
        config=raw,
        settings=settings,
        entry_script=script,
        model_dir=model,
        model_type=model_type,
        environment=environment,
        host=host,
        port=port,
        workers=_positive_int("--workers", workers),
        run_threads=_run_threads(label, raw.get("request_settings"), threads, workers),
        auth_key=auth_key,
        auth_key_source=key_source,
        max_request_bytes=_positive_int(
            "server.max_request_bytes",
            max_request_bytes or server.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
        ),
        max_event_bytes=_positive_int(
            "server.max_event_bytes",
            max_event_bytes or server.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES),
        ),
        access_log=access_log,
        log_level=_log_level(log_level),
        http_limits=_http_limits(label, server),
    )


def _http_limits(label: str, server: Mapping[str, Any]) -> HttpLimits:
    """The ``server:`` section's limits on requests (defaults for those it does not set)."""
    values: dict[str, Any] = {}
    for name in _LIMIT_KEYS:
        if name not in server:
            continue
        value = server[name]
        if name == "max_connections" and value is None:
            continue
        if name.endswith("_timeout"):
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(
                    f"{label}: server.{name}: must be a positive number of seconds (got "
                    f"{value!r})"
                )
            values[name] = float(value)
        else:
            values[name] = _positive_int(f"{label}: server.{name}", value)
    return dataclasses.replace(DEFAULT_LIMITS, **values)


def _run_threads(
    label: str, request_settings: object, threads: int | None, workers: int
) -> int | None:
    """Concurrent run() calls per worker: ``--threads`` (0: run() on the event loop's own
    thread), else the YAML's per-instance limit shared by the workers, else None: one at a time
    (the platform's default), placed by ``Runner``."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ConfigError(f"--threads: must be 0 or a positive integer (got {threads!r})")
        return threads
    if request_settings is None:
        return None
    if not isinstance(request_settings, Mapping):
        raise ConfigError(f"{label}: request_settings: expected a mapping")
    limit = request_settings.get("max_concurrent_requests_per_instance")
    if limit is None:
        return None
    limit = _positive_int(f"{label}: request_settings.max_concurrent_requests_per_instance", limit)
    per_worker = -(-limit // max(workers, 1))
    return per_worker if per_worker > 1 else None  # a limit of one says nothing of placement


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _log_level(level: str) -> str:
    if level.lower() not in _LOG_LEVELS:
        raise ConfigError(f"--log-level: {level!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level.lower()


def _model_type(label: str, value: object, mlflow_flag: bool) -> str | None:
    if mlflow_flag:
        return "mlflow"
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in ("mlflow", "custom_model"):
        raise ConfigError(
            f"{label}: model_type: {value!r} is not supported; use mlflow (an MLflow model "
            "served without a scoring script) or leave it out"
        )
    return "mlflow" if value.strip().lower() == "mlflow" else None


def _mlflow_collections(label: str, collector: dict[str, Any], collect: bool) -> None:
    """``--collect`` turns model_inputs/model_outputs on; without it and without collections in
    the YAML an MLflow model collects nothing (the platform's default for MLflow models)."""
    collections = collector.get("collections")
    if collections is not None and not isinstance(collections, Mapping):
        return  # load_settings reports the bad value
    merged: dict[str, Any] = dict(collections or {})
    if collect:
        for name in _MODEL_COLLECTIONS:
            entry = merged.get(name)
            entry = dict(entry) if isinstance(entry, Mapping) else {}
            entry["enabled"] = True
            merged[name] = entry
    if collect or collections is None:
        collector["collections"] = merged


def _check_mlflow_deployment(label: str, raw: Mapping[str, Any], entry_script: str | None) -> None:
    code_configuration = raw.get("code_configuration") or {}
    if entry_script is not None or (
        isinstance(code_configuration, Mapping) and code_configuration.get("scoring_script")
    ):
        raise ConfigError(
            f"{label}: an MLflow model is served without a scoring script: drop "
            "--entry-script / code_configuration, or drop --mlflow-model / model_type: mlflow"
        )
