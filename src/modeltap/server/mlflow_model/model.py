"""A loaded pyfunc model behind the scoring routes: parse, predict, collect, answer."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from starlette.responses import Response

from modeltap.collector import Collector
from modeltap.context import BasicCorrelationContext, current_context
from modeltap.errors import ModelInputError
from modeltap.pipeline.runtime import current_settings
from modeltap.server.mlflow_model.frames import input_frame, jsonable, predictions_frame
from modeltap.server.mlflow_model.inputs import InputParser, detail, refusal
from modeltap.server.mlflow_model.loading import load_pyfunc
from modeltap.server.mlflow_model.routes import error_response
from modeltap.server.mlflow_model.swagger import signature_swagger

__all__ = ["MlflowModel"]

logger = logging.getLogger("modeltap.server")


def _ignore(error: Exception) -> None:
    """Drops are counted in stats() and logged (rate-limited) by the pipeline already."""


class MlflowModel:
    """A loaded pyfunc model: parse a request body, validate, predict, collect, answer.

    When the ``model_inputs`` / ``model_outputs`` collections are enabled, the parsed input
    and the predictions are collected under the request's correlation context.
    """

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir).expanduser().resolve()
        self.model = load_pyfunc(self.model_dir)
        metadata = self.model.metadata
        self.parser = InputParser(metadata.get_input_schema())
        output_schema = metadata.get_output_schema()
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
        schema = self.parser.schema
        return f"MLflow model {self.model_dir} ({'no signature' if schema is None else schema})"

    def swagger(self, *, title: str, version: str, key_auth: bool) -> dict[str, Any]:
        """A Swagger 2.0 document of /score and /invocations from the model's signature."""
        return signature_swagger(
            self.parser, model_name=self.model_dir.name, description=self.describe(),
            title=title, version=version, key_auth=key_auth,
        )

    def parse(self, body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None]:
        """The model's input and params from a request body; ModelInputError when it does
        not fit."""
        return self.parser.parse(body, content_type)

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Run the model. A signature mismatch, or the model failing on this input, is a
        ModelInputError (400, as MLflow answers); the model's traceback goes to the log only."""
        from mlflow.exceptions import MlflowException

        try:
            if self._takes_params:
                return self.model.predict(data, params=params)
            return self.model.predict(data)
        except MlflowException as exc:
            raise refusal(exc, self.parser.signature_message(detail(exc.message))) from None
        except Exception as exc:
            context = current_context()
            logger.exception("the MLflow model failed on a request (x-request-id %s)",
                             context.get_id() if context is not None else "-")
            raise ModelInputError(
                "Encountered an unexpected error while evaluating the model. Verify that the "
                f"input is compatible with the model: {type(exc).__name__}: {exc}"
            ) from None

    def score(self, body: bytes, content_type: str) -> Response | dict[str, Any]:
        """One request: parse, predict, collect inputs and outputs, answer like MLflow."""
        try:
            data, params = self.parse(body, content_type)
            predictions = self.predict(data, params)
        except ModelInputError as exc:
            return error_response(exc)
        # the server sets the request's context; called without one, both share a new one
        context = current_context() or BasicCorrelationContext()
        if self.inputs is not None:
            frame = input_frame(data, self.parser.names)
            if frame is not None:
                self.inputs.collect(frame, context)
        if self.outputs is not None:
            outputs = predictions_frame(predictions, self.output_names)
            if outputs is not None:
                self.outputs.collect(outputs, context)
        return {"predictions": jsonable(predictions)}
