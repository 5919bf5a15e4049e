"""The destination interface: publish a closed local file under its final name, atomically."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modeltap.store.tree import Tree

__all__ = ["Destination"]


class Destination(ABC):
    """Where committed files live. Implementations must make a published file visible whole or
    not at all, and publishing the same relative path twice must overwrite, not duplicate."""

    url: str

    @abstractmethod
    def publish(self, local_path: Path, relative_path: str) -> None:
        """Make ``local_path`` visible as ``relative_path``; the local file is consumed."""

    @abstractmethod
    def read_bytes(self, relative_path: str) -> bytes:
        """The content of a committed file."""

    @abstractmethod
    def list_files(self, prefix: str = "") -> list[str]:
        """Relative paths of committed files under ``prefix``, sorted."""

    def join(self, relative_path: str) -> str:
        """The full URL or path of a relative path."""
        return f"{self.url.rstrip('/')}/{relative_path}"

    def tree(self, relative_path: str = "") -> Tree | None:
        """The committed files under ``relative_path`` as a tree to list and read (a format
        looks back at a collection's earlier files with it), or None when this destination
        cannot be read back."""
        return None
