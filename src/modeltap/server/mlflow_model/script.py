"""The built-in scoring script of an MLflow model, for the server and as a module of its own.

``init()`` loads the model named by ``MODELTAP_MODEL_DIR`` (or ``AZUREML_MODEL_DIR``) and
``run(raw_data)`` scores a JSON body; ``MlflowScoringScript`` is the same for the server, given
the raw body and its content type, on ``/score`` and ``/invocations``, with MLflow's ``/ping``,
``/health`` and ``/version`` beside them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.routing import Route

from modeltap.server.mlflow_model.inputs import JSON
from modeltap.server.mlflow_model.loading import require_mlflow
from modeltap.server.mlflow_model.model import MlflowModel
from modeltap.server.mlflow_model.routes import health_routes
from modeltap.server.scoring import ScoringScript, ScoringScriptError

__all__ = ["MlflowScoringScript", "init", "run"]

logger = logging.getLogger("modeltap.server")

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
    content_type = JSON
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

    def routes(self) -> list[Route]:
        """MLflow's ``/ping``, ``/health`` and ``/version``."""
        return health_routes(lambda: self.model is not None)

    def arguments(self, body: bytes, content_type: str) -> dict[str, Any]:
        """The raw body and its content type: parsing happens in the thread pool."""
        return {"body": body, "content_type": content_type}

    def call(self, arguments: dict[str, Any], headers: Mapping[str, str]) -> Any:
        """Score one request."""
        if self.model is None:
            raise RuntimeError("init() was not called")
        return self.model.score(arguments["body"], arguments["content_type"])
