"""Column names as record keys: text keys of any index, duplicates refused."""

from __future__ import annotations

import pandas as pd
import pytest

from modeltap.errors import InvalidDataError
from modeltap.event import pack_event
from modeltap.pipeline.writer_process import wire
from modeltap.snapshot import take_snapshot
from tests.snapshot.conftest import rows_of


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


def test_frames_of_one_shape_share_their_names_and_pickle_them_once() -> None:
    """Snapshots of frames with the same columns share one names tuple, so an events frame to
    the writer process carries the names once, however many events it holds."""
    frames = [pd.DataFrame({"shared_name_a": [n], "shared_name_b": [0.5]}) for n in range(3)]
    snapshots = [take_snapshot(frame) for frame in frames]
    assert snapshots[0].names is snapshots[1].names is snapshots[2].names  # type: ignore[attr-defined]
    events = [pack_event("c", n, "cid", "xid", "t", s, "r") for n, s in enumerate(snapshots)]
    assert wire.events_frame(0, events).count(b"shared_name_a") == 1
