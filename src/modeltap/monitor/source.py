"""Where a signal's data comes from, read only through modeltap's public read API.

A source is either **collected** data (a data asset, or a folder of collected data, read with
``modeltap.read_arrow`` over a time window) or **files** of training data (Parquet, CSV or JSON
lines, a file or a folder, read with ``pyarrow.dataset``). Collected windows are read one hour
at a time, and Parquet data assets with many columns a few columns at a time (``read_arrow``
materializes what it reads, so one read holds an hour of a few columns); files stream in record
batches. The hours read are bounded by the asset's first event time and the later of its last
event time and now.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from modeltap.catalog import DataAsset
from modeltap.errors import AssetNotFoundError, ModelTapError, MonitorError
from modeltap.monitor.definition import InputRef
from modeltap.monitor.windows import Window, to_utc
from modeltap.store.layout import partition_value, trailing_partition

__all__ = ["COLUMN_GROUP", "ENVELOPE_COLUMNS", "Source", "resolve_source"]

ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "row_index")
COLUMN_GROUP = 4
_GROUP_ENVELOPE = ("correlationid", "time", "row_index")  # what a group needs to be joined
_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


@dataclass(frozen=True)
class Source:
    """Resolved input data of one side of a signal."""

    label: str
    kind: Literal["collected", "files"]
    location: Any  # a DataAsset or a path/URL for collected data; a path/URL for files
    file_format: str | None = None
    first_time: str | None = None
    last_time: str | None = None
    storage_options: dict[str, Any] | None = None

    def column_groups(self) -> list[list[str] | None]:
        """Columns to read together (None: all of them).

        A Parquet data asset with more than ``COLUMN_GROUP`` data columns is read a few columns
        at a time (each read then loads only those columns, plus the correlation id, time and
        row index), so one read holds an hour of a few columns; anything else is read whole.
        The columns are the asset's, as the catalog lists them."""
        asset = self.location
        if self.kind != "collected" or not isinstance(asset, DataAsset):
            return [None]
        data = [c for c in asset.columns if c not in ENVELOPE_COLUMNS]
        if asset.format != "parquet" or len(data) <= COLUMN_GROUP:
            return [None]
        return [data[i : i + COLUMN_GROUP] for i in range(0, len(data), COLUMN_GROUP)]

    def batches(
        self, window: Window, columns: list[str] | None = None, envelope: bool = True
    ) -> Iterator[pa.Table]:
        """The rows of ``window`` in pieces (a whole dataset for an unbounded window); for
        collected data, only ``columns`` (and the envelope, unless ``envelope`` is False) when
        given."""
        if self.kind == "collected":
            yield from self._collected(window, columns, envelope)
        else:
            yield from self._files(window)

    def _collected(
        self, window: Window, columns: list[str] | None, envelope: bool
    ) -> Iterator[pa.Table]:
        import modeltap

        bounded = window
        if self.first_time is not None:
            # The asset's extent bounds the hours worth reading. Its last event time can lag
            # behind the store (it is updated after each commit), so the upper bound is never
            # before the next hour from now.
            first = to_utc(self.first_time).replace(minute=0, second=0, microsecond=0)
            last = to_utc(self.last_time or self.first_time)
            now = dt.datetime.now(dt.UTC)
            ceiling = (max(last, now) + dt.timedelta(hours=1)).replace(
                minute=0, second=0, microsecond=0
            )
            lo = first if window.start is None else max(first, window.start)
            hi = ceiling if window.end is None else min(ceiling, window.end)
            if hi <= lo:
                return
            bounded = Window(lo, hi)
        for piece in bounded.hours():
            try:
                table = modeltap.read_arrow(
                    self.location,
                    piece.start,
                    piece.end,
                    columns=None
                    if columns is None
                    else [*(_GROUP_ENVELOPE if envelope else ()), *columns],
                    storage_options=self.storage_options,
                )
            except ModelTapError as exc:
                raise MonitorError(f"cannot read {self.label}: {exc}") from None
            except (OSError, pa.ArrowException) as exc:
                raise MonitorError(f"cannot read {self.label}: {exc}") from None
            if len(table):
                yield table

    def dataset(self) -> Any:
        """The training files as a ``pyarrow.dataset.Dataset`` (files sources only)."""
        import pyarrow.dataset as ds

        file_format: Any = self.file_format
        if file_format == "csv":  # an empty field is a null, as pandas reads it
            import pyarrow.csv as pacsv

            file_format = ds.CsvFileFormat(
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
            )
        try:
            if "://" in str(self.location):
                import fsspec

                fs, root = fsspec.core.url_to_fs(str(self.location), **(self.storage_options or {}))
                return ds.dataset(root, format=file_format, filesystem=fs)
            return ds.dataset(os.path.expanduser(self.location), format=file_format)
        except (OSError, pa.ArrowException) as exc:
            raise MonitorError(f"cannot read {self.label}: {exc}") from None

    def _files(self, window: Window) -> Iterator[pa.Table]:
        import pyarrow.compute as pc

        dataset = self.dataset()
        has_time = "time" in dataset.schema.names
        if (window.start is not None or window.end is not None) and not has_time:
            raise MonitorError(
                f"{self.label} has no 'time' column to select the window "
                f"[{window.start}, {window.end}) by: drop the data_window of training data"
            )
        try:
            for batch in dataset.to_batches():
                table = pa.Table.from_batches([batch])
                if has_time and (window.start is not None or window.end is not None):
                    times = pc.cast(table.column("time"), pa.timestamp("us", tz="UTC"))
                    mask = None
                    if window.start is not None:
                        mask = pc.greater_equal(times, pa.scalar(window.start))
                    if window.end is not None:
                        upper = pc.less(times, pa.scalar(window.end))
                        mask = upper if mask is None else pc.and_(mask, upper)
                    table = table.filter(pc.fill_null(mask, False))
                if len(table):
                    yield table
        except (OSError, pa.ArrowException) as exc:
            raise MonitorError(f"cannot read {self.label}: {exc}") from None


def _file_format(path: str) -> str | None:
    lower = path.lower().rstrip("/")
    for suffix, name in _FORMATS.items():
        if lower.endswith(suffix):
            return name
    return None


def _is_collected_file(path: str, storage_options: dict[str, Any] | None) -> bool:
    """A ``.jsonl`` of collected records or a ``.parquet`` with the collected envelope."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        if path.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            with fs.open(root, "rb") as handle:
                names = set(pq.ParquetFile(handle).schema_arrow.names)
            return {"time", "row_index"} <= names
        with fs.open(root, "rb") as handle:
            first = handle.readline(1 << 20)
    except (OSError, pa.ArrowException) as exc:
        raise MonitorError(f"cannot read {path}: {exc}") from None
    return b'"specversion"' in first or (b'"data"' in first and b'"time"' in first)


def _folder_kind(path: str, storage_options: dict[str, Any] | None) -> tuple[str, str | None]:
    """(``collected`` | ``files``, file format) of a folder, by what it holds."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
        if not fs.isdir(root):
            raise MonitorError(f"{path} is not a folder or file that exists")
        entries = fs.ls(root, detail=True)
    except OSError as exc:
        raise MonitorError(f"cannot read {path}: {exc}") from None
    if trailing_partition(path):  # a partition folder of a collection (``.../2024/05``)
        return "collected", None
    formats = set()
    for entry in entries:
        name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith((".", "_")):
            continue
        if entry["type"] == "directory" and partition_value(name, 0) is not None:
            return "collected", None
        found = _file_format(name)
        if found is not None:
            formats.add(found)
    if len(formats) == 1:
        return "files", formats.pop()
    if not formats:
        raise MonitorError(
            f"{path} holds neither collected data (yyyy/MM/dd/HH folders) nor Parquet, CSV or "
            "JSON lines files"
        )
    raise MonitorError(f"{path} mixes file formats ({', '.join(sorted(formats))}): keep one")


def resolve_source(
    ref: InputRef, destination: str, storage_options: dict[str, Any] | None = None
) -> Source:
    """The data ``ref`` points at: a data asset in ``destination``, collected data, or files.

    Raises MonitorError naming what could not be found or read."""
    import modeltap

    if ref.kind == "asset":
        try:
            asset = modeltap.get_asset(ref.ref, destination, storage_options)
        except AssetNotFoundError as exc:
            if os.path.exists(ref.name):
                return resolve_source(InputRef("path", ref.name), destination, storage_options)
            raise MonitorError(str(exc)) from None
        except ModelTapError as exc:
            raise MonitorError(f"cannot look up data asset {ref.ref}: {exc}") from None
        return Source(
            label=f"data asset {asset.ref}",
            kind="collected",
            location=asset,
            first_time=asset.first_event_time,
            last_time=asset.last_event_time,
            storage_options=storage_options,
        )
    path = os.path.expanduser(ref.name) if "://" not in ref.name else ref.name
    found = _file_format(path)
    if found is not None and not path.endswith("/"):
        if found in ("json", "parquet") and _is_collected_file(path, storage_options):
            return Source(path, "collected", path, storage_options=storage_options)
        return Source(path, "files", path, found, storage_options=storage_options)
    kind, file_format = _folder_kind(path, storage_options)
    if kind == "collected":
        return Source(path, "collected", path, storage_options=storage_options)
    return Source(path, "files", path, file_format, storage_options=storage_options)
