"""Window arithmetic: durations, lookback windows, trigger defaults and hour boundaries."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from modeltap.monitor.windows import (
    Window,
    default_reference_window,
    default_window_size,
    format_duration,
    lookback_window,
    parse_duration,
    run_stamp,
    to_utc,
)

UTC = dt.UTC
AT = dt.datetime(2024, 5, 8, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", dt.timedelta(days=7)),
        ("PT6H", dt.timedelta(hours=6)),
        ("PT30M", dt.timedelta(minutes=30)),
        ("PT1.5S", dt.timedelta(seconds=1.5)),
        ("P1DT12H", dt.timedelta(days=1, hours=12)),
        ("P2W", dt.timedelta(days=14)),
        ("P1M", dt.timedelta(days=30)),
        ("P0D", dt.timedelta(0)),
        ("p7d", dt.timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    """ISO 8601 durations as the platform writes them."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7D", "P", "PT", "P7", "7 days", "P1H", "", "PT1D"])
def test_parse_duration_refuses(text: str) -> None:
    """Anything else is refused with the accepted form."""
    with pytest.raises(ValueError, match="is not an ISO 8601 duration: use P<n>D"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P7D", "PT6H", "P1DT30M", "P0D", "PT1.5S"])
def test_format_duration_round_trips(text: str) -> None:
    """format_duration writes what parse_duration reads."""
    assert format_duration(parse_duration(text)) == text


def test_lookback_window() -> None:
    """``[at - offset - size, at - offset)``."""
    window = lookback_window(AT, dt.timedelta(days=7), dt.timedelta(days=1))
    assert window == Window(
        dt.datetime(2024, 4, 30, 3, 15, tzinfo=UTC), dt.datetime(2024, 5, 7, 3, 15, tzinfo=UTC)
    )


def test_default_reference_is_twice_as_long_right_before() -> None:
    """The default reference: size 2P, offset P (plus the production offset)."""
    size = dt.timedelta(days=1)
    production = lookback_window(AT, size, dt.timedelta(0))
    reference = default_reference_window(AT, size)
    assert reference.end == production.start
    assert reference.start is not None and reference.end is not None
    assert reference.end - reference.start == 2 * size
    shifted = default_reference_window(AT, size, dt.timedelta(hours=6))
    assert shifted.end == AT - dt.timedelta(hours=6) - size


@pytest.mark.parametrize(
    ("trigger", "frequency", "interval", "days"),
    [
        ("recurrence", "minute", 5, 1),
        ("recurrence", "hour", 2, 1),
        ("recurrence", "day", 1, 1),
        ("recurrence", "day", 3, 3),
        ("recurrence", "week", 2, 14),
        ("recurrence", "month", 1, 30),
        ("cron", None, 1, 7),
        (None, None, 1, 7),
    ],
)
def test_default_window_size(
    trigger: str | None, frequency: str | None, interval: int, days: int
) -> None:
    """The production window's size from the trigger, as the platform derives it."""
    assert default_window_size(trigger, frequency, interval) == dt.timedelta(days=days)


def test_hours_cut_at_boundaries() -> None:
    """A window cut at every hour boundary: partial first and last pieces, whole hours inside."""
    window = Window(
        dt.datetime(2024, 5, 8, 1, 30, tzinfo=UTC), dt.datetime(2024, 5, 8, 4, 0, tzinfo=UTC)
    )
    pieces = window.hours()
    assert [(p.start.hour, p.start.minute) for p in pieces if p.start] == [
        (1, 30),
        (2, 0),
        (3, 0),
    ]
    assert pieces[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    assert Window(None, None).hours() == [Window(None, None)]
    on_the_hour = Window(
        dt.datetime(2024, 5, 8, 2, tzinfo=UTC), dt.datetime(2024, 5, 8, 3, tzinfo=UTC)
    )
    assert on_the_hour.hours() == [on_the_hour]


def test_window_refuses_reversed_bounds() -> None:
    """A window whose start is after its end is refused."""
    with pytest.raises(ValueError, match="is after its end"):
        Window(AT, AT - dt.timedelta(seconds=1))


def test_times_and_stamps() -> None:
    """Times become aware UTC; a run's folder name is YYYYMMDDTHHMMSSZ."""
    assert to_utc("2024-05-08T05:15:00+02:00") == AT
    assert to_utc("2024-05-08T03:15:00") == AT
    assert run_stamp(AT) == "20240508T031500Z"
    with pytest.raises(ValueError, match="--at 'soon' is not a time"):
        to_utc("soon", "--at")
