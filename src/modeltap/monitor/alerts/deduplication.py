"""Which signals to alert about: a signal that stays breached alerts once, then again only after
``renotify_after`` (default ``P1D``, counted in window time) or when it recovers and breaches
again; a breached signal back under its thresholds gets a recovery notice.

The state is kept in the store, ``_monitoring/{monitor}/alerts/state.json``, so a restarted
scheduler does not alert again. Windows older than the last one seen (a late rerun of an old
window) change nothing. Signals that failed or had no data keep their state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import to_utc

__all__ = ["AlertDecision", "AlertState"]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AlertDecision:
    """What to send for one window."""

    breached: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


class AlertState:
    """The alert state of one monitor in the store."""

    def __init__(self, store: ScheduleStore) -> None:
        self.store = store

    def _load(self) -> dict[str, Any]:
        data = self.store.read("state.json")
        return orjson.loads(data) if data else {"window": None, "signals": {}}

    def decide(
        self,
        window_end: dt.datetime,
        statuses: dict[str, str],
        renotify_after: dt.timedelta,
    ) -> AlertDecision:
        """Decide for a window whose signals (the ones with alerts enabled) have ``statuses``,
        and record the new state."""
        state = self._load()
        last = state.get("window")
        if last is not None and window_end < to_utc(last):
            return AlertDecision()
        signals: dict[str, dict[str, Any]] = state.setdefault("signals", {})
        breached: list[str] = []
        recovered: list[str] = []
        for name, status in statuses.items():
            previous = signals.get(name, {"breached": False, "notified_at": None})
            if status == "breached":
                notified = previous.get("notified_at")
                due_again = notified is None or window_end - to_utc(notified) >= renotify_after
                if not previous.get("breached") or due_again:
                    breached.append(name)
                    previous = {"breached": True, "notified_at": _iso(window_end)}
                else:
                    previous = {**previous, "breached": True}
            elif status == "ok":
                if previous.get("breached"):
                    recovered.append(name)
                previous = {"breached": False, "notified_at": None}
            signals[name] = previous
        state["window"] = _iso(window_end)
        self.store.replace("state.json", orjson.dumps(state, option=orjson.OPT_INDENT_2))
        return AlertDecision(breached, recovered)
