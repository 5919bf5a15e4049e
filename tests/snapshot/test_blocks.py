"""Frozen blocks: the form a queue holds and a writer process is sent, and back."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from modeltap.snapshot import take_snapshot
from tests.snapshot.conftest import mixed_frame, round_trip


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
    packed = snapshot.frozen_parts() or ()  # type: ignore[attr-defined]
    if rows <= 256:
        assert not any(isinstance(part, range | np.dtype) for part in packed)
        arrays = [part for part in packed if isinstance(part, np.ndarray)]
        assert all(array.ndim == 1 and array.dtype == object for array in arrays)
        assert sum(type(part) is bytes for part in packed) >= 3  # int, float, bool, int8 blocks
    back = round_trip(snapshot, pickled=True)
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
        back = round_trip(snapshot, pickled=True)
        records = frame.to_dict(orient="records")
        assert back.to_json_rows() == orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS)
        assert back.to_arrow().equals(snapshot.to_arrow())
        if len(frame) <= 256:  # (numpy's own pickle gives large frames native byte order)
            assert back.signature == snapshot.signature  # type: ignore[attr-defined]
