"""Rows of several files as one table: promotable types promoted, the rest as text."""

from __future__ import annotations

import pyarrow as pa

from modeltap.reading.combine import concat, deduplicate, empty, ordered


def test_concat_promotes_what_arrow_can_and_texts_the_rest() -> None:
    """An int and a double column stay numbers; list columns of clashing types become text."""
    first = pa.table({"x": pa.array([1]), "lst": pa.array([[1, 2]])})
    second = pa.table({"x": pa.array([1.5]), "lst": pa.array([["a"]]), "new": ["n"]})
    table = concat([first, second])
    assert table.schema.field("x").type == pa.float64()
    assert table.column("x").to_pylist() == [1.0, 1.5]
    assert table.column("lst").to_pylist() == ["[1,2]", '["a"]']
    assert table.column("new").to_pylist() == [None, "n"]


def test_deduplicate_keeps_the_first_copy_of_an_event() -> None:
    """Rows of a second copy of an event id are dropped; events without an id stay."""
    table = pa.table(
        {
            "row_index": [0, 1, 0, 1, 0, 0],
            "__id": ["a", "a", "a", "a", None, None],
            "__ev": [0, 0, 1, 1, 2, 3],
            "v": [1, 2, 3, 4, 5, 6],
        }
    )
    assert deduplicate(table).column("v").to_pylist() == [1, 2, 5, 6]


def test_ordered_and_empty() -> None:
    """Hidden columns are dropped and picked columns come in order; no rows keep the envelope."""
    table = pa.table({"__id": ["a"], "__ev": [0], "b": [1], "a": [2]})
    assert ordered(table, None).column_names == ["b", "a"]
    assert ordered(table, ["a", "zz"]).to_pydict() == {"a": [2], "zz": [None]}
    assert empty(None).column_names == ["correlationid", "xrequestid", "time", "row_index"]
