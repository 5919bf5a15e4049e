"""Which signals to alert about: a signal that stays breached alerts once, then again only after
``renotify_after`` (default ``P1D``, counted in window time) or when it recovers and breaches
again; a breached signal back under its thresholds gets a recovery notice.

The state is kept in the store, ``_monitoring/{monitor}/alerts/state.json``, so a restarted
scheduler does not alert again; it is read and written by the holder of the monitor's lease
only (see :mod:`~modeltap.monitor.schedule.lease`). Signals that failed or had no data keep
their state.

Windows may finish out of order (a window retried after a failure while later ones ran, a
caught-up or late-data rerun). The state follows the newest window; for each signal it also
keeps its recent notifications (breach and recovery, by window). A window older than the newest
one seen never changes the current state and never sends a recovery notice; its breach of a
signal is notified unless a breach notification of that signal already covers it: one in the
same episode (no recovery notified between the two windows) within ``renotify_after`` of it, or
of that very window. So an older window's breach is neither dropped nor sent twice.
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


_KEPT = 64  # notifications kept per signal to judge older windows by


def _covered(
    events: list[tuple[dt.datetime, str]], window: dt.datetime, every: dt.timedelta
) -> bool:
    """Whether a breach notification in ``window``'s episode covers a breach in it."""
    recoveries = [moment for moment, kind in events if kind == "recovery"]
    began = max((r for r in recoveries if r <= window), default=None)
    ended = min((r for r in recoveries if r > window), default=None)
    return any(
        kind == "breach"
        and (began is None or moment > began)
        and (ended is None or moment < ended)
        and (moment == window or abs(moment - window) < every)
        for moment, kind in events
    )


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
        older = last is not None and window_end < to_utc(last)
        signals: dict[str, dict[str, Any]] = state.setdefault("signals", {})
        breached: list[str] = []
        recovered: list[str] = []
        for name, status in statuses.items():
            previous = signals.get(name, {"breached": False, "notified_at": None})
            events = [(to_utc(moment), kind) for moment, kind in previous.get("events", [])]
            if older:
                if status == "breached" and not _covered(events, window_end, renotify_after):
                    breached.append(name)
                    events.append((window_end, "breach"))
            elif status == "breached":
                notified = previous.get("notified_at")
                due_again = notified is None or window_end - to_utc(notified) >= renotify_after
                if not previous.get("breached") or due_again:
                    breached.append(name)
                    events.append((window_end, "breach"))
                    previous = {"breached": True, "notified_at": _iso(window_end)}
                else:
                    previous = {**previous, "breached": True}
            elif status == "ok":
                if previous.get("breached"):
                    recovered.append(name)
                    events.append((window_end, "recovery"))
                previous = {"breached": False, "notified_at": None}
            kept = sorted(set(events))[-_KEPT:]
            signals[name] = {
                "breached": bool(previous.get("breached")),
                "notified_at": previous.get("notified_at"),
                "events": [[_iso(moment), kind] for moment, kind in kept],
            }
        if not older:
            state["window"] = _iso(window_end)
        self.store.replace("state.json", orjson.dumps(state, option=orjson.OPT_INDENT_2))
        return AlertDecision(breached, recovered)
