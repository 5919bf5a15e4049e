"""Inputs and outputs of the same request side by side."""

from __future__ import annotations

import os

import pandas as pd

from modeltap.catalog.model import DataAsset
from modeltap.errors import InvalidDataError
from modeltap.reading.collection import read
from modeltap.reading.window import TimeLike

__all__ = ["JOIN_KEY", "join"]

JOIN_KEY = "correlationid_row_index"
_HOWS = ("inner", "left", "right", "outer")


def join(
    inputs: pd.DataFrame | str | os.PathLike[str] | DataAsset,
    outputs: pd.DataFrame | str | os.PathLike[str] | DataAsset,
    *,
    how: str = "inner",
    start: TimeLike = None,
    end: TimeLike = None,
    destination: str | None = None,
    suffixes: tuple[str, str] = ("_inputs", "_outputs"),
) -> pd.DataFrame:
    """Inputs and outputs of the same request and row side by side, on (``correlationid``,
    ``row_index``), with the ground-truth join key ``{correlationid}_{row_index}`` in the column
    ``correlationid_row_index`` first. Other columns present on both sides get ``suffixes``.
    Frames are used as given; asset names and paths are read with ``start``/``end`` first."""
    frames = []
    for side in (inputs, outputs):
        if isinstance(side, pd.DataFrame):
            frames.append(side)
        else:
            frames.append(read(side, start, end, destination=destination))
    left, right = frames
    if how not in _HOWS:
        raise InvalidDataError(f"how={how!r} is not a join: use one of {', '.join(_HOWS)}")
    for label, frame in (("inputs", left), ("outputs", right)):
        missing = {"correlationid", "row_index"} - set(frame.columns)
        if missing:
            raise InvalidDataError(
                f"{label} lack the column(s) {sorted(missing)} needed to join: pass frames "
                "read by modeltap.read with their envelope columns"
            )
    merged = left.merge(
        right,
        on=["correlationid", "row_index"],
        how=how,  # type: ignore[arg-type]
        suffixes=suffixes,
        sort=False,
    )
    key = (
        merged["correlationid"].astype(str) + "_" + merged["row_index"].astype("Int64").astype(str)
    )
    merged.insert(0, JOIN_KEY, key)
    return merged
