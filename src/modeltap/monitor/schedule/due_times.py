"""When a trigger is due: the instants (UTC) at which a monitor runs.

``type: cron`` is evaluated by croniter and ``type: recurrence`` by dateutil's ``rrule``, both in
the trigger's wall-clock time (``time_zone``, default UTC). Across a daylight-saving change:

- a wall time that does not exist (the clock jumps from 02:00 to 03:00) fires when the gap ends,
  at most once per instant;
- a wall time that occurs twice (the clock goes back) fires at its first occurrence, and also at
  its second when the trigger fires every hour or more often (``frequency: minute | hour``, or
  a cron expression whose hour field is ``*``), so such monitors keep running every hour.

Without ``start_time``, periods are counted from 2000-01-03 00:00 (a Monday) in the trigger's
zone: ``interval: 2`` weeks fall on the same weeks for every scheduler. A weekly recurrence
without ``week_days`` runs on Mondays, a monthly one without ``month_days`` on the 1st, a daily
one without ``schedule`` at midnight. ``end_time`` ends the schedule (inclusive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dateutil import rrule
from dateutil.relativedelta import relativedelta

from modeltap.monitor.schedule.dependencies import optional_module
from modeltap.monitor.schedule.timezones import resolve_time_zone

if TYPE_CHECKING:
    from modeltap.monitor.definition import CronTrigger, RecurrenceTrigger

__all__ = ["DueTimes", "due_times", "parse_trigger_time", "week_day"]

_UTC = dt.UTC
_ANCHOR = dt.datetime(2000, 1, 3)  # a Monday, 00:00
_FREQUENCIES: dict[str, Any] = {
    "minute": rrule.MINUTELY,
    "hour": rrule.HOURLY,
    "day": rrule.DAILY,
    "week": rrule.WEEKLY,
    "month": rrule.MONTHLY,
}
_WEEK_DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_HORIZONS = (dt.timedelta(days=2), dt.timedelta(days=40), dt.timedelta(days=400))


def week_day(name: str) -> Any:
    """dateutil's weekday for ``monday`` ... ``sunday`` (or ``mon`` ... ``sun``, any case)."""
    text = name.strip().lower()
    for full, day in _WEEK_DAYS.items():
        if text in (full, full[:3]):
            return day
    raise ValueError(f"{name!r} is not a week day: use monday, tuesday, ... sunday")


def parse_trigger_time(value: str, zone: ZoneInfo) -> dt.datetime:
    """``start_time`` / ``end_time``: ISO 8601, a time without offset being in ``zone``."""
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: use ISO 8601 such as '2024-05-01T03:00:00'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(_UTC)


def _as_list(value: list[int] | int | list[str] | str | None) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class DueTimes:
    """The due instants of one trigger."""

    zone: ZoneInfo
    start: dt.datetime | None
    end: dt.datetime | None
    every_hour: bool
    _walls: Any  # (naive wall time) -> iterator of naive wall times after it, ascending

    def between(self, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """Due instants in ``(after, until]``, UTC, ascending."""
        after, until = after.astimezone(_UTC), until.astimezone(_UTC)
        if self.start is not None and self.start > after:
            after = self.start - dt.timedelta(microseconds=1)
        if self.end is not None:
            until = min(until, self.end)
        if until <= after:
            return []
        margin = dt.timedelta(hours=26)  # the widest offset change between UTC and wall time
        low = after.astimezone(self.zone).replace(tzinfo=None) - margin
        high = until.astimezone(self.zone).replace(tzinfo=None) + margin
        found: set[dt.datetime] = set()
        for wall in self._walls(low):
            if wall > high:
                break
            folds = (0, 1) if self.every_hour else (0,)
            for fold in folds:
                moment = wall.replace(tzinfo=self.zone, fold=fold).astimezone(_UTC)
                if after < moment <= until:
                    found.add(moment)
        return sorted(found)

    def iter_after(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Due instants after ``after``, ascending, lazily."""
        low = after
        while self.end is None or low < self.end:
            for horizon in _HORIZONS:
                found = self.between(low, low + horizon)
                if found:
                    yield from found
                    low = found[-1]
                    break
            else:
                return

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """The first due instant after ``after``, or None when the schedule has ended."""
        moment: dt.datetime | None = next(self.iter_after(after), None)
        return moment


def _cron(trigger: CronTrigger, zone: ZoneInfo) -> Any:
    croniter = optional_module("croniter").croniter

    def walls(low: dt.datetime) -> Iterator[dt.datetime]:
        it = croniter(trigger.expression, low)
        while True:
            yield it.get_next(dt.datetime)

    return walls


def _rebase(anchor: dt.datetime, target: dt.datetime, frequency: str, interval: int) -> dt.datetime:
    """The latest point of the period grid from ``anchor`` that is at least a period before
    ``target`` (so iteration starts near the target instead of at the anchor)."""
    if target <= anchor:
        return anchor
    if frequency == "month":
        months = (target.year - anchor.year) * 12 + target.month - anchor.month
        periods = max(months // interval - 1, 0)
        return anchor + relativedelta(months=periods * interval)
    unit = {
        "minute": dt.timedelta(minutes=1),
        "hour": dt.timedelta(hours=1),
        "day": dt.timedelta(days=1),
        "week": dt.timedelta(days=7),
    }[frequency]
    periods = max(int((target - anchor) / (unit * interval)) - 1, 0)
    return anchor + unit * interval * periods


def _recurrence(trigger: RecurrenceTrigger, zone: ZoneInfo, start: dt.datetime | None) -> Any:
    schedule = trigger.schedule
    anchor = _ANCHOR if start is None else start.astimezone(zone).replace(tzinfo=None)
    frequency = trigger.frequency
    hours = _as_list(schedule.hours if schedule else None)
    minutes = _as_list(schedule.minutes if schedule else None)
    days = [week_day(d) for d in _as_list(schedule.week_days if schedule else None)]
    month_days = _as_list(schedule.month_days if schedule else None)
    options: dict[str, Any] = {"bysecond": 0}
    if frequency != "minute":
        options["byminute"] = minutes or [anchor.minute]
    if frequency in ("day", "week", "month"):
        options["byhour"] = hours or [anchor.hour]
    elif hours:
        options["byhour"] = hours
    if frequency == "week":
        options["byweekday"] = days or [rrule.weekday(anchor.weekday())]
    elif days:
        options["byweekday"] = days
    if frequency == "month":
        if month_days:
            options["bymonthday"] = month_days
        elif not days:
            options["bymonthday"] = [anchor.day if start is not None else 1]
    if frequency == "minute" and minutes:
        options["byminute"] = minutes
    if frequency == "month":
        grid = anchor.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif frequency in ("day", "week"):
        grid = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
        if frequency == "week":
            grid -= dt.timedelta(days=grid.weekday())
    else:
        grid = anchor.replace(second=0, microsecond=0)

    def walls(low: dt.datetime) -> Iterator[dt.datetime]:
        rule = rrule.rrule(
            _FREQUENCIES[frequency],
            interval=trigger.interval,
            dtstart=_rebase(grid, low, frequency, trigger.interval),
            **options,
        )
        yield from rule.xafter(low, inc=False)

    return walls


def due_times(trigger: CronTrigger | RecurrenceTrigger) -> DueTimes:
    """The due instants of a trigger. Raises ValueError for a bad zone, time or expression."""
    zone = resolve_time_zone(trigger.time_zone)
    start = parse_trigger_time(trigger.start_time, zone) if trigger.start_time else None
    end = parse_trigger_time(trigger.end_time, zone) if trigger.end_time else None
    if trigger.type == "cron":
        hour_field = trigger.expression.split()[1]
        return DueTimes(zone, start, end, hour_field == "*", _cron(trigger, zone))
    every_hour = trigger.frequency in ("minute", "hour")
    return DueTimes(zone, start, end, every_hour, _recurrence(trigger, zone, start))
