"""The local-disk destination: commit is an atomic rename (or copy + rename across devices)."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path

from modeltap.store.destination import Destination
from modeltap.store.tree import LocalTree, Tree

__all__ = ["LocalDestination"]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalDestination(Destination):
    """Files under a root folder on this machine."""

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.durable = durable

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Rename into place; across file systems copy to a hidden temp name, then rename."""
        final = self.root / relative_path
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(local_path, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            temp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
            shutil.copyfile(local_path, temp)
            if self.durable:
                with open(temp, "rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(temp, final)
            local_path.unlink()
        if self.durable:
            _fsync_dir(final.parent)

    def read_bytes(self, relative_path: str) -> bytes:
        """Read a committed file."""
        return (self.root / relative_path).read_bytes()

    def list_files(self, prefix: str = "") -> list[str]:
        """Committed files (hidden files and spool parts excluded)."""
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        found = []
        for path in base.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            hidden = any(part.startswith(".") for part in relative.split("/"))
            if path.is_file() and not hidden and not path.name.endswith(".part"):
                found.append(relative)
        return sorted(found)

    def join(self, relative_path: str) -> str:
        """The local path of a relative path."""
        return str(self.root / relative_path)

    def tree(self, relative_path: str = "") -> Tree | None:
        """The folder ``relative_path`` under the root."""
        return LocalTree(self.root / relative_path if relative_path else self.root)
