"""Running a monitor: every signal for the windows that end at a time, results stored.

``run(definition_or_path, at=None, destination=None)`` computes each signal (a failing signal is
recorded as ``failed`` and does not stop the others), writes the run to the results store and
returns a :class:`MonitorRun`. ``history(name)`` reads every run's metrics back.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from modeltap.errors import ModelTapError, MonitorError
from modeltap.monitor.definition import (
    CustomSignal,
    DataQualitySignal,
    FeatureAttributionDriftSignal,
    InputRef,
    ModelPerformanceSignal,
    MonitorDefinition,
    MonitorInput,
    TopNFeatures,
    load,
)
from modeltap.monitor.engines.base import Engine, Side
from modeltap.monitor.results import HISTOGRAM_SCHEMA, METRIC_SCHEMA, ResultsStore
from modeltap.monitor.signals import SignalResult, drift_signal, performance_signal, quality_signal
from modeltap.monitor.source import Source, resolve_source
from modeltap.monitor.windows import (
    Window,
    default_reference_window,
    default_window_size,
    lookback_window,
    parse_duration,
    run_stamp,
    to_utc,
)

__all__ = ["MonitorRun", "history", "list_monitors", "run"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(signal_name, done, total)`` before each signal and once at the end."""


@dataclass
class MonitorRun:
    """The outcome of one run: its metric rows, per-signal status, and where it is stored."""

    monitor: str
    window_end: dt.datetime
    metrics: pd.DataFrame
    signals: dict[str, dict[str, Any]]
    breached: bool
    status: str
    path: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether any signal failed."""
        return self.status == "failed"

    def to_html(
        self, path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
    ) -> Path:
        """Write this run's self-contained HTML report to ``path`` (needs ``modeltap[ui]``)."""
        from modeltap.report import write_run_report

        return write_run_report(self.path, path, storage_options=storage_options)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _default_destination(
    storage_options: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The configured modeltap destination and its storage options."""
    from modeltap.config import load_settings

    settings = load_settings(None)
    options = (
        dict(settings.collector.storage_options) if storage_options is None else storage_options
    )
    return settings.destination, options


def _production_window(
    definition: MonitorDefinition, data: MonitorInput, at: dt.datetime
) -> tuple[Window, dt.timedelta, dt.timedelta]:
    window = data.data_window
    trigger = definition.trigger
    if window is not None and window.lookback_window_size is not None:
        size = parse_duration(window.lookback_window_size)
    elif trigger is not None and trigger.type == "recurrence":
        size = default_window_size("recurrence", trigger.frequency, trigger.interval)
    else:
        size = default_window_size(trigger.type if trigger is not None else None)
    offset = dt.timedelta(0)
    if window is not None and window.lookback_window_offset is not None:
        offset = parse_duration(window.lookback_window_offset)
    return lookback_window(at, size, offset), size, offset


def _reference_window(data: MonitorInput, at: dt.datetime) -> Window:
    window = data.data_window
    if window is not None and window.window_start is not None and window.window_end is not None:
        return Window(to_utc(window.window_start), to_utc(window.window_end))
    if window is None or window.lookback_window_size is None:
        return Window(None, None)  # no window: the whole dataset
    offset = parse_duration(window.lookback_window_offset or "P0D")
    return lookback_window(at, parse_duration(window.lookback_window_size), offset)


class _Sides:
    """Sides opened once per (source, window), shared by the signals that read them."""

    def __init__(self, engine: Engine, destination: str, options: dict[str, Any]) -> None:
        self.engine = engine
        self.destination = destination
        self.options = options
        self._sources: dict[InputRef, Source] = {}
        self._sides: dict[tuple[str, Window], Side] = {}

    def source(self, ref: InputRef) -> Source:
        source = self._sources.get(ref)
        if source is None:
            source = resolve_source(ref, self.destination, self.options)
            self._sources[ref] = source
        return source

    def get(self, ref: InputRef, window: Window) -> Side:
        source = self.source(ref)
        key = (source.label, window)
        side = self._sides.get(key)
        if side is None:
            side = self.engine.open(source, window)
            self._sides[key] = side
        return side


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema})


def run(
    definition_or_path: str | os.PathLike[str] | Mapping[str, Any] | MonitorDefinition,
    at: str | dt.datetime | None = None,
    destination: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    engine: Engine | str | None = None,
    progress: Progress | None = None,
    spark_master: str | None = None,
    spark_session: Any = None,
) -> MonitorRun:
    """Run a monitor for the windows that end at ``at`` (default: now, UTC, whole seconds).

    ``destination`` (default: the definition's ``destination``, else the configured modeltap
    destination) is where data assets are looked up and results written. Raises
    MonitorDefinitionError for a bad definition and MonitorError when results cannot be written;
    a signal that cannot read its data is recorded as ``failed`` and the others still run.
    ``engine`` computes the aggregates: an engine (left open), or ``"embedded"`` / ``"spark"``
    (default: the definition's ``create_monitor.compute.engine``, else ``"embedded"``; a Spark
    ``spark_session`` implies ``"spark"``), started for the run and closed at the end. Spark
    runs on ``spark_master`` (default: ``compute.master``, else ``MODELTAP_SPARK_MASTER``,
    else ``local[*]``) or on the given session. ``progress(signal, done, total)`` is called
    before each signal and once at the end."""
    definition = load(definition_or_path)
    try:
        moment = dt.datetime.now(dt.UTC) if at is None else to_utc(at, "at")
    except ValueError as exc:
        raise MonitorError(str(exc)) from None
    moment = moment.replace(microsecond=0)
    options = storage_options
    target = destination or definition.destination
    if target is None:
        target, options = _default_destination(storage_options)
    options = options or {}
    started = dt.datetime.now(dt.UTC)
    owned = not isinstance(engine, Engine)
    if not isinstance(engine, Engine):
        engine = _start_engine(definition, engine, spark_master, spark_session)
    results: list[tuple[SignalResult, Window, Window]] = []
    try:
        sides = _Sides(engine, target, options)
        signals = definition.signals
        for index, (name, signal) in enumerate(signals.items()):
            if progress is not None:
                progress(name, index, len(signals))
            results.append(_one_signal(definition, name, signal, sides, moment))
        if progress is not None:
            progress("", len(signals), len(signals))
    finally:
        if owned:  # an engine the caller passed is the caller's to close
            engine.close()
    return _store(definition, results, moment, started, engine.name, target, options)


def _start_engine(
    definition: MonitorDefinition,
    name: str | None,
    master: str | None,
    session: Any,
) -> Engine:
    """The engine a run asked for (by name, the definition's compute, or a Spark session)."""
    compute = definition.create_monitor.compute
    if name is None:
        name = "spark" if session is not None else (compute.engine if compute else None)
    if name == "spark":
        from modeltap.monitor.engines.spark import SparkEngine

        return SparkEngine(
            master=master or (compute.master if compute else None),
            conf=compute.conf if compute else None,
            session=session,
        )
    if name not in (None, "embedded"):
        raise MonitorError(f"unknown monitor engine {name!r}: use 'embedded' or 'spark'")
    from modeltap.monitor.engines.embedded import EmbeddedEngine

    return EmbeddedEngine()


def _one_signal(
    definition: MonitorDefinition,
    name: str,
    signal: Any,
    sides: _Sides,
    at: dt.datetime,
) -> tuple[SignalResult, Window, Window]:
    production_data = signal.production_data
    assert production_data is not None
    production_window, size, offset = _production_window(definition, production_data, at)
    reference_data = signal.reference_data
    if isinstance(signal, CustomSignal):
        return _custom(name, signal, sides, production_window, at)
    if reference_data is None:
        reference_ref = production_data.input_data.ref
        reference_window = default_reference_window(at, size, offset)
    else:
        reference_ref = reference_data.input_data.ref
        reference_window = _reference_window(reference_data, at)
    try:
        production = sides.get(production_data.input_data.ref, production_window)
        reference = sides.get(reference_ref, reference_window)
        if isinstance(signal, FeatureAttributionDriftSignal) or isinstance(
            getattr(signal, "features", None), TopNFeatures
        ):
            from modeltap.monitor.attribution.learning import Learner, SideData

            assert not isinstance(signal, ModelPerformanceSignal)
            learner = Learner.for_signal(definition, signal, sides.destination, sides.options)
            reference_side = SideData(sides.source(reference_ref), reference_window, reference)
            outputs = None
            joined = getattr(signal, "joined_outputs", None)
            if joined is not None:  # the platform's default: inputs joined with outputs
                outputs_side = sides.get(joined, production_window)
                outputs = SideData(sides.source(joined), production_window, outputs_side)
            production_side = SideData(
                sides.source(production_data.input_data.ref),
                production_window,
                production,
                outputs,
            )
        if isinstance(signal, FeatureAttributionDriftSignal):
            from modeltap.monitor.attribution.signal import attribution_signal

            result = attribution_signal(name, signal, learner, reference_side, production_side)
        elif isinstance(signal, ModelPerformanceSignal):
            result = performance_signal(name, signal, sides.engine, reference, production)
        else:
            if isinstance(signal.features, TopNFeatures):
                from modeltap.monitor.attribution.selection import selected_features

                if reference.rows == 0:
                    top: list[str] = []
                else:
                    importances = learner.reference(reference_side).values
                    top = selected_features(signal.features, importances)
                signal = signal.model_copy(update={"features": top or "all_features"})
            if isinstance(signal, DataQualitySignal):
                result = quality_signal(name, signal, reference, production)
            else:
                result = drift_signal(name, signal, reference, production)
    except Exception as exc:  # a bug must not cost the other signals their results
        result = _failed(name, signal.type, exc)
    result.alert_enabled = signal.alert_enabled
    return result, production_window, reference_window


_EXPECTED_FAILURES = (ModelTapError, OSError, ValueError, pa.ArrowException)


def _failed(name: str, kind: str, exc: Exception) -> SignalResult:
    """A signal that raised, recorded as failed: the error's message (a bug's with its type)."""
    error = str(exc) if isinstance(exc, _EXPECTED_FAILURES) else f"{type(exc).__name__}: {exc}"
    return SignalResult(name, kind, status="failed", error=error)


def _custom(
    name: str, signal: CustomSignal, sides: _Sides, production_window: Window, at: dt.datetime
) -> tuple[SignalResult, Window, Window]:
    """A custom signal: both sides read as tables and passed to the user's function."""
    from modeltap.monitor.custom.signal import custom_signal
    from modeltap.monitor.rows import read_rows

    assert signal.production_data is not None
    reference_data = signal.reference_data
    reference_window = (
        Window(None, None) if reference_data is None else _reference_window(reference_data, at)
    )
    try:
        production = read_rows(
            sides.source(signal.production_data.input_data.ref), production_window
        )
        reference = None
        if reference_data is not None:
            reference = read_rows(sides.source(reference_data.input_data.ref), reference_window)
        result = custom_signal(name, signal, production, reference)
    except Exception as exc:  # a bug must not cost the other signals their results
        result = _failed(name, signal.type, exc)
    result.alert_enabled = signal.alert_enabled
    return result, production_window, reference_window


def _store(
    definition: MonitorDefinition,
    results: list[tuple[SignalResult, Window, Window]],
    at: dt.datetime,
    started: dt.datetime,
    engine: str,
    destination: str,
    options: dict[str, Any],
) -> MonitorRun:
    rows: list[dict[str, Any]] = []
    histograms: list[dict[str, Any]] = []
    signals: dict[str, dict[str, Any]] = {}
    for result, production, reference in results:
        for row in result.rows:
            rows.append(
                {
                    **row,
                    "monitor_name": definition.name,
                    "signal_name": result.name,
                    "signal_type": result.type,
                    "production_row_count": result.production_rows,
                    "reference_row_count": result.reference_rows,
                    "window_start": production.start,
                    "window_end": production.end,
                    "reference_window_start": reference.start,
                    "reference_window_end": reference.end,
                    "run_time": started,
                }
            )
        histograms.extend(result.histograms)
        entry: dict[str, Any] = {
            "type": result.type,
            "status": result.status,
            "window_start": _iso(production.start),
            "window_end": _iso(production.end),
            "reference_window_start": _iso(reference.start),
            "reference_window_end": _iso(reference.end),
            "production_row_count": result.production_rows,
            "reference_row_count": result.reference_rows,
            "alert_enabled": result.alert_enabled,
            "schema_changes": (
                result.schema_changes.to_json() if result.schema_changes is not None else None
            ),
        }
        if result.no_data_features:
            entry["no_data_features"] = result.no_data_features
        if result.error is not None:
            entry["error"] = result.error
        message = result.message()
        if message is not None:
            entry["message"] = message
        signals[result.name] = entry
    breached = any(s["status"] == "breached" for s in signals.values())
    status = "failed" if any(s["status"] == "failed" for s in signals.values()) else "succeeded"
    starts = [p.start for _, p, _ in results if p.start is not None]
    info = {
        "monitor": definition.name,
        "window_start": _iso(min(starts)) if starts else None,
        "window_end": _iso(at),
        "engine": engine,
        "start_time": _iso(started),
        "end_time": _iso(dt.datetime.now(dt.UTC)),
        "status": status,
        "breached": breached,
        "signals": signals,
    }
    store = ResultsStore(destination, options)
    stamp = run_stamp(at)
    path = store.write(
        definition.name,
        stamp,
        _table(rows, METRIC_SCHEMA),
        _table(histograms, HISTOGRAM_SCHEMA),
        info,
    )
    metrics: pd.DataFrame = _table(rows, METRIC_SCHEMA).to_pandas()
    return MonitorRun(definition.name, at, metrics, signals, breached, status, path, info)


def history(
    name: str,
    destination: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Every committed run's metric rows of monitor ``name``, oldest first."""
    options = storage_options
    if destination is None:
        destination, options = _default_destination(storage_options)
    store = ResultsStore(destination, options)
    if not store.runs(name):
        known = store.monitors()
        hint = f"; monitors with results: {', '.join(known)}" if known else ""
        raise MonitorError(f"no runs of monitor {name!r} in {store.url}{hint}")
    return store.metrics(name)


def list_monitors(
    destination: str | None = None, *, storage_options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The monitors with results in ``destination``: name, runs, last run, status, breached."""
    options = storage_options
    if destination is None:
        destination, options = _default_destination(storage_options)
    store = ResultsStore(destination, options)
    out = []
    for monitor in store.monitors():
        stamps = store.runs(monitor)
        info = store.run_info(monitor, stamps[-1])
        out.append(
            {
                "monitor": monitor,
                "runs": len(stamps),
                "last_run": stamps[-1],
                "status": info.get("status"),
                "breached": info.get("breached"),
            }
        )
    return out
