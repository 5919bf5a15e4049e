"""The built-in scoring script for an MLflow pyfunc model: no score.py, one switch to collect.

``modeltap serve --mlflow-model PATH [--collect]`` (or ``model: PATH`` with ``model_type: mlflow``
in the deployment YAML) loads the model with ``mlflow.pyfunc.load_model`` and answers ``/score``
and ``/invocations`` like MLflow's own scoring server: JSON bodies in the ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` format (with optional ``params``), CSV and
Parquet bodies; ``{"predictions": [...]}`` back. Input that does not fit the model's signature
answers 400 with MLflow's error shape (``{"error_code": "BAD_REQUEST", "message": ...}``) and a
message that names the column.

When the ``model_inputs`` / ``model_outputs`` collections are enabled, the parsed input
DataFrame and the predictions are collected under the request's correlation context (the server
sets it), so both share the request id with the ``request``/``response`` payload records.

The module is also a scoring script in its own right: ``init()`` loads the model named by
``MODELTAP_MODEL_DIR`` (or ``AZUREML_MODEL_DIR``) and ``run(raw_data)`` scores a JSON body.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.responses import PlainTextResponse, Response

from modeltap.collector import Collector
from modeltap.context import BasicCorrelationContext, current_context
from modeltap.errors import MissingDependencyError
from modeltap.pipeline.runtime import current_settings
from modeltap.server.scoring import ScoringScript, ScoringScriptError

__all__ = [
    "INSTALL_HINT",
    "MlflowModel",
    "MlflowScoringScript",
    "init",
    "require_mlflow",
    "run",
]

logger = logging.getLogger("modeltap.server")

INSTALL_HINT = 'serving an MLflow model needs mlflow: pip install "modeltap[mlflow]"'
_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_JSON = "application/json"
_CSV = "text/csv"
_PARQUET = "application/vnd.apache.parquet"
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_PREDICTION = "prediction"


def require_mlflow() -> None:
    """Raise MissingDependencyError with the install hint when mlflow cannot be imported."""
    try:
        import mlflow.pyfunc  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"{INSTALL_HINT} ({exc})") from None


def _ignore(error: Exception) -> None:
    """Drops are counted in stats() and logged (rate-limited) by the pipeline already."""


class BadRequest(Exception):
    """Input the model cannot score: answered with ``status`` and MLflow's error body."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def response(self) -> Response:
        """The answer MLflow's scoring server gives (415 as plain text, like it)."""
        if self.status == 415:
            return PlainTextResponse(self.message, status_code=415)
        body = orjson.dumps({"error_code": "BAD_REQUEST", "message": self.message})
        return Response(body, status_code=self.status, media_type=_JSON)


def _detail(message: str) -> str:
    """MLflow's schema message without the echo of the whole input (``... Error: <detail>``)."""
    head, sep, tail = message.partition(". Error: ")
    text = tail if sep and head.startswith("Failed to enforce schema") else message
    return text.strip()


def _frame(data: Any, names: list[str] | None) -> pd.DataFrame | None:
    """The input as a DataFrame for ``model_inputs`` (None when it has no tabular form)."""
    if isinstance(data, pd.DataFrame):
        return data
    try:
        if isinstance(data, dict):
            columns = {str(k): np.asarray(v) for k, v in data.items()}
            if all(v.ndim == 1 for v in columns.values()):
                return pd.DataFrame(columns)
            return None
        if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
            return pd.DataFrame(data)
        array = np.asarray(data)
    except (ValueError, TypeError):
        return None
    if array.ndim == 0 or array.dtype == object:
        return None
    array = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
    labels = names if names and len(names) == array.shape[1] else [
        str(i) for i in range(array.shape[1])
    ]
    return pd.DataFrame(array, columns=labels)


def _predictions_frame(predictions: Any, names: list[str] | None) -> pd.DataFrame | None:
    """The predictions as a DataFrame for ``model_outputs``, one row per input row."""
    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(str(predictions.name or _PREDICTION)).reset_index(drop=True)
    if isinstance(predictions, dict):
        return _frame(predictions, None)
    try:
        array = np.asarray(predictions)
    except (ValueError, TypeError):
        return None
    if array.ndim == 0 or (array.dtype == object and array.ndim != 1):
        return None
    if array.ndim == 1:
        name = names[0] if names and len(names) == 1 else _PREDICTION
        return pd.DataFrame({name: array})
    return _frame(array, names)


def _json_type(kind: Any) -> dict[str, Any]:
    name = str(getattr(kind, "name", "")).lower()
    if name in ("double", "float"):
        return {"type": "number"}
    if name in ("long", "integer"):
        return {"type": "integer"}
    if name == "boolean":
        return {"type": "boolean"}
    if name in ("string", "binary", "datetime"):
        return {"type": "string"}
    return {}


def _jsonable(predictions: Any) -> Any:
    """Predictions in the JSON form MLflow answers with (DataFrames as records)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series | np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, dict):
        return {k: _jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, np.generic):
        return predictions.item()
    return predictions


class MlflowModel:
    """A loaded pyfunc model: parse a request body, validate, predict, collect, answer."""

    def __init__(self, model_dir: str | Path) -> None:
        require_mlflow()
        import mlflow.pyfunc

        self.model_dir = Path(model_dir).expanduser().resolve()
        if not (self.model_dir / "MLmodel").is_file():
            raise ScoringScriptError(
                f"{self.model_dir} is not an MLflow model folder (no MLmodel file in it); "
                "point --mlflow-model / model: at the folder mlflow.<flavor>.save_model wrote"
            )
        try:
            self.model = mlflow.pyfunc.load_model(str(self.model_dir))
        except Exception as exc:
            raise ScoringScriptError(
                f"loading the MLflow model at {self.model_dir} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        metadata = self.model.metadata
        self.input_schema = metadata.get_input_schema()
        output_schema = metadata.get_output_schema()
        self.input_names: list[str] | None = None
        self.required: list[str] = []
        if self.input_schema is not None and self.input_schema.has_input_names():
            self.input_names = [str(n) for n in self.input_schema.input_names()]
            if not self.input_schema.is_tensor_spec():
                self.required = [str(n) for n in self.input_schema.required_input_names()]
        self.output_names: list[str] | None = None
        if output_schema is not None and output_schema.has_input_names():
            self.output_names = [str(n) for n in output_schema.input_names()]
        try:
            self._takes_params = "params" in inspect.signature(self.model.predict).parameters
        except (TypeError, ValueError):
            self._takes_params = False
        settings = current_settings()
        self.inputs: Collector | None = None
        self.outputs: Collector | None = None
        if settings.collection("model_inputs").enabled:
            self.inputs = Collector(name="model_inputs", on_error=_ignore)
        if settings.collection("model_outputs").enabled:
            self.outputs = Collector(name="model_outputs", on_error=_ignore)

    def describe(self) -> str:
        """One line for the log: where the model is and what its signature asks for."""
        schema = "no signature" if self.input_schema is None else f"inputs {self.input_schema}"
        return f"MLflow model {self.model_dir} ({schema})"

    def swagger(self, *, title: str, version: str, key_auth: bool) -> dict[str, Any]:
        """A Swagger 2.0 document of /score and /invocations from the model's signature."""
        row: dict[str, Any] = {"type": "object"}
        if self.input_schema is not None and not self.input_schema.is_tensor_spec():
            row["properties"] = {
                str(spec.name): _json_type(spec.type) for spec in self.input_schema.inputs
                if spec.name is not None
            }
            if self.required:
                row["required"] = self.required
        split: dict[str, Any] = {"type": "object", "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array", "items": {}}},
        }, "required": ["data"]}
        if self.input_names:
            split["properties"]["columns"]["example"] = self.input_names
        service_input = {
            "type": "object",
            "description": "exactly one of the four formats (MLflow's scoring protocol), "
            "optionally with params; text/csv and Parquet bodies are accepted too",
            "properties": {
                "dataframe_split": split,
                "dataframe_records": {"type": "array", "items": row},
                "instances": {"type": "array", "items": {}},
                "inputs": {},
                "params": {"type": "object"},
            },
        }
        operation: dict[str, Any] = {
            "description": f"Predict with the MLflow model {self.model_dir.name}",
            "consumes": [_JSON, _CSV, _PARQUET],
            "parameters": [{"name": "body", "in": "body", "required": True,
                            "schema": {"$ref": "#/definitions/ServiceInput"}}],
            "responses": {
                "200": {"description": "The predictions",
                        "schema": {"$ref": "#/definitions/ServiceOutput"}},
                "400": {"description": "Input the model cannot score (names the column)",
                        "schema": {"$ref": "#/definitions/Error"}},
            },
        }
        if key_auth:
            operation["security"] = [{"Bearer": []}]
        document: dict[str, Any] = {
            "swagger": "2.0",
            "info": {"title": title, "version": version,
                     "description": f"{self.describe()}, served by modeltap"},
            "schemes": ["http", "https"],
            "produces": [_JSON],
            "paths": {
                "/": {"get": {"responses": {"200": {"description": "Healthy"}}}},
                "/score": {"post": {**operation, "operationId": "Score"}},
                "/invocations": {"post": {**operation, "operationId": "Invocations"}},
            },
            "definitions": {
                "ServiceInput": service_input,
                "ServiceOutput": {"type": "object", "properties": {
                    "predictions": {"type": "array", "items": {}}}},
                "Error": {"type": "object", "properties": {
                    "error_code": {"type": "string"}, "message": {"type": "string"}}},
            },
        }
        if key_auth:
            document["securityDefinitions"] = {"Bearer": {
                "type": "apiKey", "name": "Authorization", "in": "header",
                "description": "Bearer <endpoint key>"}}
        return document

    # -- parsing --------------------------------------------------------------------------

    def parse(self, body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None]:
        """The model's input and params from a request body; BadRequest when it does not fit."""
        media, _, parameters = content_type.partition(";")
        media = media.strip().lower() or _JSON
        for pair in filter(None, (p.strip() for p in parameters.split(";"))):
            key, _, value = pair.partition("=")
            if key.strip().lower() != "charset":
                raise BadRequest(f"Unrecognized content type parameter: {key.strip()}", 415)
            if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                raise BadRequest("The scoring server only supports UTF-8", 415)
        if media == _JSON or media.endswith("+json"):
            return self._parse_json(body)
        if media == _CSV:
            return self._parse_table(body, csv=True), None
        if media == _PARQUET:
            return self._parse_table(body, csv=False), None
        raise BadRequest(
            f"This predictor only supports the following content types: {_JSON}, {_CSV}, "
            f"{_PARQUET}. Got '{content_type}'.",
            415,
        )

    def _parse_json(self, body: bytes) -> tuple[Any, dict[str, Any] | None]:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc.scoring_server import infer_and_parse_data

        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            reason = "the body is empty" if not body else f"the body is not valid JSON ({exc})"
            raise BadRequest(f"{reason}; {self._expected()}") from None
        if not isinstance(document, dict):
            raise BadRequest(f"got a JSON {type(document).__name__}; {self._expected()}")
        keys = [k for k in document if k in _FORMATS]
        if len(keys) != 1:
            raise BadRequest(
                f"{self._expected()}; got the fields {sorted(document)}"
                if not keys else f"give exactly one input format, got {keys}"
            )
        params = document.get("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest("'params' must be a JSON object of parameter names to values")
        self._check_columns(keys[0], document[keys[0]])
        try:
            data = infer_and_parse_data({keys[0]: document[keys[0]]}, self.input_schema)
        except MlflowException as exc:
            raise BadRequest(self._signature_message(_detail(exc.message))) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise BadRequest(
                f"cannot read the {keys[0]!r} input: {type(exc).__name__}: {exc}"
            ) from None
        return data, params

    def _parse_table(self, body: bytes, *, csv: bool) -> pd.DataFrame:
        try:
            if csv:
                dtypes = None
                if self.input_schema is not None and not self.input_schema.is_tensor_spec():
                    dtypes = dict(
                        zip(self.input_schema.input_names(), self.input_schema.pandas_types(),
                            strict=False)
                    )
                frame = pd.read_csv(io.BytesIO(body), dtype=dtypes)
            else:
                frame = pd.read_parquet(io.BytesIO(body))
        except Exception as exc:
            kind = "CSV" if csv else "Parquet"
            raise BadRequest(
                f"Failed to parse input as a Pandas DataFrame from {kind}: {exc}"
            ) from None
        self._check_columns("dataframe_split", {"columns": list(frame.columns)})
        return frame

    def _expected(self) -> str:
        return (
            "expecting a JSON object with one of "
            f"{', '.join(repr(f) for f in _FORMATS)} (and optionally 'params')"
        )

    def _signature_message(self, detail: str) -> str:
        if self.input_schema is None:
            return detail
        return f"input does not match the model signature ({self.input_schema}): {detail}"

    def _check_columns(self, form: str, value: Any) -> None:
        """Missing required columns, named, before MLflow sees the data."""
        if not self.required:
            return
        present: set[str] | None = None
        if form == "dataframe_split" and isinstance(value, dict):
            columns = value.get("columns")
            if isinstance(columns, list):
                present = {str(c) for c in columns}
        elif isinstance(value, dict):
            present = {str(c) for c in value}
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            present = set().union(*({str(c) for c in row} for row in value))
        if present is None:
            return
        missing = [name for name in self.required if name not in present]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            noun = "column" if len(missing) == 1 else "columns"
            extra = sorted(present - set(self.input_names or []))
            hint = f"; got unexpected {extra}" if extra else ""
            raise BadRequest(
                f"missing required {noun} {names}: the model signature expects "
                f"{self.input_schema}{hint}"
            )

    # -- scoring --------------------------------------------------------------------------

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Run the model. A signature mismatch, or the model failing on this input, is a
        BadRequest (400, as MLflow answers); the model's traceback goes to the log only."""
        from mlflow.exceptions import MlflowException

        try:
            if self._takes_params:
                return self.model.predict(data, params=params)
            return self.model.predict(data)
        except MlflowException as exc:
            raise BadRequest(self._signature_message(_detail(exc.message))) from None
        except Exception as exc:
            context = current_context()
            logger.exception("the MLflow model failed on a request (x-request-id %s)",
                             context.get_id() if context is not None else "-")
            raise BadRequest(
                "Encountered an unexpected error while evaluating the model. Verify that the "
                f"input is compatible with the model: {type(exc).__name__}: {exc}"
            ) from None

    def score(self, body: bytes, content_type: str) -> Response | dict[str, Any]:
        """One request: parse, predict, collect inputs and outputs, answer like MLflow."""
        try:
            data, params = self.parse(body, content_type)
            predictions = self.predict(data, params)
        except BadRequest as exc:
            return exc.response()
        # the server sets the request's context; called without one, both share a new one
        context = current_context() or BasicCorrelationContext()
        if self.inputs is not None:
            frame = _frame(data, self.input_names)
            if frame is not None:
                self.inputs.collect(frame, context)
        if self.outputs is not None:
            outputs = _predictions_frame(predictions, self.output_names)
            if outputs is not None:
                self.outputs.collect(outputs, context)
        return {"predictions": _jsonable(predictions)}


_MODEL: MlflowModel | None = None


def init() -> None:
    """Load the model named by ``MODELTAP_MODEL_DIR`` (or ``AZUREML_MODEL_DIR``)."""
    global _MODEL
    folder = os.environ.get("MODELTAP_MODEL_DIR") or os.environ.get("AZUREML_MODEL_DIR")
    if not folder:
        raise ScoringScriptError("no model folder: set MODELTAP_MODEL_DIR to the MLflow model")
    _MODEL = MlflowModel(folder)


def run(raw_data: str, request_headers: Mapping[str, str] | None = None) -> Any:
    """Score one request body (JSON unless the request says otherwise)."""
    if _MODEL is None:
        raise RuntimeError("init() was not called")
    content_type = _JSON
    for key, value in (request_headers or {}).items():
        if key.lower() == "content-type":
            content_type = value
    return _MODEL.score(raw_data.encode("utf-8"), content_type)


class MlflowScoringScript(ScoringScript):
    """This module as the server's scoring script, given the raw body and its content type."""

    score_paths = ("/score", "/invocations")

    def __init__(self, model_dir: Path) -> None:
        super().__init__(Path(__file__).resolve(), sys.modules[__name__])
        self.path = model_dir / "MLmodel"  # named in the log; a swagger.json beside it is served
        self.model_dir = model_dir
        self.wants_headers = False
        self.object_input = False
        self.model: MlflowModel | None = None

    @classmethod
    def for_model(cls, model_dir: str | Path) -> MlflowScoringScript:
        """The script for an MLflow model folder (mlflow must be installed)."""
        require_mlflow()
        return cls(Path(model_dir).expanduser().resolve())

    def init(self) -> None:
        """Load the model; a failure raises ScoringScriptError with the reason."""
        global _MODEL
        self.model = _MODEL = MlflowModel(self.model_dir)
        logger.info("serving %s", self.model.describe())

    def swagger(self, *, title: str, version: str, key_auth: bool) -> dict[str, Any] | None:
        """A swagger.json beside MLmodel, else a document made from the model's signature."""
        document = super().swagger(title=title, version=version, key_auth=key_auth)
        if document is None and self.model is not None:
            document = self.model.swagger(title=title, version=version, key_auth=key_auth)
        return document

    def arguments(self, body: bytes, content_type: str) -> dict[str, Any]:
        """The raw body and its content type: parsing happens in the thread pool."""
        return {"body": body, "content_type": content_type}

    def call(self, arguments: dict[str, Any], headers: Mapping[str, str]) -> Any:
        """Score one request."""
        if self.model is None:
            raise RuntimeError("init() was not called")
        return self.model.score(arguments["body"], arguments["content_type"])
