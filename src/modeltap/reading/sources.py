"""What a read opens: the collection an asset or path names, the files of its window, and the
out-of-line payloads its records refer to, within the limits that keep planted files harmless.

A data asset's manifest ``root`` is followed only when it lies inside the destination the
manifest was found in (``allow_external_root=True`` opts in to others). A record's ``dataref``
is followed only in the form modeltap writes: a relative path to a ``_payloads`` folder inside
the collection, to a regular file of at most ``MAX_DATAREF_BYTES``.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from modeltap.catalog.model import DataAsset
from modeltap.errors import AssetNotFoundError, BadRecordError, StoreError
from modeltap.formats import DATA_EXTENSIONS
from modeltap.formats.rows import PAYLOAD_COLLECTIONS
from modeltap.store import Tree, is_local, open_tree
from modeltap.store.layout import partition_files, split_partition, trailing_partition

__all__ = [
    "MAX_DATAREF_BYTES",
    "Collection",
    "find_collection",
    "open_file",
    "ref_loader",
]

MAX_DATAREF_BYTES = 64 << 20
"""The largest out-of-line payload a read follows (a larger one is skipped as a bad record)."""

_PAYLOAD_FOLDER = "_payloads"


@dataclass(frozen=True)
class Collection:
    """The files of one read: a tree, the data files in the window (relative to it), and
    whether the collection holds payloads (``request``/``response``)."""

    tree: Tree
    files: list[str]
    payload: bool


def open_file(tree: Tree, relative: str) -> pa.Buffer:
    """The whole content of one committed file (memory-mapped when local)."""
    local = tree.local_path(relative)
    if local is not None:
        try:
            with pa.memory_map(local, "r") as source:
                return source.read_buffer()
        except OSError as exc:
            raise StoreError(f"cannot read {local}: {exc}") from exc
    return pa.py_buffer(tree.read_bytes(relative))


def ref_loader(tree: Tree, relative: str) -> Callable[[str], bytes]:
    """Reads the ``dataref`` payloads of the records of the file ``relative`` in ``tree``;
    a reference modeltap would not write raises BadRecordError."""
    # the tree may be rooted below the collection folder (a partition folder): references are
    # relative to the collection folder, so they start with the partition path of the tree
    _, prefix = split_partition(tree.url)

    def load(ref: str) -> bytes:
        target = _checked_ref(ref, relative)
        if prefix:
            if not target.startswith(prefix + "/"):
                raise BadRecordError(f"dataref {ref!r} lies outside the folder being read")
            target = target[len(prefix) + 1 :]
        size = tree.regular_size(target)
        if size is None:
            raise BadRecordError(f"dataref {ref!r} is not a file of the collection")
        if size > MAX_DATAREF_BYTES:
            raise BadRecordError(
                f"dataref {ref!r} is {size} bytes, more than the {MAX_DATAREF_BYTES} a read follows"
            )
        return bytes(open_file(tree, target).to_pybytes())

    return load


def _checked_ref(ref: str, relative: str) -> str:
    """``ref`` normalised, when it has the form modeltap writes; else BadRecordError."""
    text = ref.strip()
    if (
        not text
        or "://" in text
        or ":" in text.split("/", 1)[0]
        or text.startswith(("/", "\\", "~"))
        or "\\" in text
        or "\x00" in text
    ):
        raise BadRecordError(
            f"dataref {ref!r} is not a relative path inside the collection (modeltap writes "
            f"'yyyy/MM/dd/HH/{_PAYLOAD_FOLDER}/ID.json')"
        )
    target = posixpath.normpath(text)
    parts = target.split("/")
    if ".." in parts or _PAYLOAD_FOLDER not in parts[:-1]:
        raise BadRecordError(
            f"dataref {ref!r} is not a path to the collection's {_PAYLOAD_FOLDER} folder"
        )
    return target


def _is_payload_collection(root: str, asset: DataAsset | None) -> bool:
    """Whether the collection is ``request``/``response``: by the asset, else by the folder
    name under any file name and partition folders in ``root``."""
    if asset is not None and asset.collection:
        return asset.collection in PAYLOAD_COLLECTIONS
    folder = root.replace(os.sep, "/").rstrip("/")
    if folder.endswith(DATA_EXTENSIONS):
        folder = folder.rpartition("/")[0]
    collection, _ = split_partition(folder)
    return collection.rsplit("/", 1)[-1] in PAYLOAD_COLLECTIONS


def _normal(url: str) -> str:
    if is_local(url):
        return os.path.abspath(os.path.expanduser(url.removeprefix("file://")))
    return url.rstrip("/")


def _check_root(asset: DataAsset, allow_external_root: bool) -> None:
    """Refuse a manifest whose root leads out of the destination it was found in."""
    if allow_external_root or not asset.destination:
        return
    root, home = _normal(asset.root), _normal(asset.destination)
    if root == home or root.startswith(home.rstrip("/") + "/"):
        return
    raise StoreError(
        f"data asset {asset.ref} in {asset.destination} has its files outside it, in {asset.root};"
        " a manifest could send a read anywhere, so this is refused: read the folder by its "
        "path, or pass allow_external_root=True if you trust this catalog"
    )


def find_collection(
    asset_or_path: str | os.PathLike[str] | DataAsset,
    start: dt.datetime | None,
    end: dt.datetime | None,
    destination: str | None,
    storage_options: dict[str, Any] | None,
    *,
    allow_external_root: bool = False,
) -> Collection:
    """The files a read of ``asset_or_path`` over [start, end) opens."""
    asset: DataAsset | None = None
    if isinstance(asset_or_path, DataAsset):
        asset = asset_or_path
        root = asset.root
    else:
        text = os.fspath(asset_or_path)
        looks_like_path = "://" in text or "/" in text or os.sep in text or text in (".", "..")
        if looks_like_path or (destination is None and os.path.exists(text)):
            root = text
        else:
            from modeltap.catalog import get_asset

            try:
                asset = get_asset(text, destination, storage_options)
            except AssetNotFoundError:
                if os.path.exists(text):
                    asset, root = None, text
                else:
                    raise
            else:
                root = asset.root
    if asset is not None:
        _check_root(asset, allow_external_root)
    payload = _is_payload_collection(root, asset)
    name = root.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(DATA_EXTENSIONS):
        parent_tree = open_tree(root.rstrip("/")[: -len(name)].rstrip("/") or ".", storage_options)
        if parent_tree.is_file(name):
            return Collection(parent_tree, [name], payload)
    tree = open_tree(root, storage_options)
    if not tree.is_dir(""):
        what = f"data asset {asset.ref} has root {root}" if asset is not None else root
        raise StoreError(f"nothing to read: {what} is not a folder or file that exists")
    files = partition_files(tree, DATA_EXTENSIONS, start, end, base=trailing_partition(tree.url))
    return Collection(tree, files, payload)
