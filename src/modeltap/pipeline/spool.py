"""The local spool: every event is appended to a segment file here before it is committed.

Each process owns one folder ``{spool}/{instance}/`` and holds an exclusive ``flock`` on its
``.lock`` file while it runs. Segment files mirror their final path under the destination with a
``.part`` suffix, so a segment always knows where it goes. A folder whose lock can be taken belongs
to a dead process: its segments are orphans, repaired (a torn last line is cut) and committed.
A folder is made under a hidden staging name, locked, then renamed into place, so another
process's scan for orphans (a pre-fork server's parent and workers start together) never finds a
live process's folder before its lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from modeltap.config import FsyncPolicy

__all__ = [
    "Orphan",
    "Segment",
    "Spool",
    "count_events",
    "repair_segment",
    "repair_torn_tail",
]

logger = logging.getLogger("modeltap.spool")

PART_SUFFIX = ".part"
_LOCK_NAME = ".lock"
_STAGING_PREFIX = ".new-"  # a folder being made: skipped by orphans() until it is stale
_STAGING_STALE_AFTER = 600.0  # seconds; a process dies between mkdir and rename only by a crash


class Segment:
    """One spool file being appended to; committed as ``relative_path`` once closed."""

    __slots__ = (
        "_file",
        "collection",
        "columns",
        "events",
        "first_time_ns",
        "fsync",
        "last_time_ns",
        "opened_at",
        "path",
        "relative_path",
        "root",
        "rows",
        "schema_signature",
        "size",
        "union",
    )

    def __init__(
        self, path: Path, relative_path: str, root: str, collection: str, fsync: FsyncPolicy
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.relative_path = relative_path
        self.root = root
        self.collection = collection
        self.fsync = fsync
        self._file: BinaryIO | None = open(path, "ab", buffering=0)  # noqa: SIM115
        self.opened_at = time.monotonic()
        self.schema_signature: tuple[object, ...] | None = None
        self.size = 0
        self.events = 0
        self.rows = 0
        self.union: Any = None  # the Parquet schema union of the segment's frames
        self.first_time_ns: int | None = None  # for the data-asset catalog
        self.last_time_ns: int | None = None
        self.columns: dict[str, str] = {}

    @property
    def closed(self) -> bool:
        """Whether no more can be appended."""
        return self._file is None

    def append(self, blob: bytes | Sequence[Any], rows: int, events: int = 1) -> None:
        """Append whole records: JSON lines ending with a newline, or the pieces (bytes or
        Arrow buffers, written without joining them) of one Parquet frame."""
        assert self._file is not None, "append to a closed segment"
        written = 0
        pieces: Sequence[Any] = [blob] if isinstance(blob, bytes) else blob
        for piece in pieces:
            view = memoryview(piece).cast("B")
            while view:
                count = self._file.write(view) or 0
                written += count
                view = view[count:]
        if self.fsync is FsyncPolicy.ALWAYS:
            os.fsync(self._file.fileno())
        self.size += written
        self.events += events
        self.rows += rows

    def note(self, time_ns: int, columns: dict[str, str]) -> None:
        """Remember an appended event's time and columns (differing types of one column are
        kept as a union, ``double|int64``, as the catalog does)."""
        if self.first_time_ns is None or time_ns < self.first_time_ns:
            self.first_time_ns = time_ns
        if self.last_time_ns is None or time_ns > self.last_time_ns:
            self.last_time_ns = time_ns
        for name, kind in columns.items():
            seen = self.columns.setdefault(name, kind)
            if seen != kind and kind not in seen.split("|"):
                self.columns[name] = "|".join(sorted({*seen.split("|"), kind}))

    def close(self) -> None:
        """Close the file, fsyncing it unless the policy is ``never``."""
        if self._file is None:
            return
        if self.fsync is not FsyncPolicy.NEVER:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None


@dataclass(frozen=True)
class Orphan:
    """A segment left by a dead process, repaired and ready to commit."""

    path: Path
    relative_path: str
    torn_bytes: int


def repair_segment(path: Path) -> int:
    """Cut a torn tail of a spool segment by its format; return how many bytes were cut."""
    from modeltap.formats import format_for_path

    found = format_for_path(path.name)
    return found.repair(path) if found is not None else repair_torn_tail(path)


def count_events(path: Path) -> int:
    """How many events a (repaired) spool segment holds."""
    from modeltap.formats import format_for_path

    found = format_for_path(path.name)
    if found is not None:
        return found.count_events(path)
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def repair_torn_tail(path: Path) -> int:
    """Cut a partial last line (a crash mid-write); return how many bytes were cut."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        window = 64 * 1024
        end = size
        while end > 0:
            start = max(0, end - window)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return size - keep


class Spool:
    """This process's spool folder, its lock, and the orphans of dead processes."""

    def __init__(self, root: Path, instance: str, fsync: FsyncPolicy) -> None:
        self.root = root
        self.instance = instance
        self.fsync = fsync
        self.folder = root / instance
        self._lock_file: BinaryIO | None = self._claim()

    def _claim(self) -> BinaryIO:
        """Make this process's folder with its lock already held: built under a staging name
        that orphans() skips, locked, then renamed into place. (Made in place, then locked, a
        scan by another process could take the lock in between and remove a live process's
        folder as an orphan.) An existing folder is locked in place: OSError if it is held."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{_STAGING_PREFIX}{self.instance}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            handle = _take_lock(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            os.rename(staging, self.folder)
        except OSError:  # the folder exists already (an instance id used again)
            handle.close()
            shutil.rmtree(staging, ignore_errors=True)
            return _take_lock(self.folder)
        return handle

    def segment(self, relative_path: str, root: str, collection: str) -> Segment:
        """Open a new segment that will be committed as ``relative_path``."""
        path = self.folder / (relative_path + PART_SUFFIX)
        return Segment(path, relative_path, root, collection, self.fsync)

    def release(self) -> None:
        """Give up the folder: drop the lock and remove the folder if nothing is left in it."""
        if self._lock_file is None:
            return
        _remove_empty_tree(self.folder, keep={_LOCK_NAME})
        remaining = [p for p in self.folder.rglob("*") if p.is_file() and p.name != _LOCK_NAME]
        if not remaining:
            shutil.rmtree(self.folder, ignore_errors=True)
        self._lock_file.close()
        self._lock_file = None

    def abandon_after_fork(self) -> None:
        """In a forked child: close the inherited lock without touching the parent's files."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def adopt(self, orphan: Orphan, folder: Path) -> Path:
        """Move an orphan segment of ``folder`` into this process's folder (same relative
        path), so it stays under this process's lock until it is committed."""
        relative = orphan.path.relative_to(folder)
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(orphan.path, target)
        return target

    def orphans(self) -> Iterator[tuple[Path, list[Orphan]]]:
        """Folders of dead processes with their repaired segments. The caller commits them and
        then calls ``finish_orphan_folder``; the folder stays locked until then."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder == self.folder or not folder.is_dir():
                continue
            if folder.name.startswith(_STAGING_PREFIX):
                _remove_stale_staging(folder)
                continue
            try:
                handle = _take_lock(folder)
            except OSError:
                continue  # its process is alive (or the lock file cannot be opened)
            try:
                found = []
                for leftover in [*folder.rglob("*.pq-tmp"), *folder.rglob("*.pq-tmp.tmp")]:
                    leftover.unlink(missing_ok=True)  # half-done conversions are redone
                for part in sorted(folder.rglob("*" + PART_SUFFIX)):
                    torn = repair_segment(part)
                    if torn:
                        logger.warning(
                            "cut a torn last record (%d bytes) from %s left by a crashed process",
                            torn,
                            part,
                        )
                    relative = part.relative_to(folder).as_posix()[: -len(PART_SUFFIX)]
                    found.append(Orphan(part, relative, torn))
                yield folder, found
                _remove_empty_tree(folder, keep=set())
                if not any(p.is_file() and p.name != _LOCK_NAME for p in folder.rglob("*")):
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                handle.close()


def _take_lock(folder: Path) -> BinaryIO:
    """Open and lock ``folder``'s lock file (exclusive, without waiting; OSError if held)."""
    handle = open(folder / _LOCK_NAME, "ab")  # noqa: SIM115
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        handle.close()
        raise
    return handle


def _remove_stale_staging(folder: Path) -> None:
    """Remove a staging folder its process left behind (it died before the rename): one old
    enough whose lock nobody holds. A folder being made right now is never touched."""
    try:
        if time.time() - folder.stat().st_mtime < _STAGING_STALE_AFTER:
            return
        handle = _take_lock(folder)
    except OSError:
        return
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        handle.close()


def _remove_empty_tree(folder: Path, keep: set[str]) -> None:
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            directory.rmdir()
