"""The Swagger document made from an MLflow model's signature, in-process."""

from __future__ import annotations

from pathlib import Path

from modeltap.server.mlflow_model.model import MlflowModel
from tests.server.mlflow_model.conftest import FEATURES


def test_document_names_the_signature_columns(model_dir: Path) -> None:
    """Both routes, the columns with their JSON types, the required ones, and key security."""
    model = MlflowModel(model_dir)
    document = model.swagger(title="credit/blue", version="3", key_auth=True)
    assert set(document["paths"]) == {"/", "/score", "/invocations"}
    records = document["definitions"]["ServiceInput"]["properties"]["dataframe_records"]
    assert records["items"]["properties"] == {name: {"type": "number"} for name in FEATURES}
    assert records["items"]["required"] == FEATURES
    split = document["definitions"]["ServiceInput"]["properties"]["dataframe_split"]
    assert split["properties"]["columns"]["example"] == FEATURES
    assert document["paths"]["/score"]["post"]["security"] == [{"Bearer": []}]
    assert "Bearer" in document["securityDefinitions"]
    assert document["info"]["title"] == "credit/blue"
