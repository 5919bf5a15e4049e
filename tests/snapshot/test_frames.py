"""pandas snapshots: frozen small frames and shared large ones, unchanged by later writes."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modeltap.event import DATA, pack_event
from modeltap.snapshot import take_snapshot
from tests.snapshot.conftest import (
    ROWS,
    big_frame,
    decoded,
    mixed_frame,
    pieces,
    round_trip,
    rows_of,
)

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


def test_large_pandas_frame_matches_small_pieces() -> None:
    """A 20,000-row frame encodes to exactly the rows of its pieces encoded one by one."""
    frame = big_frame()
    rows = rows_of(frame)
    assert len(rows) == 20_000
    assert rows == pieces(frame, 1_000)
    assert rows[8_192]["i"] == 8_192 and rows[-1]["s"] == "s19999"


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


def test_pandas_index_is_not_recorded() -> None:
    """The index of a pandas frame is not part of the rows."""
    frame = pd.DataFrame({"a": [1, 2]}, index=["r1", "r2"])
    assert rows_of(frame) == [{"a": 1}, {"a": 2}]


@pytest.mark.usefixtures("string_storage")
@pytest.mark.parametrize("rows", [1, 16, 17, 100, 300])
def test_packed_snapshot_round_trips(rows: int) -> None:
    """A snapshot packed for the queue and unpacked encodes, converts and rebuilds alike."""
    snapshot = take_snapshot(mixed_frame(rows))
    back = round_trip(snapshot)
    assert back.to_json_rows() == snapshot.to_json_rows()
    assert back.to_arrow().equals(snapshot.to_arrow())
    if rows <= 256:
        pd.testing.assert_frame_equal(back.frame, snapshot.frame)  # type: ignore[attr-defined]
        assert back.signature == snapshot.signature  # type: ignore[attr-defined]


def test_large_frames_are_packed_as_they_are() -> None:
    """A large frame's snapshot (sharing the caller's blocks) travels as itself."""
    snapshot = take_snapshot(mixed_frame(1_000))
    assert snapshot.frozen_parts() is None  # type: ignore[attr-defined]
    assert pack_event("c", 0, "cid", "xid", "t", snapshot, "root")[DATA] is snapshot


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
