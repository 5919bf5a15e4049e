"""JSON rows: missing values, times, numpy scalars and floats as every snapshot kind writes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from tests.snapshot.conftest import FLOATS, rows_of


@pytest.mark.usefixtures("string_storage")
def test_nan_and_none_become_null() -> None:
    """NaN, None, pandas NA and NaT are null in every type."""
    nan = float("nan")
    assert rows_of(
        pd.DataFrame(
            {
                "f": [nan, 1.0],
                "s": [None, "x"],
                "i": pd.array([None, 1], dtype="Int64"),
                "t": pd.to_datetime([None, "2024-05-01"]),
            }
        )
    )[0] == {"f": None, "s": None, "i": None, "t": None}
    assert rows_of(pa.table({"f": [nan, 1.0], "s": [None, "x"]}))[0] == {"f": None, "s": None}
    assert rows_of(pl.DataFrame({"f": [nan, 1.0], "s": [None, "x"]}))[0] == {
        "f": None, "s": None
    }
    assert rows_of([{"f": nan, "s": None, "n": np.nan, "t": pd.NaT}]) == [
        {"f": None, "s": None, "n": None, "t": None}
    ]
    assert rows_of({"f": np.array([nan, 1.0]), "s": [None, "x"]})[0] == {"f": None, "s": None}


NAIVE = dt.datetime(2024, 5, 1, 12, 34, 56, 789000)


AWARE = dt.datetime(2024, 5, 1, 12, 34, 56, 789000, tzinfo=dt.timezone(dt.timedelta(hours=2)))


DATETIME_INPUTS: dict[str, Callable[[], object]] = {
    "pandas": lambda: pd.DataFrame(
        {"naive": pd.to_datetime([NAIVE]), "aware": pd.to_datetime([AWARE])}
    ),
    "arrow": lambda: pa.table(
        {"naive": pa.array([NAIVE]), "aware": pa.array([AWARE], type=pa.timestamp("us", "+02:00"))}
    ),
    "polars": lambda: pl.DataFrame({"naive": [NAIVE], "aware": [AWARE]}),
    "rows": lambda: [{"naive": NAIVE, "aware": AWARE}],
    "rows-pandas-timestamps": lambda: [
        {"naive": pd.Timestamp(NAIVE), "aware": pd.Timestamp(AWARE)}
    ],
    "columns": lambda: {"naive": [NAIVE], "aware": [AWARE]},
    "numpy-columns": lambda: {
        "naive": np.array([NAIVE], dtype="datetime64[ms]"),
        "aware": pd.Series([AWARE]),
    },
}


@pytest.mark.parametrize("kind", sorted(DATETIME_INPUTS))
def test_datetimes_become_iso_strings_in_utc(kind: str) -> None:
    """Datetimes are ISO 8601 strings; zoned ones are converted to UTC and end with Z."""
    (row,) = rows_of(DATETIME_INPUTS[kind]())
    assert row["naive"] == "2024-05-01T12:34:56.789"
    assert row["aware"] == "2024-05-01T10:34:56.789Z"


def test_dates_in_rows_are_iso_strings() -> None:
    """Plain dates in row dicts are ISO dates."""
    assert rows_of([{"d": dt.date(2024, 5, 1)}]) == [{"d": "2024-05-01"}]


def test_numpy_scalars_become_plain_numbers() -> None:
    """numpy scalars in row dicts are encoded as plain JSON numbers and booleans."""
    (row,) = rows_of(
        [{"i": np.int64(7), "u": np.uint8(3), "f": np.float64(0.25), "b": np.bool_(True)}]
    )
    assert row == {"i": 7, "u": 3, "f": 0.25, "b": True}
    assert isinstance(row["i"], int) and isinstance(row["f"], float)


FLOAT_INPUTS: dict[str, Callable[[], object]] = {
    "pandas": lambda: pd.DataFrame({"f": FLOATS}),
    "pandas-with-mixed-object-column": lambda: pd.DataFrame(
        {"f": FLOATS, "m": [1, "x"] * (len(FLOATS) // 2)}
    ),
    "arrow": lambda: pa.table({"f": FLOATS}),
    "polars": lambda: pl.DataFrame({"f": FLOATS}),
    "rows": lambda: [{"f": f} for f in FLOATS],
    "columns": lambda: {"f": list(FLOATS)},
    "numpy-columns": lambda: {"f": np.array(FLOATS)},
}


@pytest.mark.parametrize("kind", sorted(FLOAT_INPUTS))
def test_floats_round_trip_exactly(kind: str) -> None:
    """Every float comes back bit for bit (no rounding to 15 digits)."""
    values = [row["f"] for row in rows_of(FLOAT_INPUTS[kind]())]
    assert values == FLOATS
    assert [np.float64(v).tobytes() for v in values] == [np.float64(v).tobytes() for v in FLOATS]
