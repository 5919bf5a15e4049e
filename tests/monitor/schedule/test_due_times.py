"""Due times of cron and recurrence triggers, in time zones and across DST changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from modeltap.errors import MissingDependencyError, MonitorDefinitionError
from modeltap.monitor import load
from modeltap.monitor.schedule.due_times import DueTimes, due_times
from modeltap.monitor.schedule.timezones import resolve_time_zone

UTC = dt.UTC


def _trigger(trigger: dict[str, Any]) -> DueTimes:
    definition = load(
        {
            "name": "m",
            "trigger": trigger,
            "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
        }
    )
    assert definition.trigger is not None
    return due_times(definition.trigger)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_windows_time_zone_names_map_to_iana() -> None:
    """The platform's Windows names resolve through the CLDR mapping; a typo suggests a zone."""
    assert resolve_time_zone("Pacific Standard Time").key == "America/Los_Angeles"
    assert resolve_time_zone("W. Europe Standard Time").key == "Europe/Berlin"
    assert resolve_time_zone("Europe/Paris").key == "Europe/Paris"
    assert resolve_time_zone(None).key == "UTC"
    with pytest.raises(ValueError, match="did you mean 'Europe/Paris'"):
        resolve_time_zone("Europe/Pari")


def test_daily_recurrence_keeps_wall_time_across_spring_forward() -> None:
    """03:15 New York time every day is 08:15 UTC before the change and 07:15 after."""
    times = _trigger(
        {
            "type": "recurrence",
            "frequency": "day",
            "schedule": {"hours": 3, "minutes": 15},
            "time_zone": "Eastern Standard Time",
        }
    ).between(_utc("2026-03-06T00:00"), _utc("2026-03-10T00:00"))
    assert times == [
        _utc("2026-03-06T08:15"),
        _utc("2026-03-07T08:15"),
        _utc("2026-03-08T07:15"),
        _utc("2026-03-09T07:15"),
    ]


def test_daily_time_in_the_gap_fires_once_when_the_gap_ends() -> None:
    """02:30 does not exist on 2026-03-08 in New York: that day the run is at 03:30 EDT."""
    times = _trigger(
        {
            "type": "cron",
            "expression": "30 2 * * *",
            "time_zone": "America/New_York",
        }
    ).between(_utc("2026-03-07T00:00"), _utc("2026-03-10T00:00"))
    assert times == [
        _utc("2026-03-07T07:30"),
        _utc("2026-03-08T07:30"),  # 03:30 EDT
        _utc("2026-03-09T06:30"),
    ]


def test_daily_time_repeated_at_fall_back_fires_once() -> None:
    """01:30 occurs twice on 2026-11-01 in New York: a daily cron runs at the first only."""
    times = _trigger(
        {"type": "cron", "expression": "30 1 * * *", "time_zone": "America/New_York"}
    ).between(_utc("2026-10-31T00:00"), _utc("2026-11-03T00:00"))
    assert times == [
        _utc("2026-10-31T05:30"),
        _utc("2026-11-01T05:30"),
        _utc("2026-11-02T06:30"),
    ]


@pytest.mark.parametrize(
    "trigger",
    [
        {"type": "recurrence", "frequency": "hour", "time_zone": "America/New_York"},
        {"type": "cron", "expression": "0 * * * *", "time_zone": "America/New_York"},
    ],
)
def test_hourly_runs_every_real_hour_across_both_changes(trigger: dict[str, Any]) -> None:
    """Hourly triggers run once per UTC hour through spring forward and fall back."""
    due = _trigger(trigger)
    for start in ("2026-03-08T04:00", "2026-11-01T03:00"):
        times = due.between(_utc(start), _utc(start) + dt.timedelta(hours=6))
        assert times == [_utc(start) + dt.timedelta(hours=h) for h in range(1, 7)]


def test_weekly_recurrence_with_interval_and_week_days() -> None:
    """Every second week on Monday and Thursday at 06:00, periods counted from start_time."""
    due = _trigger(
        {
            "type": "recurrence",
            "frequency": "week",
            "interval": 2,
            "schedule": {"hours": [6], "minutes": [0], "week_days": ["monday", "Thu"]},
            "start_time": "2026-01-05T00:00:00",
        }
    )
    times = due.between(_utc("2026-01-01T00:00"), _utc("2026-02-01T00:00"))
    assert times == [
        _utc("2026-01-05T06:00"),
        _utc("2026-01-08T06:00"),
        _utc("2026-01-19T06:00"),
        _utc("2026-01-22T06:00"),
    ]


def test_minutely_recurrence_far_from_its_anchor_is_fast_and_aligned() -> None:
    """Every 15 minutes, decades after the anchor: aligned to the quarter hour, end_time kept."""
    due = _trigger(
        {
            "type": "recurrence",
            "frequency": "minute",
            "interval": 15,
            "end_time": "2026-12-06T19:00:00Z",
        }
    )
    assert due.next_after(_utc("2026-12-06T18:31")) == _utc("2026-12-06T18:45")
    assert due.between(_utc("2026-12-06T18:00"), _utc("2026-12-07T00:00")) == [
        _utc("2026-12-06T18:15"),
        _utc("2026-12-06T18:30"),
        _utc("2026-12-06T18:45"),
        _utc("2026-12-06T19:00"),
    ]
    assert due.next_after(_utc("2026-12-06T19:00")) is None


def test_monthly_recurrence_defaults_to_the_first_at_midnight() -> None:
    """A monthly trigger without schedule runs on the 1st at 00:00 in its zone."""
    due = _trigger({"type": "recurrence", "frequency": "month", "time_zone": "Europe/Paris"})
    assert due.next_after(_utc("2026-12-06T00:00")) == _utc("2026-12-31T23:00")


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"type": "cron", "expression": "61 * * * *"}, "trigger.expression: '61 \\* \\* \\* \\*'"),
        ({"type": "cron", "expression": "0 * * * *", "time_zone": "Mars/Base"}, "time_zone"),
        (
            {"type": "recurrence", "frequency": "day", "schedule": {"week_days": ["funday"]}},
            "trigger.schedule.week_days: 'funday' is not a week day",
        ),
        ({"type": "cron", "expression": "0 * * * *", "catch_up": -1}, "trigger.catch_up"),
        (
            {"type": "recurrence", "frequency": "day", "schedule": {"hours": [3, 24]}},
            "trigger.schedule.hours: 24 is out of range: hours are 0..23",
        ),
        (
            {"type": "cron", "expression": "0 * * * *", "recompute_late": "soon"},
            "trigger.recompute_late: 'soon' is not an ISO 8601 duration",
        ),
        (
            {"type": "cron", "expression": "0 * * * *", "start_time": "yesterday"},
            "trigger.start_time: 'yesterday' is not a time",
        ),
    ],
)
def test_bad_trigger_keys_fail_at_load(trigger: dict[str, Any], message: str) -> None:
    """Each bad trigger key is refused when the definition loads, naming its key path."""
    with pytest.raises(MonitorDefinitionError, match=message):
        _trigger(trigger)


def test_a_missing_cron_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without croniter, a cron trigger fails at load with the install hint."""
    import sys

    monkeypatch.setitem(sys.modules, "croniter", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "modeltap\[monitor\]"'):
        _trigger({"type": "cron", "expression": "0 * * * *"})
