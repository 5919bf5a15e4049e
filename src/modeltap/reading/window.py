"""The time window of a read: ``start``/``end`` arguments to aware UTC datetimes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from modeltap.errors import InvalidTimeError

__all__ = ["TimeLike", "to_time", "window"]

TimeLike = str | dt.datetime | dt.date | pd.Timestamp | None


def to_time(value: object, label: str) -> dt.datetime | None:
    """A start/end argument as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            stamp = pd.Timestamp(value.strip())
        elif isinstance(value, dt.datetime | dt.date | pd.Timestamp | np.datetime64):
            stamp = pd.Timestamp(value)
        else:
            raise TypeError(f"a {type(value).__name__}")
        if pd.isna(stamp):
            raise ValueError("not a time")
    except (ValueError, TypeError) as exc:
        raise InvalidTimeError(
            f"{label} {value!r} is not a time ({exc}): use ISO 8601 such as "
            "'2024-05-01T12:00:00Z' or '2024-05-01', or a datetime"
        ) from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    result: dt.datetime = stamp.to_pydatetime()
    return result


def window(start: object, end: object) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) as UTC datetimes (either may be None); start after end is an error."""
    lo, hi = to_time(start, "start"), to_time(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidTimeError(f"start {lo.isoformat()} is after end {hi.isoformat()}")
    return lo, hi
