"""Reading a collection back: its files in the window, decoded by their format, as one table.

Files are decoded in parallel (a thread each, up to the CPU count), each by the format its
name says (``modeltap.formats``). A record or file that cannot be read is skipped and counted,
never failing the read: the read ends with a ``SkippedRecordsWarning`` naming file, line and
reason (``on_bad_record="raise"`` raises ``BadRecordError`` instead).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pyarrow as pa

from modeltap.catalog.model import DataAsset
from modeltap.errors import SkippedRecordsWarning
from modeltap.formats import BadRecords, FileRead, format_for_path
from modeltap.formats.base import OnBadRecord
from modeltap.reading.combine import concat, deduplicate, empty, ordered
from modeltap.reading.sources import Collection, find_collection, open_file, ref_loader
from modeltap.reading.window import TimeLike, window

if TYPE_CHECKING:
    import datetime as dt

    import duckdb

__all__ = ["read", "read_arrow", "scan", "warn_skipped"]

logger = logging.getLogger("modeltap.reading")

_SHOWN = 5  # skipped records named in the warning (all are in its ``skipped``)


def _decode(
    collection: Collection,
    relative: str,
    event_base: int,
    columns: Sequence[str] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    bad: BadRecords,
) -> pa.Table:
    found = format_for_path(relative)
    assert found is not None  # partition_files lists data files only
    tree = collection.tree
    file = FileRead(
        name=tree.join(relative),
        content=open_file(tree, relative),
        event_base=event_base,
        columns=columns,
        start=start,
        end=end,
        payload=collection.payload,
        load_ref=ref_loader(tree, relative),
        bad=bad,
    )
    return found.decode(file)


def warn_skipped(
    what: str, skipped: Sequence[object], advice: str = "", stacklevel: int = 2
) -> None:
    """Log and warn (``SkippedRecordsWarning``) that a read skipped ``skipped`` (each a file and
    line, or a file and count, shown as text; the first few named): ``what`` says what they
    are, ``advice`` what to do instead. ``stacklevel`` is the caller's, as for
    ``warnings.warn``."""
    shown = "; ".join(str(s) for s in skipped[:_SHOWN])
    more = f"; and {len(skipped) - _SHOWN} more" if len(skipped) > _SHOWN else ""
    message = f"skipped {what}: {shown}{more}{f' ({advice})' if advice else ''}"
    logger.warning("%s", message)
    warnings.warn(SkippedRecordsWarning(message, tuple(skipped)), stacklevel=stacklevel + 1)


def _warn(bad: BadRecords) -> None:
    warn_skipped(
        f"{len(bad.skipped)} record(s) that cannot be read",
        bad.skipped,
        "on_bad_record='raise' raises instead",
        stacklevel=4,
    )


def _read_table(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike,
    end: TimeLike,
    columns: Sequence[str] | None,
    destination: str | None,
    storage_options: dict[str, Any] | None,
    on_bad_record: OnBadRecord,
    allow_external_root: bool,
) -> tuple[pa.Table, bool]:
    """(the rows, whether it is a payload collection)."""
    bad = BadRecords(on_bad_record)
    lo, hi = window(start, end)
    if isinstance(columns, str):
        columns = [columns]
    collection = find_collection(
        asset_or_path,
        lo,
        hi,
        destination,
        storage_options,
        allow_external_root=allow_external_root,
    )
    files = collection.files
    if not files:
        return empty(columns), collection.payload
    bases = [i << 32 for i in range(len(files))]
    workers = min(len(files), max(2, (os.cpu_count() or 2)))
    if workers == 1:
        tables = [_decode(collection, files[0], 0, columns, lo, hi, bad)]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="modeltap-read") as pool:
            tables = list(
                pool.map(
                    lambda args: _decode(collection, args[0], args[1], columns, lo, hi, bad),
                    zip(files, bases, strict=True),
                )
            )
    if bad.skipped:
        _warn(bad)
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty(columns), collection.payload
    table = concat(tables) if len(tables) > 1 else tables[0]
    return ordered(deduplicate(table), columns), collection.payload


def read_arrow(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: Sequence[str] | None = None,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    allow_external_root: bool = False,
) -> pa.Table:
    """Like :func:`read`, as a ``pyarrow.Table`` (payload bodies stay JSON text)."""
    table, _ = _read_table(
        asset_or_path,
        start,
        end,
        columns,
        destination,
        storage_options,
        on_bad_record,
        allow_external_root,
    )
    return table


def read(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: Sequence[str] | None = None,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    allow_external_root: bool = False,
) -> pd.DataFrame:
    """Read a collection back as a DataFrame with one row per data row.

    ``asset_or_path`` is a data asset (``"NAME"`` or ``"NAME:VERSION"``, looked up in
    ``destination``, by default the configured one; or a :class:`DataAsset`), a collection
    folder, a partition folder inside it, or one file, local or as an fsspec URL. ``start``
    (inclusive) and ``end`` (exclusive) bound the event time; naive times are UTC. ``columns``
    picks and orders the columns returned (a column found nowhere comes back as nulls).

    A record or file that cannot be read is skipped, and the read warns with a
    :class:`~modeltap.SkippedRecordsWarning` naming each one's file and line;
    ``on_bad_record="raise"`` raises :class:`~modeltap.BadRecordError` at the first instead.
    A data asset whose files lie outside its destination is read only with
    ``allow_external_root=True``.
    """
    table, payload = _read_table(
        asset_or_path,
        start,
        end,
        columns,
        destination,
        storage_options,
        on_bad_record,
        allow_external_root,
    )
    frame: pd.DataFrame = table.to_pandas()
    if payload and "data" in frame.columns:
        frame["data"] = [_parse_body(v) for v in frame["data"]]
    return frame


def _parse_body(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def scan(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: Sequence[str] | None = None,
    *,
    connection: duckdb.DuckDBPyConnection | None = None,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
    on_bad_record: OnBadRecord = "skip",
    allow_external_root: bool = False,
) -> duckdb.DuckDBPyRelation:
    """Like :func:`read_arrow`, as a DuckDB relation for SQL (``rel.query("t", "SELECT ...")``
    or ``duckdb.sql("SELECT ... FROM rel")``)."""
    import duckdb

    table = read_arrow(
        asset_or_path,
        start,
        end,
        columns,
        destination=destination,
        storage_options=storage_options,
        on_bad_record=on_bad_record,
        allow_external_root=allow_external_root,
    )
    con = connection if connection is not None else duckdb.connect()
    return con.from_arrow(table)
