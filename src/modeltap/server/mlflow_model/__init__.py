"""The built-in scoring script for an MLflow pyfunc model: no score.py, one switch to collect.

``modeltap serve --mlflow-model PATH [--collect]`` (or ``model: PATH`` with ``model_type: mlflow``
in the deployment YAML; ``--mlflow-model`` also takes ``models:/NAME/VERSION``, ``runs:/ID/PATH``
and ``file://`` URIs, resolved by mlflow) loads the model with ``mlflow.pyfunc.load_model`` and
answers ``/score`` and ``/invocations`` like MLflow's own scoring server: JSON bodies in the
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` format (with optional
``params``), CSV and Parquet bodies; ``{"predictions": [...]}`` back; ``/ping``, ``/health`` and
``/version``. Refused input answers with MLflow's status and error body (``error_code``,
``message``), the message naming the column.

When the ``model_inputs`` / ``model_outputs`` collections are enabled, the parsed input
DataFrame and the predictions are collected under the request's correlation context (the server
sets it), so both share the request id with the ``request``/``response`` payload records.

The package's modules, one seam each: ``loading`` (model URIs and loading the model),
``inputs`` (MLflow's payload formats), ``model`` (predict and collect), ``frames`` (what is
collected and answered), ``routes`` (error bodies, ``/ping``, ``/health``, ``/version``),
``swagger``, and ``script`` (``init()``/``run()`` and the server's ``MlflowScoringScript``).
"""

from __future__ import annotations

from modeltap.server.mlflow_model.loading import INSTALL_HINT, local_model_folder, require_mlflow
from modeltap.server.mlflow_model.model import MlflowModel
from modeltap.server.mlflow_model.script import MlflowScoringScript, init, run

__all__ = [
    "INSTALL_HINT",
    "MlflowModel",
    "MlflowScoringScript",
    "init",
    "local_model_folder",
    "require_mlflow",
    "run",
]
