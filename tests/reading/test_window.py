"""The time window of a read: ISO 8601 text and datetimes to UTC, clear errors otherwise."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from modeltap.errors import InvalidTimeError
from modeltap.reading.window import to_time, window

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 5, 1, 12, tzinfo=UTC)),
        (dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (
            pd.Timestamp("2024-05-01T12:00", tz="Europe/Paris"),
            dt.datetime(2024, 5, 1, 10, tzinfo=UTC),
        ),
        (None, None),
    ],
)
def test_times_become_utc(value: object, expected: dt.datetime | None) -> None:
    """Text, datetimes and timestamps become aware UTC datetimes; naive ones are UTC."""
    assert to_time(value, "start") == expected


@pytest.mark.parametrize("value", ["soonish", 42, "NaT"])
def test_what_is_not_a_time_is_named(value: object) -> None:
    """Anything else is an InvalidTimeError naming the argument and the accepted forms."""
    with pytest.raises(InvalidTimeError, match=r"start .* is not a time .* ISO 8601"):
        to_time(value, "start")


def test_start_after_end_is_refused() -> None:
    """A window whose start is after its end is an error."""
    with pytest.raises(InvalidTimeError, match="is after end"):
        window("2024-05-02", "2024-05-01")
    assert window(None, "2024-05-01") == (None, dt.datetime(2024, 5, 1, tzinfo=UTC))
