"""Arrow and polars snapshots: kept as they are, encoded like pandas."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from modeltap.snapshot import take_snapshot
from tests.snapshot.conftest import ROWS, big_frame, decoded, rows_of


def test_polars_frame_mutation_does_not_change_snapshot() -> None:
    """Writing a cell of a polars frame after collect() leaves the snapshot as it was."""
    frame = pl.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    snapshot = take_snapshot(frame)
    frame[0, "a"] = 99
    frame.drop_in_place("b")
    assert decoded(snapshot) == ROWS


def test_large_polars_and_arrow_frames_match_pandas() -> None:
    """Large polars and Arrow inputs encode to the same rows as the pandas frame."""
    frame = big_frame()
    expected = rows_of(frame)
    assert rows_of(pl.from_pandas(frame)) == expected
    assert rows_of(pa.Table.from_pandas(frame, preserve_index=False)) == expected
