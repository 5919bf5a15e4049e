"""Many small pandas snapshots of one schema encoded as JSON rows together (the writer's batches of
1-row frames), byte for byte what each would give alone."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from modeltap.snapshot.blocks import triples
from modeltap.snapshot.columns import frozen_columns
from modeltap.snapshot.encoding import ORJSON_OPTIONS, orjson_default
from modeltap.snapshot.frames import SMALL_ROWS, PandasSnapshot

__all__ = ["json_rows_many"]


def json_rows_many(snapshots: Sequence[Any]) -> list[bytes | Exception]:
    """``to_json_rows()`` of each snapshot, or the exception it raised. Small pandas frames of
    one schema are converted together: their blocks are joined, turned into Python values with
    one call per block, and cut back into one rows array per snapshot (byte for byte what
    ``to_json_rows`` gives), so a run of 1-row frames does not pay Arrow's and numpy's per-call
    costs once per frame."""
    out: list[bytes | Exception | None] = [None] * len(snapshots)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, snapshot in enumerate(snapshots):
        if (
            type(snapshot) is PandasSnapshot
            and snapshot.frozen
            and snapshot.rows <= SMALL_ROWS
        ):
            groups.setdefault(snapshot.signature, []).append(index)
    for indices in groups.values():
        if len(indices) > 1:
            try:
                encoded = _pandas_rows_together([snapshots[i] for i in indices])
            except Exception:
                continue  # each snapshot alone below
            for index, data in zip(indices, encoded, strict=True):
                out[index] = data
    for index, snapshot in enumerate(snapshots):
        if out[index] is None:
            try:
                out[index] = snapshot.to_json_rows()
            except Exception as exc:
                out[index] = exc
    return [data for data in out if data is not None]


def _pandas_rows_together(snapshots: list[PandasSnapshot]) -> list[bytes | None]:
    """The rows arrays of small pandas snapshots sharing one signature (None where one needs
    the slow path: ``to_json_rows`` then runs for it alone)."""
    import pyarrow as pa

    first = snapshots[0]
    width = len(first.names)
    columns: list[Any] = [None] * width
    blocks = [s.live_blocks() for s in snapshots]
    for number, (positions, values, _) in enumerate(triples(blocks[0])):
        pieces = [b[3 * number + 1] for b in blocks]
        parts: list[Any]
        if type(values) is np.ndarray and values.ndim == 1:  # tiny frames' string columns
            parts = [np.concatenate(pieces).tolist()]
        elif type(values) is np.ndarray and all(type(v) is np.ndarray for v in pieces):
            joined = np.concatenate(pieces, axis=1)
            if joined.dtype.kind == "f" and joined.itemsize < 8:
                parts = [list(row) for row in joined]
            else:
                parts = joined.tolist()
        elif isinstance(values, pa.ChunkedArray):
            chunks = [chunk for piece in pieces for chunk in piece.chunks]
            parts = [pa.chunked_array(chunks, type=values.type).to_pylist()]
        else:
            each = [
                frozen_columns([(range(len(positions)), p, None)], len(positions)) for p in pieces
            ]
            parts = [[v for one in each for v in one[k]] for k in range(len(positions))]
        for position, part in zip(positions, parts, strict=True):
            columns[position] = part
    names = first.names
    rows = zip(*columns, strict=True)
    out: list[bytes | None] = []
    for snapshot in snapshots:  # one snapshot's row dicts alive at a time
        if columns:
            records = [
                dict(zip(names, v, strict=True)) for v in itertools.islice(rows, snapshot.rows)
            ]
        else:
            records = [{}] * snapshot.rows
        try:
            out.append(orjson.dumps(records, option=ORJSON_OPTIONS, default=orjson_default))
        except (TypeError, orjson.JSONEncodeError):
            out.append(None)
    return out


