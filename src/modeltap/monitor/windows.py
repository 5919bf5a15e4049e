"""Window arithmetic: ISO 8601 durations, lookback windows, and the defaults from the trigger.

A window is ``[run_time - offset - size, run_time - offset)`` in UTC. The production window's
size comes from the trigger when not given (minute/hour recurrence ``P1D``; day ``P{n}D``; week
``P{7n}D``; month ``P{30n}D``; cron ``P7D``), its offset is ``P0D``; the default reference is
the window right before it, twice as long (size ``2P``, offset ``offset + P``). Windows are
filtered by the record time exactly (folders are only used to prune), so a window need not
start or end on an hour.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from modeltap.errors import InvalidTimeError
from modeltap.reading.window import to_time

__all__ = [
    "Window",
    "default_reference_window",
    "default_window_size",
    "format_duration",
    "lookback_window",
    "parse_duration",
    "run_stamp",
    "to_utc",
]

_UTC = dt.UTC
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration (``P7D``, ``PT6H``, ``P1DT12H``, ``P2W``) as a timedelta.

    A month counts 30 days and a year 365 (as the platform's trigger defaults do). Raises
    ValueError naming the text and the accepted form."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration: use P<n>D, PT<n>H, PT<n>M, P<n>W or a "
            "combination such as P1DT12H"
        )
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v}
    days = parts.get("days", 0) + 7 * parts.get("weeks", 0) + 30 * parts.get("months", 0)
    days += 365 * parts.get("years", 0)
    return dt.timedelta(
        days=days,
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )


def format_duration(value: dt.timedelta) -> str:
    """A timedelta as an ISO 8601 duration (``P7D``, ``PT6H``, ``P1DT30M``, ``P0D``)."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{int(days)}D" if days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{int(hours)}H"
    if minutes:
        clock += f"{int(minutes)}M"
    if seconds:
        clock += f"{seconds:g}S"
    if clock:
        return f"{text}T{clock}"
    return text if days else f"{sign}P0D"


def to_utc(value: object, label: str = "time") -> dt.datetime:
    """A time (ISO 8601 text, datetime, date or pandas Timestamp) as an aware UTC datetime;
    naive values are taken as UTC. Raises InvalidTimeError (a ValueError) naming ``label`` and
    the value. The same parsing as a read's ``start``/``end``, with the time required."""
    result = to_time(value, label)
    if result is None:
        raise InvalidTimeError(
            f"{label} None is not a time: use ISO 8601 such as '2024-05-01T12:00:00Z'"
        )
    return result


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC; ``None`` on a side means unbounded (a whole dataset)."""

    start: dt.datetime | None
    end: dt.datetime | None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(
                f"window start {self.start.isoformat()} is after its end {self.end.isoformat()}"
            )

    @property
    def bounded(self) -> bool:
        """Whether both ends are set."""
        return self.start is not None and self.end is not None

    def hours(self) -> list[Window]:
        """The window cut at every hour boundary (whole hours inside, partial ones at the ends).

        A window without both ends is returned whole."""
        if self.start is None or self.end is None:
            return [self]
        pieces = []
        lo = self.start
        while lo < self.end:
            hi = min(
                lo.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1), self.end
            )
            pieces.append(Window(lo, hi))
            lo = hi
        return pieces


def lookback_window(at: dt.datetime, size: dt.timedelta, offset: dt.timedelta) -> Window:
    """``[at - offset - size, at - offset)``."""
    end = at - offset
    return Window(end - size, end)


def default_window_size(
    trigger_type: str | None, frequency: str | None = None, interval: int = 1
) -> dt.timedelta:
    """The production window's size when the definition does not give one."""
    if trigger_type == "recurrence":
        if frequency in ("minute", "hour"):
            return dt.timedelta(days=1)
        per = {"day": 1, "week": 7, "month": 30}.get(frequency or "day", 1)
        return dt.timedelta(days=per * interval)
    return dt.timedelta(days=7)  # cron, or no trigger


def default_reference_window(
    at: dt.datetime, size: dt.timedelta, offset: dt.timedelta = dt.timedelta(0)
) -> Window:
    """The window right before the production window ``[at - offset - size, at - offset)``:
    size ``2 * size``, offset ``offset + size``."""
    return lookback_window(at, 2 * size, offset + size)


def run_stamp(moment: dt.datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` of a UTC time (the name of a run's folder)."""
    return moment.astimezone(_UTC).strftime("%Y%m%dT%H%M%SZ")
