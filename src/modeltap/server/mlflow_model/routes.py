"""What MLflow's scoring server answers besides predictions: its error bodies."""

from __future__ import annotations

import orjson
from starlette.responses import PlainTextResponse, Response

from modeltap.errors import ModelInputError
from modeltap.server.mlflow_model.inputs import JSON

__all__ = ["error_response"]


def error_response(error: ModelInputError) -> Response:
    """The answer MLflow's scoring server gives (415 as plain text, like it)."""
    if error.status == 415:
        return PlainTextResponse(error.message, status_code=415)
    body = orjson.dumps({"error_code": error.code, "message": error.message})
    return Response(body, status_code=error.status, media_type=JSON)
