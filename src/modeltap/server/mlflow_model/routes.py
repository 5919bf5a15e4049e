"""What MLflow's scoring server answers besides predictions: its error bodies, ``/ping``,
``/health`` and ``/version``.

The JSON error body is serialised by mlflow's own ``MlflowException``, so ``error_code``,
``error_class`` and ``sqlstate`` are the ones the installed mlflow's server answers with; the
message is modeltap's, and a stack trace is never sent (it goes to the server log).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from modeltap.errors import ModelInputError
from modeltap.server.mlflow_model.inputs import JSON

__all__ = ["error_response", "health_routes"]


def error_response(error: ModelInputError) -> Response:
    """The answer MLflow's scoring server gives (415 as plain text, like it)."""
    if error.status == 415:
        return PlainTextResponse(error.message, status_code=415)
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    try:
        code = ErrorCode.Value(error.code)
    except ValueError:  # not one of mlflow's codes: the generic one
        code = ErrorCode.Value("BAD_REQUEST")
    # MLflow 3 adds error_class and sqlstate (derived from the code unless given); MLflow 2
    # would echo an error_class argument as an extra field, so it is passed only when known
    extra = {} if error.error_class is None else {"error_class": error.error_class}
    exception = MlflowException(error.message, error_code=code, **extra)
    body = exception.serialize_as_json()  # type: ignore[no-untyped-call]
    return Response(body, status_code=error.status, media_type=JSON)


def health_routes(model_loaded: Callable[[], bool]) -> list[Route]:
    """``/ping`` and ``/health`` (200 once the model is loaded, else 404) and ``/version``
    (the mlflow version), with the bodies and media type of MLflow's scoring server."""
    from mlflow.version import VERSION

    async def ping(request: Request) -> Response:
        status = 200 if model_loaded() else 404
        return Response("\n", status_code=status, media_type=JSON)

    async def version(request: Request) -> Response:
        return Response(VERSION, media_type=JSON)

    return [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
    ]
