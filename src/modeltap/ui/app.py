"""The web UI: a read-only Starlette app over a store's catalog and monitor results.

Pages answer from the catalog (``modeltap.list_assets``) and the results store, never by scanning
raw data, except an asset's last rows (its newest hour folder only) and its rows per hour (each
file's Parquet footer, or its time column when the footer cannot tell; once per file, cached).
Start-up compiles the templates and imports what the pages use. Every route is a GET: the UI never
writes to the store, so it can run beside any number of writers. With a key, every page but
``/healthz`` needs it, as ``Authorization: Bearer KEY`` or as the password of HTTP Basic (which
browsers ask for); keys are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modeltap._version import __version__
from modeltap.catalog import DataAsset, get_asset, list_assets
from modeltap.errors import AssetNotFoundError, ModelTapError, MonitorError
from modeltap.monitor.results import ResultsStore
from modeltap.report.charts import Series, bar_chart, data_table, line_chart
from modeltap.report.content import pick_run, run_content, stamp_label, stamp_time
from modeltap.report.html import render_report
from modeltap.report.templating import environment, require_jinja
from modeltap.server.auth import KeyAuth
from modeltap.ui.volume import HourCounts, VolumeReader, parse_event_time

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["MAX_WINDOW_HOURS", "create_app"]

MAX_WINDOW_HOURS = 24 * 31
"""The longest window an asset page charts (one bar per hour)."""
LIST_HOURS = 48
"""Hours of the rows-per-hour chart of the asset list (ending at each asset's last event)."""
RUN_ROWS = 30
"""Runs shown in a monitor's signals-over-time table."""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
_FIRST_USE_MODULES = (
    "modeltap.formats.parquet",
    "polars",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "pyarrow.parquet",
)
"""What the pages import on first use (sys.modules after each page), beside the store's
filesystem: polars is modeltap.read's deduplication (~250 ms), pyarrow.dataset is how
pyarrow.parquet reads a table."""


def _warm_up(destination: str, storage_options: dict[str, Any]) -> None:
    """Compile every template, import what the pages import on first use and open the store's
    filesystem (fsspec scans the installed packages' entry points then, ~100 ms), so that the
    first visit after start-up does not pay for it. bench/ui.py, 2026-12-06, 5c31335 against
    29908f6, first visit on a fresh server: one asset 254 -> 14 ms (140 -> 10 ms of server CPU),
    data assets 44 -> 11 ms, monitors 91 -> 48 ms. Best effort: what fails here fails again on
    the page that needs it, and says why."""
    env = environment()
    for name in env.list_templates():
        env.get_template(name)
    for module in _FIRST_USE_MODULES:
        importlib.import_module(module)
    with contextlib.suppress(Exception):
        import fsspec

        fsspec.core.url_to_fs(destination, **storage_options)


class _KeyCheck:
    """ASGI middleware: refuse requests without an accepted key (``/healthz`` stays open)."""

    def __init__(self, app: ASGIApp, auth: KeyAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1")
        if self.auth.check(_as_bearer(header)):
            await self.app(scope, receive, send)
            return
        from starlette.responses import PlainTextResponse

        response = PlainTextResponse(
            "a key is needed: send 'Authorization: Bearer KEY' (or the key as the password)\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="modeltap", charset="UTF-8"'},
        )
        await response(scope, receive, send)


def _as_bearer(header: str) -> str:
    """``Basic base64(user:key)`` -> ``Bearer key``; anything else unchanged."""
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return header
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return f"Bearer {decoded.partition(':')[2]}"


def _utc(text: str | None, label: str) -> dt.datetime | None:
    """A time from the window picker (``2024-05-08T12:00``, UTC) or None."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{label} {text!r} is not a time: use YYYY-MM-DDTHH:MM (UTC)") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _rows_chart(title: str, counts: HourCounts, *, width: int, height: int) -> str:
    """An asset's rows per hour as an SVG bar chart."""
    return bar_chart(
        title,
        counts.labels,
        [Series("rows", [float(c) for c in counts.counts])],
        desc=f"{counts.total} rows from {counts.labels[0]} to {counts.labels[-1]} UTC",
        width=width,
        height=height,
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 120 else text[:119] + "…"


class _Pages:
    """The page handlers over one destination."""

    def __init__(self, destination: str, storage_options: dict[str, Any]) -> None:
        self.destination = destination
        self.options = storage_options
        self.results = ResultsStore(destination, storage_options)
        self.volume = VolumeReader(storage_options)
        self.env = environment()

    # -- helpers ------------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        from starlette.responses import HTMLResponse

        body = self.env.get_template(template).render(
            version=__version__, destination=self.destination, quote=quote, **context
        )
        return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": _CSP})

    def missing(self, what: str) -> Response:
        return self.page("not_found.html", 404, title="Not found", message=what)

    def asset(self, request: Request) -> DataAsset:
        name = request.path_params["name"]
        version = request.path_params["version"]
        return get_asset(f"{name}:{version}", self.destination, self.options or None)

    # -- pages --------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        from starlette.responses import RedirectResponse

        return RedirectResponse("/assets", status_code=302)

    def healthz(self, request: Request) -> Response:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("ok\n")

    def assets(self, request: Request) -> Response:
        assets = sorted(
            list_assets(self.destination, self.options or None), key=lambda a: (a.name, a.version)
        )
        return self.page("assets.html", title="Data assets", assets=assets, hours=LIST_HOURS)

    def asset_volume(self, request: Request) -> Response:
        from starlette.responses import Response as Plain

        try:
            asset = self.asset(request)
        except AssetNotFoundError as exc:
            return self.missing(str(exc))
        last = parse_event_time(asset.last_event_time)
        if last is None:
            chart = bar_chart(f"{asset.name}: no rows yet", [], [Series("rows", [])])
        else:
            end = _hour(last) + dt.timedelta(hours=1)
            counts = self.volume.per_hour(asset, end - dt.timedelta(hours=LIST_HOURS), LIST_HOURS)
            chart = _rows_chart(
                f"{asset.name}: rows per hour, {LIST_HOURS} hours to its last event",
                counts,
                width=360,
                height=120,
            )
        return Plain(chart, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})

    def asset_page(self, request: Request) -> Response:
        try:
            asset = self.asset(request)
        except AssetNotFoundError as exc:
            return self.missing(str(exc))
        last = parse_event_time(asset.last_event_time)
        error = None
        try:
            start = _utc(request.query_params.get("start"), "start")
            end = _utc(request.query_params.get("end"), "end")
        except ValueError as exc:
            error, start, end = str(exc), None, None
        if end is None:
            end = _hour(last or dt.datetime.now(dt.UTC)) + dt.timedelta(hours=1)
        if start is None:
            start = end - dt.timedelta(hours=24)
        if start >= end:
            error = error or "start must come before end"
            start = end - dt.timedelta(hours=24)
        hours = int((end - _hour(start)).total_seconds() // 3600) or 1
        if hours > MAX_WINDOW_HOURS:
            error = error or f"the window is limited to {MAX_WINDOW_HOURS // 24} days"
            hours = MAX_WINDOW_HOURS
            start = end - dt.timedelta(hours=hours)
        counts = self.volume.per_hour(asset, start, hours)
        title = f"{asset.name}: rows per hour"
        chart = _rows_chart(title, counts, width=900, height=200)
        chart_numbers = data_table(
            title,
            ("hour (UTC)", "rows"),
            zip(counts.labels, [str(c) for c in counts.counts], strict=True),
        )
        rows, folder = self.volume.newest_rows(asset, end)
        table = {
            "columns": [str(c) for c in rows.columns],
            "rows": [[_cell(v) for v in row] for row in rows.itertuples(index=False)],
        }
        return self.page(
            "asset.html",
            title=asset.ref,
            asset=asset,
            chart=chart,
            chart_numbers=chart_numbers,
            total=counts.total,
            start=start.strftime("%Y-%m-%dT%H:%M"),
            end=end.strftime("%Y-%m-%dT%H:%M"),
            error=error,
            table=table,
            folder=folder,
        )

    def monitors(self, request: Request) -> Response:
        rows = []
        for name in self.results.monitors():
            stamps = self.results.runs(name)
            info = self.results.run_info(name, stamps[-1])
            signals = info.get("signals") or {}
            rows.append(
                {
                    "name": name,
                    "runs": len(stamps),
                    "last": stamps[-1],
                    "window_end": info.get("window_end"),
                    "status": info.get("status", ""),
                    "breached": bool(info.get("breached")),
                    "breached_signals": [
                        s for s, e in signals.items() if e.get("status") == "breached"
                    ],
                    "failed_signals": [
                        s for s, e in signals.items() if e.get("status") == "failed"
                    ],
                }
            )
        return self.page("monitors.html", title="Monitors", monitors=rows)

    def monitor_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        stamps = self.results.runs(name)
        try:
            stamp = pick_run(self.results, name, stamps=stamps)
        except MonitorError as exc:
            return self.missing(str(exc))
        content = run_content(self.results, name, stamp, stamps=stamps)
        runs = []
        for one in reversed(stamps[-RUN_ROWS:]):
            info = self.results.run_info(name, one)
            runs.append(
                {
                    "stamp": one,
                    "window_end": info.get("window_end"),
                    "status": info.get("status", ""),
                    "signals": {
                        s: e.get("status", "") for s, e in (info.get("signals") or {}).items()
                    },
                }
            )
        signal_names = [s.name for s in content.signals]
        runs_shown = len(content.history_stamps)
        title = f"{name}: breached metrics per signal over the last {runs_shown} runs"
        per_run = [content.breached_per_run.get(s, []) for s in signal_names]
        chart = line_chart(
            title,
            [stamp_label(s) for s in content.history_stamps],
            [
                Series(s, [float(v) for v in counts])
                for s, counts in zip(signal_names, per_run, strict=True)
            ],
        )
        chart_numbers = data_table(
            title,
            ("run (window end)", *signal_names),
            (
                (
                    stamp_time(stamp),
                    *(str(counts[i]) if i < len(counts) else "" for counts in per_run),
                )
                for i, stamp in enumerate(content.history_stamps)
            ),
        )
        return self.page(
            "monitor.html",
            title=name,
            name=name,
            run=content,
            runs=runs,
            signal_names=signal_names,
            chart=chart,
            chart_numbers=chart_numbers,
        )

    def run_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        stamps = self.results.runs(name)
        try:
            stamp = pick_run(self.results, name, request.path_params["stamp"], stamps=stamps)
        except MonitorError as exc:
            return self.missing(str(exc))
        content = run_content(self.results, name, stamp, stamps=stamps)
        return self.page("run.html", title=f"{name} {stamp}", name=name, run=content)

    def run_report(self, request: Request) -> Response:
        from starlette.responses import HTMLResponse

        name = request.path_params["name"]
        stamps = self.results.runs(name)
        try:
            stamp = pick_run(self.results, name, request.path_params["stamp"], stamps=stamps)
        except MonitorError as exc:
            return self.missing(str(exc))
        content = run_content(self.results, name, stamp, stamps=stamps)
        body = render_report(content, self.results.run_url(name, stamp))
        disposition = f'inline; filename="{name}-{stamp}.html"'
        return HTMLResponse(body, headers={"Content-Disposition": disposition})


def create_app(
    destination: str,
    *,
    storage_options: dict[str, Any] | None = None,
    auth_key: str | None = None,
) -> Starlette:
    """The UI over ``destination``; with ``auth_key`` every page but ``/healthz`` needs it."""
    require_jinja()
    _warm_up(destination, storage_options or {})
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    pages = _Pages(destination, storage_options or {})

    async def store_error(request: Request, exc: Exception) -> Response:
        return pages.page("not_found.html", 500, title="Store error", message=str(exc))

    routes = [
        Route("/", pages.home),
        Route("/healthz", pages.healthz),
        Route("/assets", pages.assets),
        Route("/assets/{name}/{version}", pages.asset_page),
        Route("/assets/{name}/{version}/volume.svg", pages.asset_volume),
        Route("/monitors", pages.monitors),
        Route("/monitors/{name}", pages.monitor_page),
        Route("/monitors/{name}/runs/{stamp}", pages.run_page),
        Route("/monitors/{name}/runs/{stamp}/report.html", pages.run_report),
    ]
    middleware = [] if auth_key is None else [Middleware(_KeyCheck, auth=KeyAuth(auth_key))]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ModelTapError: store_error, OSError: store_error},
    )
