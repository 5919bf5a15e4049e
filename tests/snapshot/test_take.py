"""take_snapshot: every accepted type is taken, encoded and frozen at collect() time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import modeltap
from modeltap import Collector
from modeltap.errors import InvalidDataError, UnsupportedDataError
from modeltap.snapshot import take_snapshot, type_fullname
from tests.conftest import ConfigureTap, ReadRecords
from tests.snapshot.conftest import ACCEPTED, ROWS, decoded


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


def test_collect_reports_invalid_data(configure_tap: ConfigureTap) -> None:
    """Invalid data through collect() raises InvalidDataError and counts 'invalid_data'."""
    configure_tap()
    with pytest.raises(InvalidDataError):
        Collector(name="model_inputs").collect({"a": [1], "b": [1, 2]})
    assert modeltap.stats().collections["model_inputs"].dropped == {"invalid_data": 1}
