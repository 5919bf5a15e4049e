"""Times on the command line: ISO 8601 and relative forms, and errors naming the accepted forms."""

from __future__ import annotations

import datetime as dt

import pytest

from modeltap.cli.times import parse_duration, parse_time, window
from modeltap.errors import InvalidTimeError

NOW = dt.datetime(2026, 7, 12, 9, 30, tzinfo=dt.UTC)


def now() -> dt.datetime:
    """A fixed clock."""
    return NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-01", dt.datetime(2026, 7, 1, tzinfo=dt.UTC)),
        ("2026-07-01T08:00:00Z", dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)),
        ("2026-07-01T10:00+02:00", dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)),
        ("2026-07-01 08:00", dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)),
        ("-2d", NOW - dt.timedelta(days=2)),
        ("-90m", NOW - dt.timedelta(minutes=90)),
        ("-1h30m", NOW - dt.timedelta(minutes=90)),
        ("-1w", NOW - dt.timedelta(days=7)),
        ("now", NOW),
    ],
)
def test_accepted_times(text: str, expected: dt.datetime) -> None:
    """ISO 8601 (naive is UTC) and times relative to now give aware UTC datetimes."""
    assert parse_time(text, "--start", now) == expected


@pytest.mark.parametrize("text", ["1h", "today", "07/12/2026", "2026", "-2 days", "yesterday"])
def test_other_times_are_errors_naming_the_forms(text: str) -> None:
    """'1h' is not read as year 1, 'today' is not guessed: the error names what is accepted."""
    with pytest.raises(InvalidTimeError) as info:
        parse_time(text, "--end", now)
    message = str(info.value)
    assert f"--end {text!r} is not a time" in message
    assert "ISO 8601" in message and "-2h" in message and "now" in message


def test_durations() -> None:
    """--since takes a number and a unit, or several; anything else names the forms."""
    assert parse_duration("1h") == dt.timedelta(hours=1)
    assert parse_duration("1d12h") == dt.timedelta(hours=36)
    for bad in ("1 hour", "-1h", "h", "2026-07-01"):
        with pytest.raises(InvalidTimeError, match="is not a duration: use a number and a unit"):
            parse_duration(bad)


def test_window() -> None:
    """--since is now minus the duration; it excludes --start; start after end is refused."""
    assert window(None, None, "2h", now) == (NOW - dt.timedelta(hours=2), None)
    assert window("-2h", "-1h", None, now) == (
        NOW - dt.timedelta(hours=2), NOW - dt.timedelta(hours=1)
    )
    with pytest.raises(InvalidTimeError, match="--since or --start, not both"):
        window("-2h", None, "1h", now)
    with pytest.raises(InvalidTimeError, match="is after --end"):
        window("-1h", "-2h", None, now)
