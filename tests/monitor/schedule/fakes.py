"""Test doubles for the scheduler: a clock the test drives and a runner that records calls."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from modeltap.monitor import MonitorDefinition, MonitorRun, load

UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    """An aware UTC datetime from ISO text without offset."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def definition(name: str = "m", **trigger: Any) -> MonitorDefinition:
    """An out-of-box monitor with an hourly recurrence (keys of ``trigger`` override it)."""
    return load(
        {
            "name": name,
            "trigger": {"type": "recurrence", "frequency": "hour", **trigger},
            "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
        }
    )


class FakeClock:
    """A clock that moves only when told to, or when the scheduler waits."""

    def __init__(self, now: dt.datetime) -> None:
        self.current = now
        self.waits: list[float] = []

    def now(self) -> dt.datetime:
        """The current fake time."""
        return self.current

    def advance(self, delta: dt.timedelta) -> None:
        """Move time forward."""
        self.current += delta

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Move time forward by ``seconds`` at once."""
        self.waits.append(seconds)
        self.current += dt.timedelta(seconds=seconds)
        return stop.is_set()


def fake_run(
    name: str,
    at: dt.datetime,
    *,
    status: str = "succeeded",
    breached: bool = False,
    signals: dict[str, dict[str, Any]] | None = None,
    metrics: pd.DataFrame | None = None,
) -> MonitorRun:
    """A MonitorRun as the core returns it."""
    signals = signals or {"data-drift-signal": {"type": "data_drift", "status": "ok"}}
    return MonitorRun(
        name,
        at,
        metrics if metrics is not None else pd.DataFrame(),
        signals,
        breached,
        status,
        f"/store/{name}",
        {"status": status, "breached": breached, "signals": signals},
    )


class RecordingRunner:
    """Records each call's monitor and ``at``; ``behaviour(call_index, name, at)`` may raise or
    return a run (default: a succeeded run)."""

    def __init__(
        self, behaviour: Callable[[int, str, dt.datetime], MonitorRun | None] | None = None
    ) -> None:
        self.calls: list[tuple[str, dt.datetime]] = []
        self.behaviour = behaviour

    def __call__(
        self,
        definition_or_path: MonitorDefinition,
        at: dt.datetime,
        destination: str | None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> MonitorRun:
        """Record the call and answer."""
        self.calls.append((definition_or_path.name, at))
        if self.behaviour is not None:
            result = self.behaviour(len(self.calls) - 1, definition_or_path.name, at)
            if result is not None:
                return result
        return fake_run(definition_or_path.name, at)
