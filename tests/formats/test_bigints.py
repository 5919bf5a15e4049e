"""Integers beyond 64 bits: the event is written whole, the big integers as decimal text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from tests.conftest import ConfigureTap

BIG = 2**70 + 1


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("library", ["pandas", "polars", "columns"])
def test_integers_beyond_64_bits_are_kept(
    configure_tap: ConfigureTap, data_dir: Path, fmt: str, library: str
) -> None:
    """A frame with an integer beyond 64 bits is written (no encode_error) and reads back with
    every digit; its other columns keep their types."""
    configure_tap(format=fmt)
    if library == "pandas":
        data: object = pd.DataFrame({"big": [BIG, 1], "n": [1, 2]})
    elif library == "polars":
        data = pl.DataFrame({"big": pl.Series([BIG, 1], dtype=pl.Int128), "n": [1, 2]})
    else:
        data = {"big": [BIG, 1], "n": [1, 2]}
    Collector(name="model_inputs").collect(data, BasicCorrelationContext(id="r"))  # type: ignore[arg-type]
    assert modeltap.flush(timeout=30)
    assert modeltap.stats().total("dropped_total") == 0
    assert modeltap.stats().total("events_written") == 1
    frame = modeltap.read(data_dir / "ep" / "dep" / "model_inputs")
    assert [int(v) for v in frame["big"]] == [BIG, 1]
    assert frame["n"].tolist() == [1, 2]
