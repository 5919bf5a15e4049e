"""``modeltap monitor status``: each scheduled monitor's trigger, next due time, last window and
its status, read from the scheduler's files in the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from modeltap.monitor.definition import MonitorDefinition
from modeltap.monitor.results import ResultsStore
from modeltap.monitor.schedule.claims import Ledger
from modeltap.monitor.schedule.due_times import due_times
from modeltap.monitor.schedule.lease import MonitorLease
from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import to_utc

__all__ = ["describe_trigger", "schedule_status"]


def describe_trigger(definition: MonitorDefinition) -> str:
    """A short text for the trigger (``cron 15 3 * * * Europe/Paris``, ``every 2 week``)."""
    trigger = definition.trigger
    if trigger is None:
        return "no trigger"
    zone = f" {trigger.time_zone}" if trigger.time_zone else ""
    if trigger.type == "cron":
        return f"cron {trigger.expression}{zone}"
    every = f"every {trigger.interval} " if trigger.interval != 1 else "every "
    return f"{every}{trigger.frequency}{zone}"


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _row(
    name: str,
    definition: MonitorDefinition | None,
    destination: str,
    storage_options: dict[str, Any] | None,
    moment: dt.datetime,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "monitor": name,
        "trigger": describe_trigger(definition) if definition is not None else None,
        "next_due": None,
        "last_window": None,
        "last_status": None,
        "attempts": None,
        "error": None,
        "held_by": None,
    }
    if definition is not None and definition.trigger is not None:
        row["next_due"] = _iso(due_times(definition.trigger).next_after(moment))
    store = ScheduleStore(destination, name, storage_options)
    holder = MonitorLease(store, owner="", stale_after=dt.timedelta(0)).holder()
    if holder is not None and holder.get("state") == "held":
        row["held_by"] = f"{holder.get('owner')} (renewed {holder.get('renewed_at')})"
    ledger = Ledger(store)
    stamps = ledger.windows()
    if stamps:
        due = to_utc(stamps[-1])
        state = ledger.state(due)
        row["last_window"] = _iso(due)
        if state.outcome is not None:
            row["last_status"] = state.outcome.get("status")
            row["attempts"] = state.outcome.get("attempts")
            row["error"] = state.outcome.get("error")
        elif state.last is not None:
            row["last_status"] = "retrying" if state.last.state == "failed" else state.last.state
            row["attempts"] = state.last.number
            row["error"] = state.last.error
    return row


def schedule_status(
    definitions: Sequence[MonitorDefinition] | None,
    destination: str,
    *,
    storage_options: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per monitor: ``monitor``, ``trigger``, ``next_due``, ``last_window``, ``last_status``
    (``succeeded``, ``failed``, ``running``, ``retrying``, ``released``, ``skipped`` (missed
    beyond ``catch_up``) or None), ``attempts``, ``error`` and ``held_by`` (the scheduler
    holding the monitor's lease, ``host:pid`` and when it last renewed it). Without
    definitions: every monitor the store holds schedule progress of (their trigger and next due
    time unknown)."""
    moment = now or dt.datetime.now(dt.UTC)
    if definitions is not None:
        return [_row(d.name, d, destination, storage_options, moment) for d in definitions]
    names = ResultsStore(destination, storage_options).monitors()
    return [
        _row(name, None, destination, storage_options, moment)
        for name in names
        if ScheduleStore(destination, name, storage_options).list("windows")
    ]
