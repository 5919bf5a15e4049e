"""Row dicts and column dicts: validated, frozen and encoded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modeltap.errors import InvalidDataError
from modeltap.snapshot import take_snapshot
from tests.snapshot.conftest import ROWS, decoded, rows_of


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


def test_mixed_types_in_a_column_dict_keep_their_types() -> None:
    """A list column mixing ints and strings is not turned into strings."""
    assert rows_of({"m": [1, "x", None], "n": [1, 2, 3]}) == [
        {"m": 1, "n": 1}, {"m": "x", "n": 2}, {"m": None, "n": 3}
    ]
