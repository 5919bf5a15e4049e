"""Rows as JSON: the orjson options and fallbacks every snapshot kind encodes with, and the
encoders of large pandas frames (in pieces that hand the GIL back between them) and polars
frames (polars releases it while it writes)."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "ORJSON_OPTIONS",
    "PIECE_ROWS",
    "iso_datetime",
    "orjson_default",
    "pandas_json",
    "polars_json",
    "rows_json",
]

PIECE_ROWS = 2_048  # rows encoded while holding the GIL, before handing it back
ORJSON_OPTIONS = (
    orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
)


def iso_datetime(value: dt.datetime) -> str:
    """ISO 8601 to the millisecond, as the frame encoders write it; zoned values in UTC with Z."""
    if value.utcoffset() is not None:
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return utc.isoformat(timespec="milliseconds") + "Z"
    return value.isoformat(timespec="milliseconds")


def orjson_default(value: Any) -> Any:
    """What orjson gets for a value it cannot encode itself: missing values as null, times as
    ISO 8601, numpy scalars as Python ones, anything else as its string."""
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, dt.datetime):
        return iso_datetime(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, float | np.floating):  # pragma: no cover - orjson handles floats
        return None
    return str(value)


def polars_json(frame: pl.DataFrame) -> bytes:
    """Encode a polars frame as a JSON array of rows, datetimes as ISO 8601 (UTC when zoned)."""
    import polars as pl

    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            column = pl.col(name)
            if dtype.time_zone:
                column = column.dt.convert_time_zone("UTC")
                fixes.append(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
            else:
                fixes.append(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"))
    if fixes:
        frame = frame.with_columns(fixes)
    # One write of row objects, during which polars releases the GIL, instead of 2,048-row
    # pieces of NDJSON joined into an array: 5.5 ms against 8.4 ms per 10,000x10 frame of
    # bench/collector.py's workload (medians of 150 interleaved rounds, one process); the
    # collector's 10,000x10 tight loop then committed 1,308,092 rows/s (bench/results, 2026-12-06)
    buffer = io.BytesIO()
    frame.write_json(buffer)
    return buffer.getvalue()


def pandas_json(frame: pd.DataFrame) -> bytes:
    """Encode the rows with orjson (floats exact, unlike ``to_json``), in pieces, yielding the
    GIL between them. For frames polars cannot take (object columns of mixed types)."""
    pieces = []
    for start in range(0, len(frame), PIECE_ROWS):
        rows = frame.iloc[start : start + PIECE_ROWS].to_dict(orient="records")
        pieces.append(orjson.dumps(rows, option=ORJSON_OPTIONS, default=orjson_default)[1:-1])
        time.sleep(0)
    return b"[" + b",".join(p for p in pieces if p) + b"]"


def rows_json(names: Sequence[str], columns: list[Any], rows: int) -> bytes:
    """Row objects from column lists, encoded by orjson."""
    if not columns:
        return orjson.dumps([{}] * rows)
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return orjson.dumps(records, option=ORJSON_OPTIONS, default=orjson_default)

