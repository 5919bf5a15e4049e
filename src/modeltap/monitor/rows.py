"""A side's rows as one ``pyarrow.Table``, for the signals that need rows rather than
aggregates (feature attribution, custom signals).

The window is read piece by piece (an hour of collected data, a record batch of files); with
``sample`` at most that many rows are kept, a uniform sample drawn with a fixed seed while
reading (each row gets a random key; the rows with the smallest keys stay), so the same data
always gives the same sample and memory holds at most ``sample`` rows plus one piece.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window

__all__ = ["SAMPLE_SEED", "read_rows"]

SAMPLE_SEED = 20240501


def _select(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    if columns is None:
        return table
    return table.select([c for c in columns if c in table.column_names])


def read_rows(
    source: Source,
    window: Window,
    columns: Sequence[str] | None = None,
    sample: int | None = None,
) -> pa.Table:
    """The rows of ``source`` in ``window`` (only ``columns`` that exist, when given), at most
    ``sample`` of them (a seeded uniform sample). Pieces with different schemas are unified
    (a column missing from a piece is null there; an int column that became float is float)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    kept: pa.Table | None = None
    keys = np.zeros(0, dtype=np.float64)
    pieces: list[pa.Table] = []
    for piece in source.batches(window, None):
        piece = _select(piece, columns)
        if sample is None:
            pieces.append(piece)
            continue
        piece_keys = rng.random(len(piece))
        merged = piece if kept is None else _concat([kept, piece])
        keys = np.concatenate([keys, piece_keys])
        if len(keys) > sample:
            order = np.sort(np.argpartition(keys, sample - 1)[:sample])
            merged = merged.take(pa.array(order))
            keys = keys[order]
        kept = merged
    if sample is not None:
        return kept if kept is not None else pa.table({})
    return _concat(pieces) if pieces else pa.table({})


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.combine_chunks() if table.num_columns else table
