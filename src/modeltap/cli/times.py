"""Times on the command line: ISO 8601, or relative to now (``-2d``, ``-90m``, ``now``), and
durations (``1h``, ``30m``, ``1h30m``) for ``--since``. Nothing else is guessed at: ``1h`` as a
time, ``today`` or ``07/12/2026`` are errors that name the accepted forms."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from modeltap.errors import InvalidTimeError

__all__ = ["TIME_FORMS", "parse_duration", "parse_time", "window"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_PART = re.compile(r"(\d+)([smhdw])")

TIME_FORMS = (
    "ISO 8601 (2026-07-12, 2026-07-12T09:30:00Z, 2026-07-12T09:30+02:00; UTC when no offset "
    "is given) or a time relative to now (-30m, -2h, -7d, -1h30m, now)"
)
_DURATION_FORMS = "a number and a unit: 30s, 15m, 2h, 7d, 1w, or several such as 1h30m"

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_duration(text: str, option: str = "--since") -> dt.timedelta:
    """``1h``, ``30m``, ``7d``, ``1h30m`` as a timedelta; InvalidTimeError for anything else."""
    compact = text.strip().lower()
    if not _DURATION.match(compact):
        raise InvalidTimeError(f"{option} {text!r} is not a duration: use {_DURATION_FORMS}")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(compact))
    return dt.timedelta(seconds=seconds)


def parse_time(text: str, option: str, now: Clock = _utc_now) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 or a time relative to now; InvalidTimeError naming
    ``option`` and the accepted forms for anything else."""
    compact = text.strip()
    if compact.lower() == "now":
        return now()
    if compact.startswith("-") and _DURATION.match(compact[1:].lower()):
        return now() - parse_duration(compact[1:], option)
    try:
        stamp = dt.datetime.fromisoformat(compact)
    except ValueError:
        raise InvalidTimeError(f"{option} {text!r} is not a time: use {TIME_FORMS}") from None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def window(
    start: str | None, end: str | None, since: str | None, now: Clock = _utc_now
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``--start``/``--end``/``--since`` as (start, end); ``--since`` is a start of now minus
    the duration, so it cannot be given with ``--start``."""
    if since is not None and start is not None:
        raise InvalidTimeError("give --since or --start, not both")
    lo = parse_time(start, "--start", now) if start is not None else None
    if since is not None:
        lo = now() - parse_duration(since)
    hi = parse_time(end, "--end", now) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise InvalidTimeError(f"--start {lo.isoformat()} is after --end {hi.isoformat()}")
    return lo, hi
