"""Object-store and other fsspec destinations: commit is one upload under the final name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeltap.errors import StoreError
from modeltap.store.destination import Destination

__all__ = ["FsspecDestination"]


class FsspecDestination(Destination):
    """Any fsspec file system (``s3://``, ``az://``, ``gs://``, ``memory://`` ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            self.fs, self._root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise StoreError(f"cannot open destination {url!r}: {exc}") from exc

    def _path(self, relative_path: str) -> str:
        return f"{self._root.rstrip('/')}/{relative_path}"

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Upload under the final name (a single PUT is atomic on object stores), then delete
        the local file."""
        target = self._path(relative_path)
        try:
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local_path), target)
        except Exception as exc:
            raise StoreError(f"upload of {relative_path} to {self.url} failed: {exc}") from exc
        local_path.unlink()

    def read_bytes(self, relative_path: str) -> bytes:
        """Download a committed file."""
        try:
            data = self.fs.cat_file(self._path(relative_path))
        except Exception as exc:
            raise StoreError(f"cannot read {relative_path} from {self.url}: {exc}") from exc
        return bytes(data)

    def list_files(self, prefix: str = "") -> list[str]:
        """Committed objects under ``prefix``."""
        base = self._path(prefix) if prefix else self._root
        try:
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        except Exception as exc:
            raise StoreError(f"cannot list {self.url}: {exc}") from exc
        root = self._root.rstrip("/") + "/"
        relative = (str(p)[len(root) :] if str(p).startswith(root) else str(p) for p in found)
        return sorted(r for r in relative if not any(s.startswith(".") for s in r.split("/")))
