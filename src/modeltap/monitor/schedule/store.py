"""The scheduler's files in the results store: ``{destination}/_monitoring/{monitor}/schedule/``.

Four operations, on local disk or any fsspec URL: read, replace and remove a file, and **create
a file only if it is absent** (the claim that makes two schedulers on one store never run the same
window twice). What the last one guarantees depends on the store:

- local disk (and ``file://``): the content is written to a temporary file and hard-linked into
  place; ``link`` fails when the name exists, so exactly one creator wins, and readers never see
  a half-written file;
- ``s3://`` (AWS S3), ``gs://``, ``az://``/``abfs://``: fsspec's exclusive mode ``xb``, sent as a
  conditional write (``If-None-Match: *``, ``ifGenerationMatch=0``): exactly one creator wins on
  AWS S3, Google Cloud Storage and Azure Blob Storage; S3-compatible stores that ignore the
  condition give no guarantee;
- ``memory://``: exclusive within one process;
- any other fsspec filesystem that refuses ``xb``: checked with ``exists`` and then written, which
  two schedulers can both pass at the same moment; :attr:`ScheduleStore.exclusive` is False and
  the scheduler logs a warning when it starts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

from modeltap.errors import MonitorError
from modeltap.monitor.results import MONITORING_FOLDER

__all__ = ["ScheduleStore"]

_EXCLUSIVE_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")


class ScheduleStore:
    """The ``schedule/`` folder of one monitor (or another of its folders, e.g. ``alerts``)."""

    def __init__(
        self,
        destination: str,
        monitor: str,
        storage_options: dict[str, Any] | None = None,
        *,
        folder: str = "schedule",
    ) -> None:
        self.url = f"{destination.rstrip('/')}/{MONITORING_FOLDER}/{monitor}/{folder}"
        self._local = "://" not in destination or destination.startswith("file://")
        self._options = storage_options or {}
        self._fs_root: tuple[Any, str] | None = None

    @property
    def exclusive(self) -> bool:
        """Whether :meth:`create` is atomic on this store (see the module's notes)."""
        if self._local:
            return True
        return self.url.split("://", 1)[0].lower() in _EXCLUSIVE_PROTOCOLS

    def _fs(self) -> tuple[Any, str]:
        if self._fs_root is None:
            import fsspec

            self._fs_root = fsspec.core.url_to_fs(self.url, **self._options)
        return self._fs_root

    def _path(self, relative: str) -> Path:
        return Path(self.url.removeprefix("file://")) / relative

    def read(self, relative: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        try:
            if self._local:
                return self._path(relative).read_bytes()
            fs, root = self._fs()
            data: bytes = fs.cat_file(f"{root}/{relative}")
            return data
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MonitorError(f"cannot read {self.url}/{relative}: {exc}") from None

    def replace(self, relative: str, data: bytes) -> None:
        """Write a file, replacing it (atomically on local disk)."""
        try:
            if self._local:
                path = self._path(relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
                temporary.write_bytes(data)
                os.replace(temporary, path)
                return
            fs, root = self._fs()
            fs.pipe_file(f"{root}/{relative}", data)
        except OSError as exc:
            raise MonitorError(f"cannot write {self.url}/{relative}: {exc}") from None

    def create(self, relative: str, data: bytes) -> bool:
        """Create a file only if it is absent; True when this call created it."""
        try:
            if self._local:
                return self._create_local(self._path(relative), data)
            return self._create_remote(relative, data)
        except OSError as exc:
            raise MonitorError(f"cannot write {self.url}/{relative}: {exc}") from None

    @staticmethod
    def _create_local(path: Path, data: bytes) -> bool:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        return True

    def _create_remote(self, relative: str, data: bytes) -> bool:
        fs, root = self._fs()
        path = f"{root}/{relative}"
        if not self.exclusive:
            if fs.exists(path):
                return False
            fs.pipe_file(path, data)
            return True
        try:
            with fs.open(path, "xb") as handle:
                handle.write(data)
        except FileExistsError:
            return False
        except OSError as exc:
            if "precondition" in str(exc).lower() or "412" in str(exc):
                return False
            raise
        return True

    def remove(self, relative: str) -> None:
        """Delete a file; nothing when it does not exist."""
        try:
            if self._local:
                self._path(relative).unlink(missing_ok=True)
                return
            fs, root = self._fs()
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(f"{root}/{relative}")
        except OSError as exc:
            raise MonitorError(f"cannot delete {self.url}/{relative}: {exc}") from None

    def list(self, relative: str) -> list[str]:
        """The names in a folder (none when it does not exist), sorted, hidden ones left out."""
        try:
            if self._local:
                folder = self._path(relative)
                names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
            else:
                fs, root = self._fs()
                path = f"{root}/{relative}".rstrip("/")
                if not fs.exists(path):
                    return []
                fs.invalidate_cache(path)
                names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
        except OSError as exc:
            raise MonitorError(f"cannot list {self.url}/{relative}: {exc}") from None
        return sorted(n for n in names if not n.startswith("."))
