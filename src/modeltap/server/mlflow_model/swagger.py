"""A Swagger 2.0 document of ``/score`` and ``/invocations`` made from the model's signature."""

from __future__ import annotations

from typing import Any

from modeltap.server.mlflow_model.inputs import CONTENT_TYPES, JSON, InputParser

__all__ = ["signature_swagger"]


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


def signature_swagger(
    parser: InputParser, *, model_name: str, description: str, title: str, version: str,
    key_auth: bool,
) -> dict[str, Any]:
    """The document for a model whose inputs ``parser`` reads."""
    schema = parser.schema
    row: dict[str, Any] = {"type": "object"}
    if schema is not None and not schema.is_tensor_spec():
        row["properties"] = {
            str(spec.name): _json_type(spec.type) for spec in schema.inputs
            if spec.name is not None
        }
        if parser.required:
            row["required"] = parser.required
    split: dict[str, Any] = {"type": "object", "properties": {
        "columns": {"type": "array", "items": {"type": "string"}},
        "data": {"type": "array", "items": {"type": "array", "items": {}}},
    }, "required": ["data"]}
    if parser.names:
        split["properties"]["columns"]["example"] = parser.names
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
        "description": f"Predict with the MLflow model {model_name}",
        "consumes": list(CONTENT_TYPES),
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
                 "description": f"{description}, served by modeltap"},
        "schemes": ["http", "https"],
        "produces": [JSON],
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
