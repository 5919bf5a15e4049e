"""Reading collected data back: one row per data row, over a time window, from any store.

``read(asset_or_path, start, end, columns)`` walks the partition folders
(``{yyyy}/{MM}/{dd}/{HH}[/{mm}]``) and descends only into those that overlap the window, so files
outside it are never opened. JSON lines are parsed by Arrow's multithreaded JSON reader and
exploded to rows in Arrow (a per-record Python path handles what Arrow cannot type: mixed types,
payload bodies, out-of-line ``dataref`` payloads); Parquet files are read with column pruning.
Duplicates that at-least-once delivery can leave (the same event ``id`` twice) are removed, the
first copy kept. Only committed files are seen: ``*.part``, hidden and ``_``-prefixed entries
(``_assets``, ``.modeltap``) are ignored.

Columns: ``correlationid``, ``xrequestid``, ``time`` (UTC), ``row_index``, then the data's own
columns, then any extra record fields (payload metadata such as ``method`` or ``status``). A
data column whose name collides with one of the four is renamed ``data_<name>``. For payload
collections (``request``, ``response``) each event is one row and ``data`` holds the body (a
JSON string in Arrow, parsed in pandas).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.catalog.model import DataAsset
from modeltap.catalog.tree import Tree, open_tree
from modeltap.errors import AssetNotFoundError, InvalidTimeError, StoreError

if TYPE_CHECKING:
    import duckdb

__all__ = ["ENVELOPE_COLUMNS", "join", "partition_files", "read", "read_arrow", "scan"]

ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "row_index")
PAYLOAD_COLLECTIONS = frozenset({"request", "response"})
JOIN_KEY = "correlationid_row_index"

_RECORD_FIELDS = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "data",
        "dataref",
        "correlationid",
        "xrequestid",
        "modelversion",
        "collectdatatype",
        "agent",
        "contentrange",
    }
)
_PARQUET_HIDDEN = frozenset({"id", "modelversion"})
_EXTENSIONS = (".jsonl", ".parquet")
_TIME_TYPE = pa.timestamp("us", tz="UTC")
_UTC = dt.UTC
_PART_WIDTHS = (4, 2, 2, 2, 2)  # yyyy / MM / dd / HH / mm
_EV = "__ev"
_ID = "__id"

TimeLike = str | dt.datetime | dt.date | pd.Timestamp | None


# -- time -------------------------------------------------------------------------------------


def _to_time(value: object, label: str) -> dt.datetime | None:
    """A start/end argument as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            stamp = pd.Timestamp(value.strip())
        elif isinstance(value, dt.datetime | dt.date | pd.Timestamp | np.datetime64):
            stamp = pd.Timestamp(value)
        else:
            raise TypeError(f"a {type(value).__name__}")
        if pd.isna(stamp):
            raise ValueError("not a time")
    except (ValueError, TypeError) as exc:
        raise InvalidTimeError(
            f"{label} {value!r} is not a time ({exc}): use ISO 8601 such as "
            "'2024-05-01T12:00:00Z' or '2024-05-01', or a datetime"
        ) from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    result: dt.datetime = stamp.to_pydatetime()
    return result


def _window(start: object, end: object) -> tuple[dt.datetime | None, dt.datetime | None]:
    lo, hi = _to_time(start, "start"), _to_time(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidTimeError(f"start {lo.isoformat()} is after end {hi.isoformat()}")
    return lo, hi


# -- finding files ----------------------------------------------------------------------------


def _folder_span(values: Sequence[int]) -> tuple[dt.datetime, dt.datetime]:
    """[first, after-last) instant of a partition folder with ``values`` (y, m, d, h, min)."""
    y = values[0]
    if len(values) == 1:
        return dt.datetime(y, 1, 1, tzinfo=_UTC), dt.datetime(y + 1, 1, 1, tzinfo=_UTC)
    m = values[1]
    if len(values) == 2:
        nxt = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=_UTC)
        return dt.datetime(y, m, 1, tzinfo=_UTC), nxt
    hour = values[3] if len(values) > 3 else 0
    minute = values[4] if len(values) > 4 else 0
    lo = dt.datetime(y, m, values[2], hour, minute, tzinfo=_UTC)
    width = {3: dt.timedelta(days=1), 4: dt.timedelta(hours=1), 5: dt.timedelta(minutes=1)}
    return lo, lo + width[len(values)]


def _part_value(name: str, level: int) -> int | None:
    if level >= len(_PART_WIDTHS) or len(name) != _PART_WIDTHS[level] or not name.isdigit():
        return None
    return int(name)


def _trailing_partition(root: str) -> tuple[int, ...]:
    """Partition values already in ``root`` (a reader may be pointed at ``.../2024/05``)."""
    parts = root.rstrip("/").split("/")
    found: list[str] = []
    for part in reversed(parts):
        if not part.isdigit() or len(found) >= len(_PART_WIDTHS):
            break
        found.insert(0, part)
    while found and len(found[0]) != 4:
        found.pop(0)
    values: list[int] = []
    for level, part in enumerate(found):
        value = _part_value(part, level)
        if value is None:
            break
        values.append(value)
    return tuple(values)


def _is_data_file(name: str) -> bool:
    return name.endswith(_EXTENSIONS) and not name.startswith((".", "_"))


def partition_files(
    tree: Tree,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    *,
    base: tuple[int, ...] = (),
) -> list[str]:
    """Committed data files under ``tree`` whose partition folder overlaps [start, end),
    relative to the tree, in path order. Folders outside the window are not even listed."""
    found: list[str] = []

    def walk(relative: str, values: tuple[int, ...]) -> None:
        for name, is_dir in tree.ls(relative):
            if name.startswith((".", "_")):
                continue
            path = f"{relative}/{name}" if relative else name
            if not is_dir:
                if _is_data_file(name):
                    found.append(path)
                continue
            value = _part_value(name, len(values))
            if value is None:
                continue  # not a partition folder (out-of-line payloads, other tools' files)
            inner = (*values, value)
            try:
                lo, hi = _folder_span(inner)
            except ValueError:
                continue  # 2024/13: not a date
            if (start is None or hi > start) and (end is None or lo < end):
                walk(path, inner)

    walk("", base)
    return found


# -- opening files (one place, so tests can count what is opened) ----------------------------


def _open_file(tree: Tree, relative: str) -> pa.Buffer:
    """The whole content of one committed file."""
    local = tree.local_path(relative)
    if local is not None:
        try:
            with pa.memory_map(local, "r") as source:
                return source.read_buffer()
        except OSError as exc:
            raise StoreError(f"cannot read {local}: {exc}") from exc
    return pa.py_buffer(tree.read_bytes(relative))


# -- JSON lines -------------------------------------------------------------------------------


def _block_size(buffer: pa.Buffer) -> int:
    """An Arrow JSON block size larger than the longest line (Arrow needs whole lines)."""
    size = int(buffer.size)
    if size <= 1 << 20:
        return max(size + 1, 1 << 16)
    raw = np.frombuffer(buffer, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    if len(newlines) == 0:
        return size + 1
    gaps = int(np.diff(newlines).max(initial=0))
    longest = max(int(newlines[0]) + 1, gaps, size - int(newlines[-1]))
    return max(1 << 20, longest + 1)


def _json_fast(buffer: pa.Buffer) -> pa.Table | None:
    """Records via Arrow when they type cleanly; None means: take the Python path."""
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            pa.BufferReader(buffer),
            read_options=pajson.ReadOptions(use_threads=True, block_size=_block_size(buffer)),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    names = table.column_names
    if "data" not in names or "time" not in names:
        return None
    kind = table.schema.field("data").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        return None
    if not pa.types.is_struct(kind.value_type):
        return None
    if "dataref" in names and table.column("dataref").null_count < len(table):
        return None
    for name in ("id", "correlationid", "xrequestid"):  # inference may type them otherwise
        if name not in names:
            table = table.append_column(name, pa.nulls(len(table), pa.string()))
        elif not pa.types.is_string(table.schema.field(name).type):
            try:
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.cast(table.column(name), pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
    return table


def _as_utc(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Event times as UTC timestamps (text is RFC 3339; naive timestamps are UTC)."""
    kind = times.type
    if pa.types.is_timestamp(kind) and kind.tz is None:
        times = pc.cast(times, pa.timestamp(kind.unit), safe=False)
        times = pc.assume_timezone(times, "UTC")
    return pc.cast(times, _TIME_TYPE, safe=False)


def _time_mask(
    times: pa.Array | pa.ChunkedArray, start: dt.datetime | None, end: dt.datetime | None
) -> pa.Array | pa.ChunkedArray | None:
    """Which events fall in [start, end); None when all of them do (no copy needed)."""
    if start is None and end is None:
        return None
    mask = None
    if start is not None:
        mask = pc.greater_equal(times, pa.scalar(start, _TIME_TYPE))
    if end is not None:
        upper = pc.less(times, pa.scalar(end, _TIME_TYPE))
        mask = upper if mask is None else pc.and_(mask, upper)
    mask = pc.fill_null(mask, False)
    return None if pc.all(mask).as_py() else mask


def _explode_fast(
    table: pa.Table, ev_base: int, start: dt.datetime | None, end: dt.datetime | None
) -> pa.Table:
    """Records (one per line) -> rows, in Arrow."""
    times = _as_utc(table.column("time"))
    table = table.set_column(table.schema.get_field_index("time"), "time", times)
    table = table.append_column(_EV, pa.array(np.arange(ev_base, ev_base + len(table))))
    mask = _time_mask(times, start, end)
    if mask is not None:
        table = table.filter(mask)
    data = table.column("data").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(data), 0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64, copy=False)
    parents = np.repeat(np.arange(len(table), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    row_index = np.arange(len(parents), dtype=np.int64) - np.repeat(starts, lengths)
    flat = pc.list_flatten(data)
    take = pa.array(parents)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: table.column(name).take(take)
        for name in ("correlationid", "xrequestid", "time")
    }
    columns["row_index"] = pa.array(row_index)
    columns[_ID] = table.column("id").take(take)
    columns[_EV] = table.column(_EV).take(take)
    for field, child in zip(flat.type, flat.flatten(), strict=True):
        _put_data_column(columns, field.name, child)
    for name in table.column_names:
        if name not in _RECORD_FIELDS and name != _EV:
            _put_data_column(columns, name, table.column(name).take(take))
    return pa.table(columns)


def _put_data_column(
    columns: dict[str, pa.Array | pa.ChunkedArray], name: str, values: pa.Array | pa.ChunkedArray
) -> None:
    target = name
    while target in columns:
        target = f"data_{target}"
    columns[target] = values


def _load_dataref(tree: Tree, relative: str, ref: str) -> Any:
    """An out-of-line payload. ``ref`` is an absolute URL or path, or relative to the
    collection folder (``2024/05/01/12/_payloads/{id}.json``, as the server writes it), or
    else relative to the folder of the record's file."""
    if "://" in ref or ref.startswith("/"):
        parent, _, name = ref.rpartition("/")
        blob = open_tree(parent or "/").read_bytes(name)
    else:
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        candidates = [ref, f"{folder}/{ref}" if folder else ref]
        for candidate in candidates:
            target = os.path.normpath(candidate).replace(os.sep, "/")
            if target.startswith("../") or target == "..":
                raise StoreError(f"dataref {ref!r} in {relative} points outside the collection")
            if candidate is candidates[-1] or tree.is_file(target):
                break
        blob = _open_file(tree, target).to_pybytes()
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError:
        try:
            return blob.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return base64.b64encode(blob).decode()


def _as_array(values: list[Any]) -> pa.Array:
    """An Arrow array of Python values; mixed types become JSON text (nothing is dropped)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
             for v in values],
            pa.string(),
        )


def _json_slow(
    tree: Tree,
    relative: str,
    blob: bytes,
    ev_base: int,
    payload: bool,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> pa.Table:
    """Records -> rows in Python: any data shape, ``dataref`` payloads, mixed types."""
    envelope: dict[str, list[Any]] = {
        "correlationid": [], "xrequestid": [], "time": [], "row_index": [], _ID: [], _EV: []
    }  # fmt: skip
    data: dict[str, list[Any]] = {}
    extra: dict[str, list[Any]] = {}
    count = 0
    for index, line in enumerate(blob.splitlines()):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"{tree.join(relative)} line {index + 1} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            continue
        value = record.get("data")
        if value is None and isinstance(record.get("dataref"), str):
            value = _load_dataref(tree, relative, record["dataref"])
        if payload or not (isinstance(value, list) and all(isinstance(r, dict) for r in value)):
            body = orjson.dumps(value).decode() if payload else value
            rows: list[dict[str, Any]] = [{"data": body}]
        else:
            rows = value
        meta = {k: v for k, v in record.items() if k not in _RECORD_FIELDS}
        for row_index, row in enumerate(rows):
            envelope["correlationid"].append(record.get("correlationid"))
            envelope["xrequestid"].append(record.get("xrequestid"))
            envelope["time"].append(record.get("time"))
            envelope["row_index"].append(row_index)
            envelope[_ID].append(record.get("id"))
            envelope[_EV].append(ev_base + index)
            for target, source in ((data, row), (extra, meta)):
                for key in target.keys() - source.keys():
                    target[key].append(None)
                for key, cell in source.items():
                    if key not in target:
                        target[key] = [None] * count
                    target[key].append(cell)
            count += 1
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "correlationid": pa.array(envelope["correlationid"], pa.string()),
        "xrequestid": pa.array(envelope["xrequestid"], pa.string()),
        "time": pc.cast(pa.array(envelope["time"], pa.string()), _TIME_TYPE),
        "row_index": pa.array(envelope["row_index"], pa.int64()),
        _ID: pa.array(envelope[_ID], pa.string()),
        _EV: pa.array(envelope[_EV], pa.int64()),
    }
    for source in (data, extra):
        for key, values in source.items():
            _put_data_column(columns, key, _as_array(values))
    table = pa.table(columns)
    mask = _time_mask(table.column("time"), start, end)
    return table if mask is None else table.filter(mask)


def _read_jsonl(
    tree: Tree,
    relative: str,
    ev_base: int,
    payload: bool,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> pa.Table:
    buffer = _open_file(tree, relative)
    table = None if payload else _json_fast(buffer)
    if table is not None:
        return _explode_fast(table, ev_base, start, end)
    return _json_slow(tree, relative, buffer.to_pybytes(), ev_base, payload, start, end)


# -- Parquet ----------------------------------------------------------------------------------


def _read_parquet(
    tree: Tree,
    relative: str,
    ev_base: int,
    columns: Sequence[str] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> pa.Table:
    import pyarrow.parquet as pq

    buffer = _open_file(tree, relative)
    try:
        handle = pq.ParquetFile(pa.BufferReader(buffer))
        names = handle.schema_arrow.names
        wanted = None
        if columns is not None:
            keep = set(columns) | {"id", "time", "row_index"}
            wanted = [n for n in names if n in keep]
        table = handle.read(columns=wanted, use_threads=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise StoreError(f"cannot read Parquet file {tree.join(relative)}: {exc}") from None
    if "time" in table.column_names:
        times = _as_utc(table.column("time"))
        table = table.set_column(table.schema.get_field_index("time"), "time", times)
        mask = _time_mask(times, start, end)
        if mask is not None:
            table = table.filter(mask)
    row_index = table.column("row_index") if "row_index" in table.column_names else None
    if row_index is not None:
        # an event's rows are contiguous and start at row_index 0: number the events
        starts = pc.equal(row_index, 0).to_numpy(zero_copy_only=False)
        ev = ev_base + np.cumsum(starts.astype(np.int64)) - 1
    else:
        ev = np.full(len(table), ev_base, dtype=np.int64)
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in ENVELOPE_COLUMNS:
        if name in table.column_names:
            out[name] = table.column(name)
    has_id = "id" in table.column_names
    out[_ID] = table.column("id") if has_id else pa.nulls(len(table), pa.string())
    out[_EV] = pa.array(ev, pa.int64())
    for name in table.column_names:
        if name not in out and name not in _PARQUET_HIDDEN:
            out[name] = table.column(name)
    return pa.table(out)


# -- putting it together ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    tree: Tree
    files: list[str]
    payload: bool


def _is_payload_collection(root: str, asset: DataAsset | None) -> bool:
    """Whether the collection is ``request``/``response``: by the asset, else by the folder
    name under any file name and partition folders in ``root``."""
    if asset is not None and asset.collection:
        return asset.collection in PAYLOAD_COLLECTIONS
    folder = root.replace(os.sep, "/").rstrip("/")
    if folder.endswith(_EXTENSIONS):
        folder = folder.rpartition("/")[0]
    parts = folder.split("/")
    depth = len(_trailing_partition(folder))
    name = parts[-1 - depth] if len(parts) > depth else ""
    return name in PAYLOAD_COLLECTIONS


def _target(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: dt.datetime | None,
    end: dt.datetime | None,
    destination: str | None,
    storage_options: dict[str, Any] | None,
) -> _Target:
    asset: DataAsset | None = None
    if isinstance(asset_or_path, DataAsset):
        asset = asset_or_path
        root = asset.root
    else:
        text = os.fspath(asset_or_path)
        looks_like_path = "://" in text or "/" in text or os.sep in text or text in (".", "..")
        if looks_like_path or (destination is None and os.path.exists(text)):
            root = text
        else:
            from modeltap.catalog import get_asset

            try:
                asset = get_asset(text, destination, storage_options)
            except AssetNotFoundError:
                if os.path.exists(text):
                    asset, root = None, text
                else:
                    raise
            else:
                root = asset.root
    payload = _is_payload_collection(root, asset)
    name = root.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(_EXTENSIONS):
        parent_tree = open_tree(root.rstrip("/")[: -len(name)].rstrip("/") or ".", storage_options)
        if parent_tree.is_file(name):
            return _Target(parent_tree, [name], payload)
    tree = open_tree(root, storage_options)
    if not tree.is_dir(""):
        what = f"data asset {asset.ref} has root {root}" if asset is not None else root
        raise StoreError(f"nothing to read: {what} is not a folder or file that exists")
    files = partition_files(tree, start, end, base=_trailing_partition(tree.url))
    return _Target(tree, files, payload)


def _read_one(
    target: _Target,
    relative: str,
    ev_base: int,
    columns: Sequence[str] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> pa.Table:
    if relative.endswith(".parquet"):
        return _read_parquet(target.tree, relative, ev_base, columns, start, end)
    return _read_jsonl(target.tree, relative, ev_base, target.payload, start, end)


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Tables with different columns or types as one: missing columns null, types promoted,
    and columns whose types cannot be promoted turned into JSON text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    kinds: dict[str, set[str]] = {}
    for table in tables:
        for field in table.schema:
            if not pa.types.is_null(field.type):
                kinds.setdefault(field.name, set()).add(str(field.type))
    clash = {name for name, seen in kinds.items() if len(seen) > 1}
    fixed = []
    for table in tables:
        for name in clash & set(table.column_names):
            values = table.column(name).to_pylist()
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, _as_text(values))
        fixed.append(table)
    return pa.concat_tables(fixed, promote_options="permissive")


def _as_text(values: Iterable[Any]) -> pa.Array:
    return pa.array(
        [None if v is None else v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
         for v in values],
        pa.string(),
    )


def _deduplicate(table: pa.Table) -> pa.Table:
    """Keep the first copy of every event id (copies come from at-least-once delivery)."""
    import polars as pl

    if len(table) == 0:
        return table
    starts = pc.equal(table.column("row_index"), 0)
    ids = pl.Series("id", pc.filter(table.column(_ID), starts))
    if ids.null_count() == len(ids) or ids.drop_nulls().n_unique() == len(ids) - ids.null_count():
        return table
    events = (
        pl.DataFrame({"id": ids, "ev": pl.Series("ev", pc.filter(table.column(_EV), starts))})
        .unique()
        .sort("ev")
    )
    first = pl.col("id").is_first_distinct()
    dropped = events.filter(pl.col("id").is_not_null() & ~first)["ev"].to_arrow()
    if len(dropped) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table.column(_EV), dropped)))


def _ordered(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    table = table.drop_columns([c for c in (_ID, _EV) if c in table.column_names])
    if columns is None:
        return table
    present = set(table.column_names)
    arrays = [
        table.column(name) if name in present else pa.nulls(len(table)) for name in columns
    ]
    return pa.table(arrays, names=list(columns))


def _empty(columns: Sequence[str] | None) -> pa.Table:
    types = {
        "correlationid": pa.string(),
        "xrequestid": pa.string(),
        "time": _TIME_TYPE,
        "row_index": pa.int64(),
    }
    names = list(columns) if columns is not None else list(ENVELOPE_COLUMNS)
    return pa.table({n: pa.array([], types.get(n, pa.null())) for n in names})


def _read_table(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike,
    end: TimeLike,
    columns: Sequence[str] | None,
    destination: str | None,
    storage_options: dict[str, Any] | None,
) -> tuple[pa.Table, bool]:
    """(the rows, whether it is a payload collection)."""
    lo, hi = _window(start, end)
    if isinstance(columns, str):
        columns = [columns]
    target = _target(asset_or_path, lo, hi, destination, storage_options)
    if not target.files:
        return _empty(columns), target.payload
    bases = [i << 32 for i in range(len(target.files))]
    workers = min(len(target.files), max(2, (os.cpu_count() or 2)))
    if workers == 1:
        tables = [_read_one(target, target.files[0], 0, columns, lo, hi)]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="modeltap-read") as pool:
            tables = list(
                pool.map(
                    lambda args: _read_one(target, args[0], args[1], columns, lo, hi),
                    zip(target.files, bases, strict=True),
                )
            )
    tables = [t for t in tables if len(t)]
    if not tables:
        return _empty(columns), target.payload
    table = _concat(tables) if len(tables) > 1 else tables[0]
    return _ordered(_deduplicate(table), columns), target.payload


def read_arrow(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: Sequence[str] | None = None,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """Like :func:`read`, as a ``pyarrow.Table`` (payload bodies stay JSON text)."""
    table, _ = _read_table(asset_or_path, start, end, columns, destination, storage_options)
    return table


def read(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: TimeLike = None,
    end: TimeLike = None,
    columns: Sequence[str] | None = None,
    *,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a collection back as a DataFrame with one row per data row.

    ``asset_or_path`` is a data asset (``"NAME"`` or ``"NAME:VERSION"``, looked up in
    ``destination``, by default the configured one; or a :class:`DataAsset`), a collection
    folder, a partition folder inside it, or one file, local or as an fsspec URL. ``start``
    (inclusive) and ``end`` (exclusive) bound the event time; naive times are UTC. ``columns``
    picks and orders the columns returned (a column found nowhere comes back as nulls).
    """
    table, payload = _read_table(asset_or_path, start, end, columns, destination, storage_options)
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
    )
    con = connection if connection is not None else duckdb.connect()
    return con.from_arrow(table)


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
    for label, frame in (("inputs", left), ("outputs", right)):
        missing = {"correlationid", "row_index"} - set(frame.columns)
        if missing:
            raise ValueError(f"{label} lack the column(s) {sorted(missing)} needed to join")
    merged = left.merge(
        right,
        on=["correlationid", "row_index"],
        how=how,  # type: ignore[arg-type]
        suffixes=suffixes,
        sort=False,
    )
    key = merged["correlationid"].astype(str) + "_" + merged["row_index"].astype("Int64").astype(
        str
    )
    merged.insert(0, JOIN_KEY, key)
    return merged
