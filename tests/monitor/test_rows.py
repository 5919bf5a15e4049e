"""A side's rows as one table: whole, or a seeded uniform sample kept while reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modeltap.monitor.rows import read_rows
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window


def _source(tmp_path: Path, rows: int = 1000) -> Source:
    """A Parquet folder of two files, in row groups of 100 (many pieces)."""
    folder = tmp_path / "data"
    folder.mkdir()
    half = rows // 2
    for index, start in enumerate((0, half)):
        table = pa.table({"i": np.arange(start, start + half), "s": ["v"] * half})
        pq.write_table(table, folder / f"part-{index}.parquet", row_group_size=100)
    return Source(str(folder), "files", str(folder), "parquet")


def test_whole_window_and_columns(tmp_path: Path) -> None:
    """Every row, only the columns asked for that exist."""
    table = read_rows(_source(tmp_path), Window(None, None), ["i", "absent"])
    assert table.column_names == ["i"]
    assert sorted(table.column("i").to_pylist()) == list(range(1000))


def test_sample_is_bounded_uniform_and_repeatable(tmp_path: Path) -> None:
    """At most ``sample`` rows, drawn from every piece, the same on every read."""
    source = _source(tmp_path)
    first = read_rows(source, Window(None, None), sample=200)
    second = read_rows(source, Window(None, None), sample=200)
    assert first.num_rows == 200
    assert first.equals(second)
    values = np.asarray(first.column("i").to_pylist())
    assert len(set(values.tolist())) == 200
    assert values.min() < 100 and values.max() >= 900  # from the first and the last pieces
    assert read_rows(source, Window(None, None), sample=5000).num_rows == 1000


def test_empty_source(tmp_path: Path) -> None:
    """A window with no rows gives an empty table."""
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(pa.table({"i": pa.array([], pa.int64())}), folder / "empty.parquet")
    source = Source(str(folder), "files", str(folder), "parquet")
    assert read_rows(source, Window(None, None)).num_rows == 0
    assert read_rows(source, Window(None, None), sample=10).num_rows == 0
