"""The embedded (DuckDB) engine passes the engine conformance suite, and cleans up after itself."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
import pytest

from modeltap.monitor.engines import EmbeddedEngine, Engine
from modeltap.monitor.engines.embedded import _pieces, _value_counts
from tests.monitor.engines.conformance import EngineConformance


class TestEmbeddedEngine(EngineConformance):
    """The conformance suite on the embedded engine."""

    @pytest.fixture
    def engine(self) -> Iterator[Engine]:
        """An embedded engine with a small memory limit, closed after the test."""
        with EmbeddedEngine(memory_limit="256MB", threads=1) as opened:
            yield opened


def test_close_removes_the_spill_folder() -> None:
    """Closing the engine removes its temporary folder."""
    engine = EmbeddedEngine()
    folder = engine._folder
    assert os.path.isdir(folder)
    engine.close()
    assert not os.path.exists(folder)


def test_pieces_put_batches_of_one_schema_together() -> None:
    """Consecutive tables of one schema are counted together up to the row limit; a table of
    another schema starts a new piece, and no row is lost or repeated."""
    ints = [pa.table({"x": [i, i]}) for i in range(3)]
    floats = [pa.table({"x": [0.5]}), pa.table({"x": [1.5]})]
    pieces = list(_pieces([*ints, *floats], rows=4))
    assert [p.num_rows for p in pieces] == [4, 2, 2]
    assert [p.schema.field("x").type for p in pieces] == [pa.int64(), pa.int64(), pa.float64()]
    assert [v for p in pieces for v in p.column("x").to_pylist()] == [0, 0, 1, 1, 2, 2, 0.5, 1.5]


def test_value_counts_of_a_piece_count_nulls_and_dictionaries() -> None:
    """A piece's value counts keep nulls and NaN apart (dropped later) and count dictionary
    chunks with different dictionaries by value."""
    words = pa.chunked_array(
        [pa.array(["a", "b", "a"]).dictionary_encode(), pa.array(["b", "c"]).dictionary_encode()]
    )
    assert sorted((r["v"], r["n"]) for r in _value_counts(words).to_pylist()) == [
        ("a", 2),
        ("b", 2),
        ("c", 1),
    ]
    numbers = _value_counts(pa.chunked_array([[1.0, None, 1.0], [2.0, None]])).to_pylist()
    assert sorted(numbers, key=lambda r: (r["v"] is None, r["v"] or 0)) == [
        {"v": 1.0, "n": 2},
        {"v": 2.0, "n": 1},
        {"v": None, "n": 2},
    ]
