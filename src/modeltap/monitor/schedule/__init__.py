"""Monitors that run themselves: due times of triggers, claims in the store, the scheduler."""

from __future__ import annotations

from modeltap.monitor.schedule.due_times import DueTimes, due_times
from modeltap.monitor.schedule.timezones import resolve_time_zone

__all__ = ["DueTimes", "due_times", "resolve_time_zone"]
