"""GET /swagger.json: the scoring API's description, when the script declares its schema.

Like the platform inference server: a ``swagger.json`` file beside the scoring script is served
as it is; otherwise, when ``run`` is decorated with ``inference_schema``'s ``@input_schema`` /
``@output_schema`` (and that package is installed), a Swagger 2.0 document is generated with
their schemas as ``ServiceInput`` and ``ServiceOutput``. Without either there is no document.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["build_swagger"]

logger = logging.getLogger("modeltap.server")


def _declared_schemas(run: Any) -> tuple[Any, Any] | None:
    try:
        from inference_schema.schema_util import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
            get_input_schema,
            get_output_schema,
            is_schema_decorated,
        )
    except ImportError:
        return None
    if not is_schema_decorated(run):
        return None
    return get_input_schema(run), get_output_schema(run)


def build_swagger(
    script_path: Path, run: Any, *, title: str, version: str, key_auth: bool
) -> dict[str, Any] | None:
    """The document for this script, or None when it declares no schema."""
    user_file = script_path.parent / "swagger.json"
    if user_file.is_file():
        try:
            document: dict[str, Any] = json.loads(user_file.read_text(encoding="utf-8"))
            return document
        except (OSError, ValueError) as exc:
            logger.error("%s cannot be served: %s", user_file, exc)
            return None
    schemas = _declared_schemas(run)
    if schemas is None:
        return None
    input_schema, output_schema = schemas
    score: dict[str, Any] = {
        "operationId": "RunMLService",
        "description": "Run the scoring script's run() on the request body.",
        "parameters": [
            {"name": "serviceInputPayload", "in": "body", "required": True,
             "schema": {"$ref": "#/definitions/ServiceInput"}},
        ],
        "responses": {
            "200": {"description": "The result of run()",
                    "schema": {"$ref": "#/definitions/ServiceOutput"}},
            "default": {"description": "An error", "schema": {"type": "string"}},
        },
    }
    if key_auth:
        score["security"] = [{"Bearer": []}]
    document = {
        "swagger": "2.0",
        "info": {"title": title, "version": version,
                 "description": f"Scoring API of {title}, served by modeltap"},
        "schemes": ["http", "https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {
            "/": {"get": {"operationId": "ServiceHealthCheck",
                          "responses": {"200": {"description": "Healthy"}}}},
            "/score": {"post": score},
        },
        "definitions": {"ServiceInput": input_schema, "ServiceOutput": output_schema},
    }
    if key_auth:
        document["securityDefinitions"] = {
            "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                       "description": "Bearer <endpoint key>"}
        }
    return document
