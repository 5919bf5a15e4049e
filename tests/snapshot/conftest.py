"""Shared inputs of the snapshot tests: the string storages, frames and row helpers."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from modeltap.event import DATA, pack_event
from modeltap.snapshot import PandasSnapshot, Snapshot, take_snapshot

ROWS = [{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "b": 1.5, "c": "y"}]


FLOATS = [0.1, 1 / 3, 2 / 3, 1e-300, 123456.78901234568, 2.0**53 + 2, 5e-324,
          1.7976931348623157e308, -0.0, 3.141592653589793]


@pytest.fixture(params=["pyarrow", "python"])
def string_storage(request: pytest.FixtureRequest) -> Iterator[str]:
    """pandas' storage for string columns: Arrow (its choice when pyarrow is installed) or
    Python objects (``modeltap serve``'s choice for scoring scripts)."""
    with pd.option_context("mode.string_storage", request.param):
        yield str(request.param)


def decoded(snapshot: Snapshot) -> list[dict[str, Any]]:
    """The rows a snapshot encodes, parsed back."""
    rows = orjson.loads(snapshot.to_json_rows())
    assert isinstance(rows, list)
    return rows


def rows_of(data: object) -> list[dict[str, Any]]:
    """Snapshot ``data`` and return its encoded rows."""
    return decoded(take_snapshot(data))


ACCEPTED: dict[str, Callable[[], object]] = {
    "pandas": lambda: pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "arrow": lambda: pa.table({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "arrow-batch": lambda: pa.RecordBatch.from_pydict(
        {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}
    ),
    "polars": lambda: pl.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}),
    "rows": lambda: [dict(r) for r in ROWS],
    "columns": lambda: {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]},
    "numpy-columns": lambda: {
        "a": np.array([1, 2]), "b": np.array([0.5, 1.5]), "c": np.array(["x", "y"])
    },
    "tuple-and-series-columns": lambda: {
        "a": (1, 2), "b": pd.Series([0.5, 1.5]), "c": pa.array(["x", "y"])
    },
}


def mixed_frame(rows: int) -> pd.DataFrame:
    """Float, int and string columns (pandas 3 strings are Arrow-backed), with missing values."""
    return pd.DataFrame(
        {
            "f": np.linspace(0.0, 1.0, rows),
            "i": np.arange(rows),
            "s": pd.array([f"v{n}" if n % 3 else None for n in range(rows)], dtype="str"),
            "t": pd.array([f"w{n}" for n in range(rows)], dtype="string"),
        }
    )


def big_frame(n: int = 20_000) -> pd.DataFrame:
    """A frame large enough to be encoded in several pieces."""
    return pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.arange(n) / 7,
            "s": [f"s{i}" for i in range(n)],
            "t": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
        }
    )


def pieces(frame: pd.DataFrame, size: int) -> list[dict[str, Any]]:
    """Encode ``frame`` in small separate pieces and join the rows."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(frame), size):
        rows.extend(rows_of(frame.iloc[start : start + size].reset_index(drop=True)))
    return rows


def round_trip(snapshot: Snapshot, *, pickled: bool = False) -> Snapshot:
    """``snapshot`` as the writer gets it back from its queued event (pickled as a writer
    process is sent it, if ``pickled``)."""
    queued = pack_event("model_inputs", 0, "cid", "xid", "pandas", snapshot, "root")
    if pickled:
        queued = pickle.loads(pickle.dumps(queued))
    if isinstance(snapshot, PandasSnapshot) and snapshot.frozen_parts() is not None:
        return PandasSnapshot.from_parts(queued[DATA:])
    return queued[DATA]  # type: ignore[no-any-return]
