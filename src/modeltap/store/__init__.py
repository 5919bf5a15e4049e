"""Stores: destinations that publish committed files, and trees that list and read them, both
chosen by URL (local path, ``file://`` or an fsspec URL; lazy imports, install hints); and the
storage layout (``modeltap.store.layout``)."""

from __future__ import annotations

from typing import Any

from modeltap.store.destination import Destination
from modeltap.store.local import LocalDestination
from modeltap.store.tree import FsspecTree, LocalTree, Tree, open_tree
from modeltap.store.urls import check_destination, is_local

__all__ = [
    "Destination",
    "FsspecTree",
    "LocalDestination",
    "LocalTree",
    "Tree",
    "check_destination",
    "is_local",
    "open_destination",
    "open_tree",
]

def open_destination(
    url: str, storage_options: dict[str, Any] | None = None, *, durable: bool = True
) -> Destination:
    """The destination for ``url``; a missing extra raises with its ``pip install`` hint.
    ``durable=False`` (fsync policy ``never``) skips the local destination's fsyncs."""
    if is_local(url):
        return LocalDestination(url.removeprefix("file://"), durable=durable)
    check_destination(url)
    from modeltap.store.fsspec_store import FsspecDestination

    return FsspecDestination(url, storage_options)
