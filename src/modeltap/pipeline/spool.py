"""The local spool: every event is appended to a segment file here before it is committed.

Each process owns one folder ``{spool}/{instance}/`` and holds an exclusive ``flock`` on its
``.lock`` file while it runs. Segment files mirror their final path under the destination with a
``.part`` suffix, so a segment always knows where it goes. A folder whose lock can be taken belongs
to a dead process: its segments are orphans, repaired (a torn last line is cut) and committed.
A folder is made under a hidden staging name, locked, then renamed into place, so another
process's scan for orphans (a pre-fork server's parent and workers start together) never finds a
live process's folder before its lock is held.

Whatever another user could plant in the spool is never followed: the spool folder must belong
to this user and not be writable by others (``ConfigError`` otherwise), recovery opens files
without following symbolic links, and skips anything that is not a regular file or folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from modeltap.config import FsyncPolicy
from modeltap.errors import ConfigError
from modeltap.formats import Format, format_for_path, get_format
from modeltap.formats.jsonl.repair import cut_torn_line

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
_PROBE_NAME = ".probe"
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
        "torn",
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
        self.torn = False  # a failed append could not be cut back: repaired on close
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
        try:
            for piece in pieces:
                view = memoryview(piece).cast("B")
                while view:
                    count = self._file.write(view) or 0
                    written += count
                    view = view[count:]
            if self.fsync is FsyncPolicy.ALWAYS:
                os.fsync(self._file.fileno())
        except OSError:
            self._cut_back()
            raise
        self.size += written
        self.events += events
        self.rows += rows

    def _cut_back(self) -> None:
        """After a failed append (disk full, file too large, I/O error): cut the file back to
        its last good size, so no torn record is ever committed. Should even that fail, the
        segment is marked ``torn`` and cut back again when closed."""
        assert self._file is not None
        try:
            os.ftruncate(self._file.fileno(), self.size)
        except OSError:
            logger.exception("cannot cut %s back to %d bytes after a failed append", self.path,
                             self.size)
            self.torn = True

    def sync(self) -> None:
        """fsync what was appended so far (OSError if the file system cannot keep it)."""
        if self._file is not None:
            os.fsync(self._file.fileno())

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
        try:
            if self.fsync is not FsyncPolicy.NEVER:
                os.fsync(self._file.fileno())
        except OSError as exc:  # written, maybe not durable: the commit is tried all the same
            logger.error("fsync of spool segment %s failed: %s", self.path, exc)
        finally:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
        if self.torn:
            try:
                os.truncate(self.path, self.size)
                self.torn = False
            except OSError:
                logger.exception("cannot cut %s back to its last good size", self.path)


@dataclass(frozen=True)
class Orphan:
    """A segment left by a dead process, repaired and ready to commit."""

    path: Path
    relative_path: str
    torn_bytes: int


def repair_segment(path: Path) -> int:
    """Cut a torn tail of a spool segment by its format; return how many bytes were cut.
    OSError for a symbolic link or anything but a regular file (never followed)."""
    with _open_regular(path, os.O_RDWR) as handle:
        return _format_of(path).repair(handle)


def count_events(path: Path) -> int:
    """How many events a (repaired) spool segment holds (OSError as ``repair_segment``)."""
    with _open_regular(path, os.O_RDONLY) as handle:
        return _format_of(path).count_events(handle)


def repair_torn_tail(path: Path) -> int:
    """Cut a partial last line (a crash mid-write); return how many bytes were cut."""
    with _open_regular(path, os.O_RDWR) as handle:
        return cut_torn_line(handle)


def _format_of(path: Path) -> Format:
    """The format of a spool segment, by its name (JSON lines for a name without one)."""
    return format_for_path(path.name) or get_format("jsonl")


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
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(self.root)
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

    def probe(self, size: int = 1) -> None:
        """Make a file of ``size`` bytes in this process's folder, sync and remove it: OSError
        while the spool cannot take that much (no space, no inodes, no file descriptors)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / _PROBE_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            block = bytes(min(size, 1 << 16))
            left = size
            while left > 0:
                left -= os.write(fd, block[:left])
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()

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
            if folder == self.folder or not _is_real_dir(folder):
                continue  # a symbolic link or a file planted here is never followed
            if folder.name.startswith(_STAGING_PREFIX):
                _remove_stale_staging(folder)
                continue
            try:
                handle = _take_lock(folder)
            except OSError:
                continue  # its process is alive (or the lock file cannot be opened)
            try:
                found = []
                files = _regular_files(folder)
                for leftover in files:
                    if leftover.name.endswith((".pq-tmp", ".pq-tmp.tmp")):
                        leftover.unlink(missing_ok=True)  # half-done conversions are redone
                for part in sorted(f for f in files if f.name.endswith(PART_SUFFIX)):
                    try:
                        torn = repair_segment(part)
                    except OSError as exc:  # replaced by a link or a special file meanwhile
                        logger.warning("skipped spool file %s: %s", part, exc)
                        continue
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


def _check_private(root: Path) -> None:
    """Refuse a spool folder another user could plant files in."""
    info = root.stat()
    owner_ok = info.st_uid == os.geteuid()
    if owner_ok and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return
    problem = "is writable by other users" if owner_ok else f"belongs to user id {info.st_uid}"
    raise ConfigError(
        f"spool folder {root} {problem}: another user could plant files that modeltap would "
        f"commit; run `chmod go-w {root}` (as its owner), or set spool_dir to a folder of "
        "your own"
    )


def _is_real_dir(path: Path) -> bool:
    """A folder itself, not a symbolic link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _regular_files(folder: Path) -> list[Path]:
    """The regular files under ``folder``; symbolic links, devices and pipes are skipped (and
    logged), and linked folders are not entered."""
    found: list[Path] = []
    for directory, _, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(directory, name)
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                found.append(path)
            elif name != _LOCK_NAME:
                logger.warning("skipped %s in the spool: not a regular file", path)
    return found


def _open_regular(path: Path, flags: int) -> BinaryIO:
    """Open a regular file without following a symbolic link (OSError for anything else)."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        mode = "rb+" if flags & os.O_RDWR else "rb"
        return cast(BinaryIO, open(fd, mode, closefd=True))
    except BaseException:
        os.close(fd)
        raise


def _take_lock(folder: Path) -> BinaryIO:
    """Open and lock ``folder``'s lock file (exclusive, without waiting; OSError if held, or
    if it is a symbolic link or not a regular file)."""
    fd = os.open(
        folder / _LOCK_NAME,
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
        0o600,
    )
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{folder / _LOCK_NAME} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    handle = open(fd, "ab")  # noqa: SIM115
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
