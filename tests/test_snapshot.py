"""Snapshots: every accepted type encodes to the right rows and is frozen at collect() time."""

from __future__ import annotations

import datetime as dt
import gc
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import modeltap
from modeltap import Collector
from modeltap.errors import InvalidDataError, UnsupportedDataError
from modeltap.snapshot import (
    Snapshot,
    json_rows_many,
    pack_snapshot,
    take_snapshot,
    type_fullname,
    unpack_snapshot,
)
from tests.conftest import ConfigureTap, ReadRecords

ROWS = [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": 1.5, "c": "y"}]
FLOATS = [0.1, 1 / 3, 2 / 3, 1e-300, 123456.78901234568, 2.0**53 + 2, 5e-324,
          1.7976931348623157e308, -0.0, 3.141592653589793]


@pytest.fixture(params=["pyarrow", "python"])
def string_storage(request: pytest.FixtureRequest) -> Iterator[str]:
    """pandas' storage for string columns: Arrow (its choice when pyarrow is installed) or
    Python objects (``modeltap serve``'s choice for scoring scripts)."""
    with pd.option_context("mode.string_storage", request.param):
        yield str(request.param)


def decoded(snapshot: Snapshot) -> list[dict[str, Any]]:
    """The rows a snapshot encodes, parsed back."""
    rows = orjson.loads(snapshot.to_json_rows())
    assert isinstance(rows, list)
    return rows


def rows_of(data: object) -> list[dict[str, Any]]:
    """Snapshot ``data`` and return its encoded rows."""
    return decoded(take_snapshot(data))


# -- every accepted type ---------------------------------------------------------------------


ACCEPTED: dict[str, Callable[[], object]] = {
    "pandas": lambda: pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "arrow": lambda: pa.table({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "arrow-batch": lambda: pa.RecordBatch.from_pydict(
        {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}
    ),
    "polars": lambda: pl.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "rows": lambda: [dict(r) for r in ROWS],
    "columns": lambda: {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]},
    "numpy-columns": lambda: {
        "a": np.array([1, 2]), "b": np.array([0.5, 1.5]), "c": np.array(["x", "y"])
    },
    "tuple-and-series-columns": lambda: {
        "a": (1, 2), "b": pd.Series([0.5, 1.5]), "c": pa.array(["x", "y"])
    },
}


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_accepted_types_encode_rows(kind: str) -> None:
    """Every accepted type encodes to the same row objects, with the right row count."""
    snapshot = take_snapshot(ACCEPTED[kind]())
    assert decoded(snapshot) == ROWS
    assert snapshot.rows == 2
    assert snapshot.approx_bytes > 0


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_accepted_types_convert_to_arrow(kind: str) -> None:
    """Every snapshot also converts to an Arrow table with the same rows."""
    table = take_snapshot(ACCEPTED[kind]()).to_arrow()
    assert table.to_pylist() == ROWS


def test_type_fullname_uses_platform_names() -> None:
    """Types are named as the platform records them."""
    assert type_fullname(pd.DataFrame()) == "pandas.core.frame.DataFrame"
    assert type_fullname([]) == "python.list"
    assert type_fullname({}) == "python.dict"
    assert type_fullname(pl.DataFrame()).startswith("polars.")
    assert type_fullname(pa.table({"a": [1]})) == "pyarrow.lib.Table"


@pytest.mark.parametrize("data", [42, "text", 3.5, None, np.array([1, 2]), pd.Series([1])])
def test_unsupported_types(data: object) -> None:
    """Anything else is an UnsupportedDataError naming the type and the accepted types."""
    with pytest.raises(UnsupportedDataError) as info:
        take_snapshot(data)
    assert type_fullname(data) in str(info.value)
    assert "pandas.DataFrame" in str(info.value) and "dict of equal-length" in str(info.value)


def test_empty_inputs() -> None:
    """Empty frames, lists and dicts encode to no rows."""
    for data in (pd.DataFrame({"a": []}), [], {}, {"a": []}, pl.DataFrame({"a": []})):
        snapshot = take_snapshot(data)
        assert snapshot.rows == 0
        assert decoded(snapshot) == []


# -- frozen at collect() time ----------------------------------------------------------------


PANDAS_MUTATIONS: dict[str, Callable[[pd.DataFrame], None]] = {
    "loc": lambda df: df.loc.__setitem__((0, "a"), 99),
    "iloc": lambda df: df.iloc.__setitem__((1, 1), -1.0),
    "at": lambda df: df.at.__setitem__((0, "c"), "changed"),
    "column-assignment": lambda df: df.__setitem__("a", [7] * len(df)),
    "added-column": lambda df: df.__setitem__("d", [True] * len(df)),
    "drop-inplace": lambda df: df.drop(columns=["b"], inplace=True),
    "rename-inplace": lambda df: df.rename(columns={"a": "z"}, inplace=True),
    "fillna-inplace": lambda df: df.__setitem__("b", df["b"] * 0),
}


@pytest.mark.filterwarnings("ignore:The inplace keyword")
@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize("copies", [1, 300])  # 2 rows: frozen copies; 600: shared blocks
@pytest.mark.parametrize("mutation", sorted(PANDAS_MUTATIONS))
def test_pandas_frame_mutations_do_not_change_snapshot(mutation: str, copies: int) -> None:
    """Changing the caller's DataFrame after collect() leaves the snapshot as it was, for small
    frames and for large ones (whose arrays the snapshot shares under copy-on-write)."""
    frame = pd.DataFrame(
        {"a": [1, 2] * copies, "b": [0.5, 1.5] * copies, "c": ["x", "y"] * copies}
    )
    snapshot = take_snapshot(frame)
    PANDAS_MUTATIONS[mutation](frame)
    assert decoded(snapshot) == ROWS * copies
    assert snapshot.to_arrow().to_pylist() == ROWS * copies


@pytest.mark.parametrize("copies", [1, 300])
def test_pandas_frame_from_numpy_mutated_in_place(copies: int) -> None:
    """A frame built from a numpy array (copied by pandas) is frozen when the array changes."""
    array = np.array([[1.0, 2.0], [3.0, 4.0]] * copies)
    frame = pd.DataFrame(array, columns=["a", "b"])
    snapshot = take_snapshot(frame)
    array[0, 0] = 99.0
    frame.iloc[1, 1] = -1.0
    frame.iloc[0, 0] = -1.0
    assert decoded(snapshot) == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}] * copies


def test_polars_frame_mutation_does_not_change_snapshot() -> None:
    """Writing a cell of a polars frame after collect() leaves the snapshot as it was."""
    frame = pl.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    snapshot = take_snapshot(frame)
    frame[0, "a"] = 99
    frame.drop_in_place("b")
    assert decoded(snapshot) == ROWS


def test_row_dict_mutation_does_not_change_snapshot() -> None:
    """Changing, adding to or removing from the row dicts after collect() changes nothing."""
    rows = [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": 1.5, "c": "y"}]
    snapshot = take_snapshot(rows)
    rows[0]["a"] = 99
    rows[1]["d"] = "new"
    del rows[0]["c"]
    rows.append({"a": 3})
    assert decoded(snapshot) == ROWS
    assert snapshot.rows == 2


def test_nested_row_values_are_frozen() -> None:
    """Nested lists and dicts inside rows are frozen too."""
    inner = {"k": [1, 2]}
    snapshot = take_snapshot([{"nested": inner}])
    inner["k"].append(3)
    inner["extra"] = True
    assert decoded(snapshot) == [{"nested": {"k": [1, 2]}}]


def test_column_dict_list_mutation_does_not_change_snapshot() -> None:
    """Writing into a column list, or replacing a column, after collect() changes nothing."""
    columns: dict[str, Any] = {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}
    snapshot = take_snapshot(columns)
    columns["a"][0] = 99
    columns["b"].append(9.9)
    columns["c"] = ["changed", "changed"]
    columns["d"] = [1, 2]
    assert decoded(snapshot) == ROWS


def test_column_dict_numpy_mutation_does_not_change_snapshot() -> None:
    """Writing into a numpy column in place after collect() changes nothing."""
    a = np.array([1, 2])
    b = np.array([0.5, 1.5])
    series = pd.Series(["x", "y"])
    snapshot = take_snapshot({"a": a, "b": b, "c": series})
    a[0] = 99
    b *= 10
    series.iloc[0] = "changed"
    assert decoded(snapshot) == ROWS


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_collect_freezes_the_frame_end_to_end(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Through collect(), the committed record has the frame as it was at the call."""
    configure_tap()
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    Collector(name="model_inputs").collect(frame)
    frame.loc[0, "a"] = 99
    frame.drop(columns=["c"], inplace=True)
    (record,) = read_records("model_inputs")
    assert record["data"] == ROWS


# -- values ----------------------------------------------------------------------------------


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


# -- invalid data ----------------------------------------------------------------------------


@pytest.mark.usefixtures("string_storage")
def test_duplicate_column_names() -> None:
    """A DataFrame with duplicate column names is refused, naming the duplicates."""
    frame = pd.DataFrame([[1, 2, 3, 4]], columns=["a", "b", "a", "b"])
    with pytest.raises(InvalidDataError) as info:
        take_snapshot(frame)
    assert "duplicate column names ['a', 'b']" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.usefixtures("string_storage")
def test_column_names_equal_as_text() -> None:
    """Column names that differ only in type (1 and '1') would be one record key: refused."""
    frame = pd.DataFrame([[1, 2, 3]], columns=[1, "1", "b"])
    with pytest.raises(InvalidDataError) as info:
        take_snapshot(frame)
    assert "duplicate column names ['1']" in str(info.value)


def test_columns_of_unequal_length() -> None:
    """A dict of columns with different lengths names both columns and lengths."""
    with pytest.raises(InvalidDataError) as info:
        take_snapshot({"a": [1, 2, 3], "b": [1, 2]})
    message = str(info.value)
    assert "'a' has 3" in message and "'b' has 2" in message
    assert "equal-length" in message


def test_dict_of_scalars() -> None:
    """A dict of scalars (one row passed as a dict) is refused with how to pass one row."""
    with pytest.raises(InvalidDataError) as info:
        take_snapshot({"a": 1, "b": 2})
    message = str(info.value)
    assert "column 'a' is a int" in message
    assert "[row_dict]" in message


def test_dict_with_non_string_key() -> None:
    """Column names must be strings."""
    with pytest.raises(InvalidDataError, match="column names must be strings"):
        take_snapshot({1: [1, 2]})


@pytest.mark.parametrize("bad", [[1, 2], "row", None, ("a", 1)])
def test_list_with_non_dict_row(bad: object) -> None:
    """A list whose row is not a dict is refused, naming the row's index and type."""
    with pytest.raises(InvalidDataError) as info:
        take_snapshot([{"a": 1}, {"a": 2}, bad])
    assert "row 2 of the list" in str(info.value)
    assert type(bad).__name__ in str(info.value)


def test_collect_reports_invalid_data(configure_tap: ConfigureTap) -> None:
    """Invalid data through collect() raises InvalidDataError and counts 'invalid_data'."""
    configure_tap()
    with pytest.raises(InvalidDataError):
        Collector(name="model_inputs").collect({"a": [1], "b": [1, 2]})
    assert modeltap.stats().collections["model_inputs"].dropped == {"invalid_data": 1}


# -- large and odd frames --------------------------------------------------------------------


def pieces(frame: pd.DataFrame, size: int) -> list[dict[str, Any]]:
    """Encode ``frame`` in small separate pieces and join the rows."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(frame), size):
        rows.extend(rows_of(frame.iloc[start : start + size].reset_index(drop=True)))
    return rows


def big_frame(n: int = 20_000) -> pd.DataFrame:
    """A frame large enough to be encoded in several pieces."""
    return pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.arange(n) / 7,
            "s": [f"s{i}" for i in range(n)],
            "t": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
        }
    )


def test_large_pandas_frame_matches_small_pieces() -> None:
    """A 20,000-row frame encodes to exactly the rows of its pieces encoded one by one."""
    frame = big_frame()
    rows = rows_of(frame)
    assert len(rows) == 20_000
    assert rows == pieces(frame, 1_000)
    assert rows[8_192]["i"] == 8_192 and rows[-1]["s"] == "s19999"


def test_large_polars_and_arrow_frames_match_pandas() -> None:
    """Large polars and Arrow inputs encode to the same rows as the pandas frame."""
    frame = big_frame()
    expected = rows_of(frame)
    assert rows_of(pl.from_pandas(frame)) == expected
    assert rows_of(pa.Table.from_pandas(frame, preserve_index=False)) == expected


def test_mixed_object_column_falls_back_correctly() -> None:
    """An object column of mixed types keeps each value's type, in small and large frames."""
    small = pd.DataFrame({"m": [1, "x", 2.5, None, {"k": 1}, [1, 2]], "n": range(6)})
    assert rows_of(small) == [
        {"m": 1, "n": 0}, {"m": "x", "n": 1}, {"m": 2.5, "n": 2}, {"m": None, "n": 3},
        {"m": {"k": 1}, "n": 4}, {"m": [1, 2], "n": 5},
    ]
    n = 5_000
    large = pd.DataFrame({"m": [i if i % 2 else str(i) for i in range(n)], "f": np.arange(n) / 3})
    rows = rows_of(large)
    assert len(rows) == n
    assert rows[:3] == [{"m": "0", "f": 0.0}, {"m": 1, "f": 1 / 3}, {"m": "2", "f": 2 / 3}]
    assert rows == pieces(large, 700)
    assert [r["m"] for r in rows] == list(large["m"])


def test_mixed_types_in_a_column_dict_keep_their_types() -> None:
    """A list column mixing ints and strings is not turned into strings."""
    assert rows_of({"m": [1, "x", None], "n": [1, 2, 3]}) == [
        {"m": 1, "n": 1}, {"m": "x", "n": 2}, {"m": None, "n": 3}
    ]


@pytest.mark.parametrize("n", [2, 5_000])
def test_pandas_ints_stay_exact_ints_beside_floats(n: int) -> None:
    """Integer columns stay JSON integers, exactly, next to float columns (no cast to float)."""
    big = 2**60 + 1
    frame = pd.DataFrame({"id": [big + i for i in range(n)], "f": [0.5] * n})
    rows = rows_of(frame)
    assert [r["id"] for r in rows] == [big + i for i in range(n)]
    assert all(isinstance(r["id"], int) for r in rows)
    assert b'"id":1152921504606846977,' in take_snapshot(frame).to_json_rows()


DTYPE_COLUMNS: dict[str, Callable[[], object]] = {
    "int": lambda: [1, 2],
    "float-nan": lambda: [0.1, np.nan],
    "bool": lambda: [True, False],
    "str-none": lambda: ["x", None],
    "categorical": lambda: pd.Categorical(["a", "b"]),
    "nullable-bool": lambda: pd.array([True, None], dtype="boolean"),
    "nullable-int": lambda: pd.array([1, None], dtype="Int64"),
    "string": lambda: pd.array(["p", None], dtype="string"),
    "datetime": lambda: pd.to_datetime(["2024-05-01T12:34:56.789", None]),
    "datetime-tz": lambda: pd.to_datetime(["2024-05-01T12:34:56.789+02:00", None]),
    "uint8": lambda: np.array([1, 2], dtype="uint8"),
    "float32": lambda: np.array([0.5, 0.25], dtype="float32"),
    "date": lambda: [dt.date(2024, 5, 1), dt.date(2024, 5, 2)],
    "lists": lambda: [[1, 2], [3]],
    "dicts": lambda: [{"k": 1}, {"k": 2}],
}


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize("dtype", sorted(DTYPE_COLUMNS))
def test_small_and_large_frames_encode_alike(dtype: str) -> None:
    """A column encodes the same in a 2-row frame and in a large one (different encoders)."""
    small = pd.DataFrame({"c": DTYPE_COLUMNS[dtype]()})
    large = pd.concat([small] * 300, ignore_index=True)
    expected = rows_of(small)
    assert len(expected) == 2
    assert rows_of(large)[:2] == expected
    assert rows_of(large)[-2:] == expected


@pytest.mark.parametrize("rows", [2, 20, 300])
def test_python_string_columns_convert_as_pandas_does(rows: int) -> None:
    """Python-backed string columns, with NaN and NA missing, encode as null and convert to
    the Arrow type pandas gives them, in small and large frames."""
    with pd.option_context("mode.string_storage", "python"):
        frame = pd.DataFrame(
            {
                "s": pd.array(["x", None] * (rows // 2), dtype="str"),
                "t": pd.array(["y", None] * (rows // 2), dtype="string"),
            }
        )
        assert type(frame["s"].array) is pd.arrays.StringArray
        snapshot = take_snapshot(frame)
        expected = pa.Table.from_pandas(frame, preserve_index=False)
    assert decoded(snapshot)[:2] == [{"s": "x", "t": "y"}, {"s": None, "t": None}]
    assert snapshot.to_arrow().equals(expected)


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize(
    ("columns", "names"),
    [
        (pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]), ["('a', 'x')", "('a', 'y')"]),
        (pd.Index([1, 2]), ["1", "2"]),
        (pd.CategoricalIndex(["b", "a"]), ["b", "a"]),
        (pd.DatetimeIndex(["2024-05-01", "2024-05-02"]),
         ["2024-05-01 00:00:00", "2024-05-02 00:00:00"]),
    ],
    ids=["multiindex", "ints", "categorical", "datetimes"],
)
def test_column_labels_of_any_index_become_text_keys(columns: pd.Index, names: list[str]) -> None:
    """Column labels of any Index kind become their text as record keys (a MultiIndex's
    tuples too, which collect() once refused with pandas' own ValueError)."""
    frame = pd.DataFrame([[1, 2]], columns=columns)
    assert list(rows_of(frame)[0]) == names


def test_pandas_index_is_not_recorded() -> None:
    """The index of a pandas frame is not part of the rows."""
    frame = pd.DataFrame({"a": [1, 2]}, index=["r1", "r2"])
    assert rows_of(frame) == [{"a": 1}, {"a": 2}]


# -- packed for the queue ----------------------------------------------------------------------


def mixed_frame(rows: int) -> pd.DataFrame:
    """Float, int and string columns (pandas 3 strings are Arrow-backed), with missing values."""
    return pd.DataFrame(
        {
            "f": np.linspace(0.0, 1.0, rows),
            "i": np.arange(rows),
            "s": pd.array([f"v{n}" if n % 3 else None for n in range(rows)], dtype="str"),
            "t": pd.array([f"w{n}" for n in range(rows)], dtype="string"),
        }
    )


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize("rows", [1, 16, 17, 100, 300])
def test_packed_snapshot_round_trips(rows: int) -> None:
    """A snapshot packed for the queue and unpacked encodes, converts and rebuilds alike."""
    snapshot = take_snapshot(mixed_frame(rows))
    back = unpack_snapshot(pack_snapshot(snapshot))
    assert back.to_json_rows() == snapshot.to_json_rows()
    assert back.to_arrow().equals(snapshot.to_arrow())
    if rows <= 256:
        pd.testing.assert_frame_equal(back.frame, snapshot.frame)  # type: ignore[attr-defined]
        assert back.signature == snapshot.signature  # type: ignore[attr-defined]


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize("rows", [0, 1, 16, 17, 100, 300, 1_000])
def test_packed_parts_survive_pickling_for_the_writer_process(rows: int) -> None:
    """Packed and pickled (as sent to a writer process), a snapshot encodes and converts as it
    did; small frames' numpy blocks travel as bytes, with no numeric array, range or dtype to
    pickle (their string columns' object arrays are pickled as tuples by ``wire``)."""
    frame = mixed_frame(rows).assign(
        when=pd.date_range("2024-01-01", periods=rows, freq="s"), flag=True, small=np.int8(3)
    )
    snapshot = take_snapshot(frame)
    packed = pack_snapshot(snapshot)
    if rows <= 256:
        assert not any(isinstance(part, range | np.dtype) for part in packed)
        arrays = [part for part in packed if isinstance(part, np.ndarray)]
        assert all(array.ndim == 1 and array.dtype == object for array in arrays)
        assert sum(type(part) is bytes for part in packed) >= 3  # int, float, bool, int8 blocks
    back = unpack_snapshot(pickle.loads(pickle.dumps(packed)))
    assert back.to_json_rows() == snapshot.to_json_rows()
    assert back.to_arrow().equals(snapshot.to_arrow())


def test_interleaved_columns_and_strided_views_survive_pickling() -> None:
    """Blocks whose columns are not evenly spaced (positions as an integer array), big-endian
    values (Arrow takes them in native order only) and a strided view come back from the
    writer's pickle with the same records and Arrow table, small frames and large."""
    interleaved = pd.DataFrame(
        {"a": [1, 2], "b": [0.5, 1.5], "c": [2.5, 3.5], "d": [3, 4], "e": [5, 6]}
    )
    assert not isinstance(interleaved._mgr.blocks[0].mgr_locs.indexer, slice)
    big_endian = pd.DataFrame(np.arange(12, dtype=">i4").reshape(3, 4), columns=list("wxyz"))
    large = pd.DataFrame(np.linspace(0, 1, 2_000, dtype=">f8").reshape(500, 4))
    for frame in (interleaved, big_endian.iloc[::2], big_endian.T, large):
        snapshot = take_snapshot(frame)
        packed = pack_snapshot(snapshot)
        back = unpack_snapshot(pickle.loads(pickle.dumps(packed)))
        records = frame.to_dict(orient="records")
        assert back.to_json_rows() == orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS)
        assert back.to_arrow().equals(snapshot.to_arrow())
        if len(frame) <= 256:  # (numpy's own pickle gives large frames native byte order)
            assert back.signature == snapshot.signature  # type: ignore[attr-defined]


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize(("rows", "collections"), [(1, 1), (16, 1), (17, 2), (100, 2)])
def test_packed_small_frames_are_not_tracked_by_the_garbage_collector(
    rows: int, collections: int
) -> None:
    """A packed small pandas snapshot is untracked by the first young collection that sees it
    (frames of up to 16 rows) or the second (their string buffers are a fresh tuple), so a
    backlog of them adds nothing to full collections."""
    pack_snapshot(take_snapshot(mixed_frame(rows)))  # its names and dtype tokens now known
    gc.collect()
    packed = [pack_snapshot(take_snapshot(mixed_frame(rows))) for _ in range(50)]
    for generation in range(collections):
        gc.collect(generation)
    assert not any(gc.is_tracked(p) for p in packed)
    assert all(len(p) > 1 for p in packed)  # not merely the snapshot object itself


def test_large_frames_are_packed_as_they_are() -> None:
    """A large frame's snapshot (sharing the caller's blocks) travels as itself."""
    snapshot = take_snapshot(mixed_frame(1_000))
    assert pack_snapshot(snapshot) == (snapshot,)
    assert unpack_snapshot((snapshot,)) is snapshot


@pytest.mark.parametrize("rows", [300, 10_000])
def test_large_frames_python_strings_travel_as_arrow_buffers(rows: int) -> None:
    """Pickled for the writer process, a large frame's Python-backed string columns travel as
    Arrow buffers (pickle would take their strings one by one: milliseconds of the caller's
    GIL), the snapshot itself unchanged; back, it encodes, converts and rebuilds alike."""
    with pd.option_context("mode.string_storage", "python"):
        frame = mixed_frame(rows)
        snapshot = take_snapshot(frame)
        data = pickle.dumps(snapshot)
        back = pickle.loads(data)
    kinds = {type(values) for values in snapshot._blocks[1::3]}  # type: ignore[attr-defined]
    assert pd.arrays.StringArray in kinds
    for text in (b"v299", b"w1"):  # in a buffer, not pickled by itself (SHORT_BINUNICODE)
        assert text in data and b"\x8c" + bytes([len(text)]) + text not in data
    assert back.to_json_rows() == snapshot.to_json_rows()
    assert back.to_arrow().equals(snapshot.to_arrow())
    pd.testing.assert_frame_equal(back.frame, snapshot.frame)  # type: ignore[attr-defined]
    assert decoded(back)[:2] == [
        {"f": 0.0, "i": 0, "s": None, "t": "w0"},
        {"f": 1 / (rows - 1), "i": 1, "s": "v1", "t": "w1"},
    ]


def test_python_strings_arrow_cannot_take_are_pickled_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Python-backed string column Arrow refuses (over 2 GiB of text in one array) is pickled
    as it is, and the snapshot still comes back alike."""
    with pd.option_context("mode.string_storage", "python"):
        snapshot = take_snapshot(mixed_frame(300))

    def refusing(*args: Any, **kwargs: Any) -> Any:
        raise pa.ArrowInvalid("offset overflow")

    with monkeypatch.context() as patched:
        patched.setattr(pa, "array", refusing)
        data = pickle.dumps(snapshot)
    assert b"\x8c\x04v299" in data  # the strings pickled one by one
    back = pickle.loads(data)
    assert back.to_json_rows() == snapshot.to_json_rows()
    assert back.to_arrow().equals(snapshot.to_arrow())


@pytest.mark.usefixtures("string_storage")
def test_tiny_frames_encode_together_like_alone() -> None:
    """Tiny frames converted together (strings as Python values) give each its own rows."""
    snapshots = [take_snapshot(mixed_frame(n)) for n in (1, 2, 3, 1)]
    unpacked = [unpack_snapshot(pack_snapshot(s)) for s in snapshots]
    assert json_rows_many(unpacked) == [s.to_json_rows() for s in snapshots]
    assert decoded(snapshots[2])[0] == {"f": 0.0, "i": 0, "s": None, "t": "w0"}


def test_small_pandas_frames_encode_without_importing_polars() -> None:
    """A small frame's rows never import polars, whose import holds the GIL for about a second."""
    code = (
        "import sys, pandas as pd\n"
        "from modeltap.snapshot import json_rows_many, take_snapshot\n"
        "frame = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\n"
        "other = pd.DataFrame({'c': [0.5]})\n"
        "print(take_snapshot(frame).to_json_rows().decode())\n"
        "json_rows_many([take_snapshot(frame), take_snapshot(other), take_snapshot(frame)])\n"
        "print('polars' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ['[{"a":1,"b":"x"},{"a":2,"b":"y"}]', "False"]


def test_parts_naming_a_function_are_unpacked_by_calling_it() -> None:
    """Parts ``(None, module, function, *arguments)`` unpack to what the named function makes of
    the arguments (imported by name, as the writer process has not imported it)."""
    snapshot = unpack_snapshot((None, "modeltap.snapshot", "RowsSnapshot", [{"a": 1}, {"a": 2}]))
    assert snapshot.to_json_rows() == b'[{"a":1},{"a":2}]'
    assert snapshot.rows == 2
