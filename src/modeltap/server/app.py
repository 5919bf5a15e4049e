"""The Starlette application: /score around the scoring script, health, metrics and ingest.

``build_app`` wires one process's parts together; the process model (sockets, workers, signals)
lives in ``modeltap.server.process``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from modeltap._ids import new_uuid4
from modeltap.config import Settings, ack_mode
from modeltap.context import BasicCorrelationContext, reset_current_context, set_current_context
from modeltap.errors import IngestError, ModelInputError, ModelTapError
from modeltap.pipeline.runtime import flush, shutdown, spooled, writing
from modeltap.server.auth import KeyAuth
from modeltap.server.capture import PayloadCapture
from modeltap.server.headers import MAX_RECORDED_LENGTH
from modeltap.server.ingest import Ingestor, parse_cloudevents, parse_mdc
from modeltap.server.metrics import CONTENT_TYPE, ServerMetrics
from modeltap.server.payload import DEFAULT_MAX_EVENT_BYTES, BlobSink
from modeltap.server.runner import Runner
from modeltap.server.scoring import ScoringScript, encode_result

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "AppOptions", "ServerState", "build_app"]

logger = logging.getLogger("modeltap.server")

DEFAULT_MAX_REQUEST_BYTES = 100 * 1024 * 1024
MAX_REQUEST_ID_LENGTH = MAX_RECORDED_LENGTH
_JSON = "application/json"
_NOT_CAPTURED = frozenset({401, 413, 431})
"""/score answers whose request is not captured: refused before it was read or trusted."""


@dataclass
class AppOptions:
    """What one server process needs besides the collector settings."""

    auth: KeyAuth | None = None
    run_threads: int | None = None
    """Concurrent run() calls: None for one at a time, on the event loop's thread while run()
    is quick (see ``modeltap.server.runner``); 0 for always on the loop; N for a pool of N."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    shutdown_timeout: float = 30.0
    bridge_key: str | None = None
    """With ``auth``: the serving process's own secret, accepted on /modeldata/log only, that
    the in-process reference SDK sends (``modeltap.server.sdk_bridge``)."""
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)
    metrics_dir: Path | None = None
    """The workers' shared run directory: /metrics then answers for all of them."""


class _TooLarge(ModelTapError):
    """A request body over the limit (answered 413; never leaves this module)."""


class ServerState:
    """Readiness and the parts shared by the routes of one process. run() is called by a
    ``Runner``: by default one call at a time, on the event loop's thread while run() is quick
    and on a thread of its own otherwise. More pool threads (``options.run_threads``) only help
    a run() that waits on I/O or releases the GIL: CPU-bound calls fight over the GIL with each
    other and with the event loop."""

    def __init__(self, settings: Settings, script: ScoringScript | None, options: AppOptions):
        self.settings = settings
        self.script = script
        self.options = options
        self.metrics = ServerMetrics(options.metrics_dir)
        sink = BlobSink(settings)
        self.capture = PayloadCapture(settings, max_event_bytes=options.max_event_bytes)
        self.ingestor = Ingestor(sink, options.max_event_bytes)
        self.runner = Runner(options.run_threads)
        self.metrics.watch(self.runner)
        self.ready = False


def _header(request: Request, name: str) -> str | None:
    return request.headers.get(name)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _unauthorized() -> Response:
    return PlainTextResponse(
        "missing or invalid endpoint key: send 'Authorization: Bearer <key>'",
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="modeltap"'},
    )


def build_app(settings: Settings, script: ScoringScript | None, options: AppOptions) -> Starlette:
    """The ASGI app of one worker. ``script`` is None for the ingest-only server."""
    state = ServerState(settings, script, options)
    metrics = state.metrics
    capture = state.capture
    auth = options.auth
    ack_spool = ack_mode(settings) == "spool"

    async def _in_spool() -> None:
        """ack: spool: wait until what this request queued is in the spool (group commit)."""
        acked = spooled()
        if acked is not None:
            await asyncio.wrap_future(acked)

    async def liveness(request: Request) -> Response:
        return PlainTextResponse("Healthy")

    async def readiness(request: Request) -> Response:
        if state.ready and writing():  # not while the spool cannot be written
            return PlainTextResponse("Ready")
        return PlainTextResponse("Not ready", status_code=503)

    async def metrics_route(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    async def score(request: Request) -> Response:
        started = time.perf_counter()
        client_request_id = _header(request, "x-ms-client-request-id")
        request_id = _header(request, "x-request-id")
        too_long = request_id is not None and len(request_id) > MAX_REQUEST_ID_LENGTH
        if too_long or not request_id:
            request_id = new_uuid4()
        context = BasicCorrelationContext(
            id=request_id, headers=_context_headers(request_id, client_request_id)
        )
        body = b""
        response: Response
        response_is_json = False
        if too_long:
            response = PlainTextResponse(
                f"x-request-id is longer than {MAX_REQUEST_ID_LENGTH} characters",
                status_code=431,
            )
        elif auth is not None and not auth.check(_header(request, "authorization")):
            response = _unauthorized()
        else:
            response, body, response_is_json = await _score(request, context)
        response.headers["x-request-id"] = request_id
        if client_request_id is not None:
            response.headers["x-ms-client-request-id"] = client_request_id
        elapsed = time.perf_counter() - started
        if capture.enabled and response.status_code not in _NOT_CAPTURED:
            if ack_spool:  # in the spool before the answer: captured now
                _capture(capture, context, request, body, response, elapsed, response_is_json)
            else:
                # captured on the loop's next turn, once the response is on its way: the client
                # does not wait for it, and a plain callback costs less than a background task
                # (no closure cells, no coroutine: fewer objects for every young collection)
                asyncio.get_running_loop().call_soon(
                    _capture, capture, context, request, body, response, elapsed, response_is_json
                )
        if ack_spool:
            await _in_spool()
        metrics.observe(request.scope["path"], request.method, response.status_code, elapsed)
        return response

    async def _score(
        request: Request, context: BasicCorrelationContext
    ) -> tuple[Response, bytes, bool]:
        """run() on the request: (the response, the body read, whether the response is
        run()'s value encoded as JSON)."""
        try:
            body = await _read_body(request, options.max_request_bytes)
        except _TooLarge:
            return (
                PlainTextResponse(
                    f"request body larger than the limit of {options.max_request_bytes} bytes",
                    status_code=413,
                ),
                b"",
                False,
            )
        except ClientDisconnect:
            return PlainTextResponse("client disconnected", status_code=400), b"", False
        assert state.script is not None
        script = state.script
        try:
            arguments = script.arguments(body, request.headers.get("content-type", ""))
        except ModelInputError as exc:
            return PlainTextResponse(exc.message, status_code=exc.status), body, False
        headers: dict[str, str] = dict(request.headers) if script.wants_headers else {}

        def call() -> Response | bytes:
            token = set_current_context(context)
            try:
                return encode_result(script.call(arguments, headers))
            finally:
                reset_current_context(token)

        try:
            result = await state.runner.call(call)
        except Exception:
            request_id = context.get_id()
            logger.exception("run() of %s raised (x-request-id %s)", script.path, request_id)
            return (
                PlainTextResponse(
                    "run() of the scoring script raised an exception; see the server log "
                    f"(x-request-id {request_id})",
                    status_code=500,
                ),
                body,
                False,
            )
        if isinstance(result, Response):
            return result, body, False
        return Response(result, media_type=_JSON), body, True

    bridge = KeyAuth(options.bridge_key) if options.bridge_key else None

    def _ingest_allowed(request: Request) -> bool:
        authorization = _header(request, "authorization")
        if auth is None or auth.check(authorization):
            return True
        return (
            bridge is not None
            and request.url.path == "/modeldata/log"
            and bridge.check(authorization)
        )

    def ingest_route(
        parse: Callable[[dict[str, str], bytes], Any],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            response = await _ingest(request, parse)
            metrics.observe(
                request.url.path, request.method, response.status_code,
                time.perf_counter() - started,
            )
            return response

        return handler

    async def _ingest(request: Request, parse: Callable[[dict[str, str], bytes], Any]) -> Response:
        if not _ingest_allowed(request):
            return _unauthorized()
        try:
            body = await _read_body(request, options.max_request_bytes)
        except _TooLarge:
            return PlainTextResponse(
                f"body larger than the limit of {options.max_request_bytes} bytes",
                status_code=413,
            )
        except ClientDisconnect:
            return PlainTextResponse("client disconnected", status_code=400)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in request.scope["headers"]}
        outcomes = {"accepted": 0, "disabled": 0, "duplicate": 0}
        try:
            parsed = parse(headers, body)
            events = parsed if isinstance(parsed, list) else [parsed]
            state.ingestor.check(events)
            for event in events:
                outcomes[state.ingestor.accept(event)] += 1
        except IngestError as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status)
        if ack_spool:
            await _in_spool()
        return JSONResponse(outcomes, status_code=202 if outcomes["accepted"] else 200)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # everything alive now (libraries, the model, init()'s state) lives as long as the
        # process: keep it out of the garbage collector's full passes, which otherwise walk it
        # all (tens of ms with pandas loaded, every request waiting) as captured events age
        gc.collect()
        gc.freeze()
        metrics.start_publishing()  # for the other workers' /metrics
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            state.runner.shutdown()
            try:
                await asyncio.to_thread(_drain, options)
            finally:
                metrics.stop_publishing()

    routes = [
        Route("/", liveness, methods=["GET"]),
        Route("/ready", readiness, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/modeldata/log", ingest_route(parse_mdc), methods=["POST"]),
        Route("/events", ingest_route(parse_cloudevents), methods=["POST"]),
    ]
    if script is not None:
        routes.extend(Route(path, score, methods=["POST"]) for path in script.score_paths)
        routes.extend(script.routes())
        swagger = script.swagger(
            title=f"{settings.endpoint}/{settings.deployment_name}",
            version=settings.collector.model_version, key_auth=auth is not None,
        )
        swagger_body = orjson.dumps(swagger) if swagger is not None else None

        async def swagger_route(request: Request) -> Response:
            if swagger_body is None:
                return PlainTextResponse(
                    "the scoring script declares no schema: decorate run() with "
                    "inference_schema's @input_schema/@output_schema or put a swagger.json "
                    "beside it",
                    status_code=404,
                )
            return Response(swagger_body, media_type=_JSON)

        routes.append(Route("/swagger.json", swagger_route, methods=["GET"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.modeltap = state
    return app


def _capture(
    capture: PayloadCapture,
    context: BasicCorrelationContext,
    request: Request,
    body: bytes,
    sent: Response,
    elapsed: float,
    response_is_json: bool,
) -> None:
    """Capture one /score call's request and response (see ``PayloadCapture``)."""
    try:
        capture.capture(
            context,
            path=request.scope["path"],
            method=request.method,
            request_headers=request.scope["headers"],
            request_body=body,
            request_type=request.headers.get("content-type", ""),
            status=sent.status_code,
            response_headers=sent.raw_headers,
            response_body=bytes(getattr(sent, "body", b"")),
            response_type=sent.media_type or sent.headers.get("content-type", ""),
            latency_ms=elapsed * 1000.0,
            response_is_json=response_is_json,
        )
    except Exception:
        logger.exception("capturing the payloads of x-request-id %s failed", context.get_id())


def _context_headers(request_id: str, client_request_id: str | None) -> dict[str, str]:
    headers = {"x-request-id": request_id}
    if client_request_id is not None:
        headers["x-ms-client-request-id"] = client_request_id
    return headers


def _drain(options: AppOptions) -> None:
    """On shutdown: run the shutdown hooks, then flush and stop the pipeline."""
    for hook in options.on_shutdown:
        try:
            hook()
        except Exception:
            logger.exception("a shutdown hook failed")
    if not flush(options.shutdown_timeout):
        logger.error("flushing the collected data timed out after %ss", options.shutdown_timeout)
    shutdown(options.shutdown_timeout)
