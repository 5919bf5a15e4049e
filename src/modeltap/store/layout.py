"""The storage layout, written and parsed here only: partition folders by time and rolling
rate, per-process instance ids, segment names, and the walk that finds a window's files.

``{root}/{yyyy}/{MM}/{dd}/{HH}/{instance}-{seq}.{extension}`` where ``root`` is
``{endpoint}/{deployment}/{collection}`` unless the collection's ``data.path`` overrides it.
Hidden and ``_``-prefixed entries (``_assets``, ``_payloads``, ``.modeltap``) and ``*.part``
files are never data.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modeltap.config import RollingRate

if TYPE_CHECKING:
    from modeltap.store.tree import Tree

__all__ = [
    "PartitionClock",
    "collection_of",
    "folder_span",
    "instance_id",
    "is_data_file",
    "newest_files",
    "partition_files",
    "partition_folder",
    "partition_value",
    "segment_name",
    "split_partition",
    "trailing_partition",
]

_PART_WIDTHS = (4, 2, 2, 2, 2)  # yyyy / MM / dd / HH / mm
_UTC = dt.UTC

_FORMATS: dict[RollingRate, tuple[str, int]] = {
    RollingRate.YEAR: ("%Y", 0),
    RollingRate.MONTH: ("%Y/%m", 0),
    RollingRate.DAY: ("%Y/%m/%d", 86_400),
    RollingRate.HOUR: ("%Y/%m/%d/%H", 3_600),
    RollingRate.MINUTE: ("%Y/%m/%d/%H/%M", 60),
}


def partition_folder(epoch_seconds: float, rate: RollingRate) -> str:
    """The time part of a partition path (``yyyy/MM/dd/HH`` for Hour), in UTC."""
    return time.strftime(_FORMATS[rate][0], time.gmtime(epoch_seconds))


class PartitionClock:
    """Maps event times to partition folders, caching the current bucket (cheap per event)."""

    __slots__ = ("_end", "_folder", "_rate", "_start")

    def __init__(self, rate: RollingRate) -> None:
        self._rate = rate
        self._start = 0
        self._end = -1
        self._folder = ""

    def folder(self, epoch_ns: int) -> str:
        """The partition folder for an event time in nanoseconds since the epoch."""
        seconds = epoch_ns // 1_000_000_000
        if self._start <= seconds < self._end:
            return self._folder
        folder = partition_folder(seconds, self._rate)
        width = _FORMATS[self._rate][1]
        if width:
            self._start = seconds - seconds % width
            self._end = self._start + width
        else:  # months and years have no fixed width: cache one day at most
            self._start = seconds - seconds % 86_400
            self._end = self._start + 86_400
        self._folder = folder
        return folder


_HOST_RE = re.compile(r"[^A-Za-z0-9-]+")


def instance_id() -> str:
    """An id unique to this process: host, pid and a random tag, usable in a file name."""
    host = _HOST_RE.sub("-", socket.gethostname()).strip("-")[:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def segment_name(instance: str, seq: int, extension: str) -> str:
    """The committed file name of segment ``seq`` of ``instance``."""
    return f"{instance}-{seq:06d}.{extension}"


def collection_of(relative_path: str) -> str:
    """The collection of a committed file's path in the default layout
    (``{endpoint}/{deployment}/{collection}/...``), or ``unknown``."""
    parts = relative_path.split("/")
    return parts[2] if len(parts) > 3 else "unknown"


# -- parsing: the partition folders a reader walks ---------------------------------------------


def folder_span(values: Sequence[int]) -> tuple[dt.datetime, dt.datetime]:
    """[first, after-last) instant of a partition folder with ``values`` (y, m, d, h, min).
    Raises ValueError for a folder that is not a date (``2024/13``)."""
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


def partition_value(name: str, level: int) -> int | None:
    """The number a folder ``name`` stands for at partition ``level`` (0 = year), or None when
    it is not a partition folder."""
    if level >= len(_PART_WIDTHS) or len(name) != _PART_WIDTHS[level] or not name.isdigit():
        return None
    return int(name)


def trailing_partition(root: str) -> tuple[int, ...]:
    """Partition values already in ``root`` (a reader may be pointed at ``.../2024/05``)."""
    parts = root.replace(os.sep, "/").rstrip("/").split("/")
    found: list[str] = []
    for part in reversed(parts):
        if not part.isdigit() or len(found) >= len(_PART_WIDTHS):
            break
        found.insert(0, part)
    while found and len(found[0]) != 4:
        found.pop(0)
    values: list[int] = []
    for level, part in enumerate(found):
        value = partition_value(part, level)
        if value is None:
            break
        values.append(value)
    return tuple(values)


def split_partition(folder: str) -> tuple[str, str]:
    """(the collection folder, the partition path) of a folder path or URL:
    ``/d/c/2024/05/01`` -> (``/d/c``, ``2024/05/01``); no partition gives (folder, "")."""
    folder = folder.replace(os.sep, "/").rstrip("/")
    depth = len(trailing_partition(folder))
    if not depth:
        return folder, ""
    parts = folder.split("/")
    return "/".join(parts[:-depth]), "/".join(parts[-depth:])


def is_data_file(name: str, extensions: tuple[str, ...]) -> bool:
    """Whether a file ``name`` is committed data with one of ``extensions`` (``.jsonl`` ...)."""
    return name.endswith(extensions) and not name.startswith((".", "_"))


def partition_files(
    tree: Tree,
    extensions: tuple[str, ...],
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
                if is_data_file(name, extensions):
                    found.append(path)
                continue
            value = partition_value(name, len(values))
            if value is None:
                continue  # not a partition folder (other tools' files)
            inner = (*values, value)
            try:
                lo, hi = folder_span(inner)
            except ValueError:
                continue  # 2024/13: not a date
            if (start is None or hi > start) and (end is None or lo < end):
                walk(path, inner)

    walk("", base)
    return found


def newest_files(
    tree: Tree, extensions: tuple[str, ...], *, limit: int = 64, max_listings: int = 32
) -> list[str]:
    """The committed data files with one of ``extensions`` in the newest partition folder of
    the collection ``tree`` that holds any (the last ``limit`` of them in name order), relative
    to the tree. Partition folders are tried newest first; [] when none is found within
    ``max_listings`` folder listings (a tree of other files is never walked whole)."""
    listings = 0

    def walk(relative: str, level: int) -> list[str] | None:
        nonlocal listings
        if listings >= max_listings:
            return None
        listings += 1
        entries = tree.ls(relative)
        files = [name for name, is_dir in entries if not is_dir and is_data_file(name, extensions)]
        if files:
            return [f"{relative}/{name}" if relative else name for name in files[-limit:]]
        folders = sorted(
            (
                (value, name)
                for name, is_dir in entries
                if is_dir and (value := partition_value(name, level)) is not None
            ),
            reverse=True,
        )
        for _, name in folders:
            found = walk(f"{relative}/{name}" if relative else name, level + 1)
            if found or listings >= max_listings:
                return found
        return None

    return walk("", 0) or []
