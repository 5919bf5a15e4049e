"""A file-tree view of a store (local folder or fsspec URL) for the catalog and the reader.

Listing is one folder at a time, so a reader can prune partition folders before descending.
Writes are atomic: a hidden temporary name then a rename on local disk, a single PUT on object
stores. Errors of the underlying library become StoreError.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, BinaryIO

from modeltap.errors import StoreError
from modeltap.store.urls import is_local

__all__ = ["Entry", "FsspecTree", "LocalTree", "Tree", "open_tree"]

Entry = tuple[str, bool]
"""A folder entry: (name, is_folder)."""


class Tree(ABC):
    """Files under one root, addressed by ``/``-separated relative paths."""

    url: str

    @abstractmethod
    def ls(self, relative: str = "") -> list[Entry]:
        """The entries of one folder, sorted by name; an absent folder is empty."""

    @abstractmethod
    def read_bytes(self, relative: str) -> bytes:
        """A file's content."""

    def open_input(self, relative: str) -> BinaryIO:
        """A file open for reading, seekable, so a reader can take only the parts it needs
        (a Parquet footer); the default reads the whole file."""
        return io.BytesIO(self.read_bytes(relative))

    @abstractmethod
    def write_atomic(self, relative: str, content: bytes) -> None:
        """Write a file so that readers see the old or the new content, never a mix."""

    @abstractmethod
    def create(self, relative: str, content: bytes) -> bool:
        """Create a file only if absent; False if it already existed."""

    @abstractmethod
    def delete(self, relative: str) -> None:
        """Remove a file (absent is fine)."""

    @abstractmethod
    def is_file(self, relative: str) -> bool:
        """Whether ``relative`` is an existing file."""

    @abstractmethod
    def is_dir(self, relative: str) -> bool:
        """Whether ``relative`` is an existing folder."""

    def local_path(self, relative: str) -> str | None:
        """The path on this machine, when the tree is local (lets readers memory-map)."""
        return None

    def join(self, relative: str) -> str:
        """The full URL or path of a relative path."""
        return f"{self.url.rstrip('/')}/{relative}" if relative else self.url

    def sub(self, relative: str) -> Tree:
        """The tree rooted at a sub-folder."""
        raise NotImplementedError

    @abstractmethod
    def regular_size(self, relative: str) -> int | None:
        """The size of ``relative`` when it is a regular file inside the tree (a link that
        leads out of the tree, a device or a folder is not), else None."""


class LocalTree(Tree):
    """A folder on this machine."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def _p(self, relative: str) -> Path:
        return self.root / relative if relative else self.root

    def ls(self, relative: str = "") -> list[Entry]:
        """Folder entries via ``os.scandir``."""
        try:
            with os.scandir(self._p(relative)) as it:
                entries = [(e.name, e.is_dir()) for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {self._p(relative)}: {exc}") from exc
        return sorted(entries)

    def read_bytes(self, relative: str) -> bytes:
        """Read a file."""
        try:
            return self._p(relative).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {self._p(relative)}: {exc}") from exc

    def open_input(self, relative: str) -> BinaryIO:
        """The file itself, open for reading."""
        try:
            return open(self._p(relative), "rb")
        except OSError as exc:
            raise StoreError(f"cannot read {self._p(relative)}: {exc}") from exc

    def _write_temp(self, final: Path, content: bytes) -> Path:
        """``content`` fsynced into a hidden temp file beside ``final``."""
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        with open(temp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def write_atomic(self, relative: str, content: bytes) -> None:
        """Temp file in the same folder, fsync, rename."""
        final = self._p(relative)
        try:
            os.replace(self._write_temp(final, content), final)
        except OSError as exc:
            raise StoreError(f"cannot write {final}: {exc}") from exc

    def create(self, relative: str, content: bytes) -> bool:
        """Write a temp file, then hard-link it to the final name (fails if it exists)."""
        final = self._p(relative)
        try:
            temp = self._write_temp(final, content)
            try:
                os.link(temp, final)
                return True
            except FileExistsError:
                return False
            finally:
                temp.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot write {final}: {exc}") from exc

    def delete(self, relative: str) -> None:
        """Unlink."""
        with contextlib.suppress(FileNotFoundError):
            self._p(relative).unlink()

    def is_file(self, relative: str) -> bool:
        """``Path.is_file``."""
        return self._p(relative).is_file()

    def regular_size(self, relative: str) -> int | None:
        """``os.stat`` of the resolved path, if it stays under the (resolved) root."""
        try:
            real = self._p(relative).resolve(strict=True)
            root = self.root.resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(root) or not stat.S_ISREG(info.st_mode):
            return None
        return info.st_size

    def is_dir(self, relative: str) -> bool:
        """``Path.is_dir``."""
        return self._p(relative).is_dir()

    def local_path(self, relative: str) -> str | None:
        """The file's path."""
        return str(self._p(relative))

    def join(self, relative: str) -> str:
        """The local path."""
        return str(self._p(relative))

    def sub(self, relative: str) -> Tree:
        """A tree rooted at a sub-folder."""
        return LocalTree(self._p(relative))


class FsspecTree(Tree):
    """Any fsspec file system (``s3://``, ``az://``, ``gs://``, ``memory://`` ...)."""

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        opened: tuple[Any, str] | None = None,
    ) -> None:
        """``opened``: the file system already open for ``url`` and the path of ``url`` in
        it (a destination's own), instead of opening it again."""
        from modeltap.store.fsspec_store import open_filesystem

        self.url = url.rstrip("/")
        if opened is None:
            self.fs, self._root, self._options = open_filesystem(self.url, storage_options)
        else:
            (self.fs, root), self._options = opened, dict(storage_options or {})
            self._root = root.rstrip("/")

    def _p(self, relative: str) -> str:
        return f"{self._root}/{relative}" if relative else self._root

    def ls(self, relative: str = "") -> list[Entry]:
        """``fs.ls`` with details."""
        path = self._p(relative)
        try:
            found = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise StoreError(f"cannot list {self.join(relative)}: {exc}") from exc
        entries = []
        for info in found:
            name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if str(info["name"]).rstrip("/") == path.rstrip("/"):
                continue
            entries.append((name, info.get("type") == "directory"))
        return sorted(set(entries))

    def read_bytes(self, relative: str) -> bytes:
        """``fs.cat_file``."""
        try:
            return bytes(self.fs.cat_file(self._p(relative)))
        except Exception as exc:
            raise StoreError(f"cannot read {self.join(relative)}: {exc}") from exc

    def open_input(self, relative: str) -> BinaryIO:
        """``fs.open``: ranged reads of the object."""
        try:
            return self.fs.open(self._p(relative), "rb")  # type: ignore[no-any-return]
        except Exception as exc:
            raise StoreError(f"cannot read {self.join(relative)}: {exc}") from exc

    def write_atomic(self, relative: str, content: bytes) -> None:
        """One PUT (atomic on object stores)."""
        target = self._p(relative)
        try:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(target, content)
        except Exception as exc:
            raise StoreError(f"cannot write {self.join(relative)}: {exc}") from exc

    def create(self, relative: str, content: bytes) -> bool:
        """A conditional PUT where the backend supports ``mode='create'``, else check-then-put
        (the content written by racing registrations is equivalent, so the race is benign)."""
        target = self._p(relative)
        try:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            try:
                self.fs.pipe_file(target, content, mode="create")
                return True
            except FileExistsError:
                return False
            except (TypeError, NotImplementedError, ValueError):
                pass
            if self.fs.exists(target):
                return False
            self.fs.pipe_file(target, content)
            return True
        except Exception as exc:
            raise StoreError(f"cannot write {self.join(relative)}: {exc}") from exc

    def delete(self, relative: str) -> None:
        """``fs.rm_file``."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._p(relative))

    def regular_size(self, relative: str) -> int | None:
        """``fs.info``'s size of a file (object stores have no links or devices)."""
        try:
            info = self.fs.info(self._p(relative))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise StoreError(f"cannot reach {self.join(relative)}: {exc}") from exc
        if info.get("type") != "file":
            return None
        return int(info.get("size") or 0)

    def is_file(self, relative: str) -> bool:
        """``fs.isfile``."""
        try:
            return bool(self.fs.isfile(self._p(relative)))
        except Exception as exc:
            raise StoreError(f"cannot reach {self.join(relative)}: {exc}") from exc

    def is_dir(self, relative: str) -> bool:
        """``fs.isdir``."""
        try:
            return bool(self.fs.isdir(self._p(relative)))
        except Exception as exc:
            raise StoreError(f"cannot reach {self.join(relative)}: {exc}") from exc

    def sub(self, relative: str) -> Tree:
        """A tree rooted at a sub-folder."""
        return FsspecTree(self.join(relative), self._options)


def open_tree(url: str, storage_options: dict[str, Any] | None = None) -> Tree:
    """The tree for a local path, ``file://`` URL or fsspec URL."""
    if is_local(url):
        return LocalTree(os.path.expanduser(url.removeprefix("file://")))
    return FsspecTree(url, storage_options)
