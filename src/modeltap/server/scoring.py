"""The scoring script: loaded from a file, ``init()`` once per worker, ``run(raw_data)`` per call.

The contract is the platform inference server's: ``run`` gets the request body as a string (and
the request headers when it declares a ``request_headers`` parameter); its return value is
JSON-encoded (a str becomes a JSON string), unless it is a Response-like object, which is sent
as it is.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.responses import Response
from starlette.routing import Route

from modeltap.errors import ModelInputError, ScoringScriptError
from modeltap.server.swagger import build_swagger

__all__ = ["ScoringScript", "ScoringScriptError", "encode_result"]

_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _script_traceback(path: Path) -> str:
    """The current exception's traceback, starting at the first frame of the script."""
    kind, error, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    start = next((i for i, f in enumerate(frames) if Path(f.filename) == path), 0)
    lines = traceback.format_list(frames[start:])
    lines += traceback.format_exception_only(kind, error)
    return "Traceback (most recent call last):\n" + "".join(lines)


class ScoringScript:
    """A loaded scoring script module with its ``init`` and ``run``."""

    #: the POST routes that call run() (the built-in MLflow script adds ``/invocations``)
    score_paths: tuple[str, ...] = ("/score",)

    def __init__(self, path: Path, module: ModuleType) -> None:
        self.path = path
        self.module = module
        init = getattr(module, "init", None)
        run = getattr(module, "run", None)
        missing = [name for name, fn in (("init", init), ("run", run)) if not callable(fn)]
        if missing:
            raise ScoringScriptError(
                f"scoring script {path} does not define {' and '.join(f'{m}()' for m in missing)}:"
                " a scoring script needs init() (called once per worker) and run(raw_data) "
                "(called per request)"
            )
        assert init is not None and run is not None
        self._init: Callable[[], Any] = init
        self._run: Callable[..., Any] = run
        self.run_function = run
        try:
            parameters = dict(inspect.signature(run).parameters)
        except (TypeError, ValueError):
            parameters = {}
        self.wants_headers = "request_headers" in parameters
        # a run() decorated with inference_schema's @input_schema gets the JSON body's values
        # by parameter name, as the platform server passes them; otherwise the body as a str
        self.object_input = _is_schema_decorated(run)
        self._body_parameters = [
            p for name, p in parameters.items()
            if name != "request_headers"
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]

    @classmethod
    def load(cls, path: str | Path) -> ScoringScript:
        """Import the script from its file (its folder goes first on ``sys.path``)."""
        script = Path(path).expanduser().resolve()
        if not script.is_file():
            raise ScoringScriptError(f"scoring script {script} not found")
        folder = str(script.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = script.stem if script.stem.isidentifier() else "score"
        if name in sys.modules:  # never shadow a loaded module (a script named json.py, ...)
            name = f"_modeltap_entry_{name}"
        spec = importlib.util.spec_from_file_location(name, script)
        if spec is None or spec.loader is None:
            raise ScoringScriptError(f"cannot import {script}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ScoringScriptError(
                f"importing the scoring script {script} failed:\n{_script_traceback(script)}"
            ) from exc
        return cls(script, module)

    def init(self) -> None:
        """Call the script's init(); a failure raises with the script's traceback."""
        try:
            self._init()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ScoringScriptError(
                f"init() of the scoring script {self.path} failed:\n"
                f"{_script_traceback(self.path)}"
            ) from exc

    def arguments(self, body: bytes, content_type: str) -> dict[str, Any]:
        """run()'s arguments from a request body; ModelInputError (4xx, its ``status``) when
        the body does not fit."""
        if not self.object_input:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ModelInputError("request body is not UTF-8 text") from None
            return {"": text}
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise ModelInputError(
                "expects Content-Type application/json (run() has a schema)", status=415
            )
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            reason = "request body is empty" if not body else f"body is not valid JSON: {exc}"
            raise ModelInputError(f"{reason}; expecting a JSON object") from None
        if not isinstance(document, dict):
            raise ModelInputError("the body must be a JSON object of run()'s parameters")
        arguments: dict[str, Any] = {}
        for parameter in self._body_parameters:
            value = document.get(parameter.name, parameter.default)
            if value is inspect.Parameter.empty:
                raise ModelInputError(f"no value for run()'s parameter {parameter.name!r}")
            arguments[parameter.name] = value
        return arguments

    def call(self, arguments: dict[str, Any], headers: Mapping[str, str]) -> Any:
        """Call run() with what ``arguments`` made of the request."""
        extra: dict[str, Any] = {"request_headers": dict(headers)} if self.wants_headers else {}
        if "" in arguments:
            return self._run(arguments[""], **extra)
        return self._run(**arguments, **extra)

    def run(self, raw_data: str, headers: Mapping[str, str]) -> Any:
        """Call run() with a raw body string (for scripts without a schema)."""
        return self.call({"": raw_data}, headers)

    def routes(self) -> list[Route]:
        """Routes the script serves besides its score paths (the MLflow script: /ping...)."""
        return []

    def swagger(self, *, title: str, version: str, key_auth: bool) -> dict[str, Any] | None:
        """The /swagger.json document (None when the script declares no schema)."""
        return build_swagger(self.path, self.run_function, title=title, version=version,
                             key_auth=key_auth)


def _is_schema_decorated(run: Any) -> bool:
    try:
        from inference_schema.schema_util import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
            is_schema_decorated,
        )
    except ImportError:
        return False
    try:
        return bool(is_schema_decorated(run))
    except Exception:
        return False


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if isinstance(value, pd.Series | pd.Index):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _response_like(value: Any) -> Response | None:
    """A Starlette Response as is; a werkzeug/Flask-like one (status_code + get_data) converted."""
    if isinstance(value, Response):
        return value
    status = getattr(value, "status_code", None)
    get_data = getattr(value, "get_data", None)
    if isinstance(status, int) and callable(get_data):
        headers = getattr(value, "headers", {})
        content_type = getattr(value, "content_type", None) or getattr(value, "mimetype", None)
        pairs = {str(k): str(v) for k, v in dict(headers).items() if str(k).lower() not in
                 ("content-length", "content-type")}
        return Response(get_data(), status_code=status, headers=pairs, media_type=content_type)
    return None


def encode_result(value: Any) -> Response | bytes:
    """A Response-like return value as a Response, anything else as JSON bytes."""
    response = _response_like(value)
    if response is not None:
        return response
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS, default=_default)
    except TypeError:
        return json.dumps(value, default=_default).encode()
