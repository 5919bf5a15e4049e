"""The catalog inside a destination: manifests under ``{destination}/_assets/``.

``_assets/{name}/{version}.json`` is the manifest, created once by the first registration (a
conditional create: an existing asset is reused, as on the platform). What writers learn later
(columns seen, first and last event time) goes to ``_assets/{name}/{version}.d/{writer}.json``,
one file per writer process that only that process writes, each holding everything that writer
has seen. A reader merges the manifest with every contribution. The merge is commutative and
idempotent, so any number of processes on any number of hosts can register at once without a
lock, a database or a lost update.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from modeltap.catalog.model import DataAsset, parse_asset_ref
from modeltap.errors import AssetNotFoundError, StoreError
from modeltap.store.tree import Tree, open_tree

__all__ = ["ASSETS_FOLDER", "Catalog", "version_key"]

logger = logging.getLogger("modeltap.catalog")

ASSETS_FOLDER = "_assets"
_CONTRIB_SUFFIX = ".d"


def version_key(version: str) -> tuple[int, int, str]:
    """Sort key: numeric versions by number, before any textual ones."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


class Catalog:
    """The data assets registered in one destination."""

    def __init__(
        self, destination: str | Tree, storage_options: dict[str, Any] | None = None
    ) -> None:
        if isinstance(destination, Tree):
            self.tree = destination
        else:
            self.tree = open_tree(destination, storage_options)
        self.destination = self.tree.url

    def _manifest(self, name: str, version: str) -> str:
        return f"{ASSETS_FOLDER}/{name}/{version}.json"

    def _contributions(self, name: str, version: str) -> str:
        return f"{ASSETS_FOLDER}/{name}/{version}{_CONTRIB_SUFFIX}"

    # -- writing ------------------------------------------------------------------------------

    def register(self, asset: DataAsset, *, writer: str | None = None) -> DataAsset:
        """Register ``asset`` (idempotent). A new asset gets its manifest; an existing one is
        reused (its root and format stay as first registered) and what ``asset`` adds (columns,
        times) is recorded as the contribution of ``writer`` (a unique id when not given).
        Returns the merged view."""
        created = self.tree.create(self._manifest(asset.name, asset.version), asset.to_json())
        if created:
            return self.get(asset.name, asset.version)
        current = self.get(asset.name, asset.version)
        if current.root.rstrip("/") != asset.root.rstrip("/"):
            logger.warning(
                "data asset %s already exists with root %s; reusing it (not %s)",
                asset.ref,
                current.root,
                asset.root,
            )
        if current.merge(asset) != current:
            self.contribute(asset, writer or f"w-{secrets.token_hex(6)}")
            return current.merge(asset)
        return current

    def contribute(self, asset: DataAsset, writer: str) -> None:
        """Overwrite ``writer``'s contribution with ``asset`` (which must hold everything that
        writer has seen: contributions are cumulative per writer)."""
        path = f"{self._contributions(asset.name, asset.version)}/{writer}.json"
        self.tree.write_atomic(path, asset.to_json())

    # -- reading ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Names of the registered assets."""
        return [n for n, is_dir in self.tree.ls(ASSETS_FOLDER) if is_dir and not n.startswith(".")]

    def versions(self, name: str) -> list[str]:
        """Versions of one asset, oldest first."""
        found = [
            n.removesuffix(".json")
            for n, is_dir in self.tree.ls(f"{ASSETS_FOLDER}/{name}")
            if not is_dir and n.endswith(".json") and not n.startswith(".")
        ]
        return sorted(found, key=version_key)

    def get(self, name: str, version: str | None = None) -> DataAsset:
        """One asset (the latest version when ``version`` is None), contributions merged."""
        if version is None:
            versions = self.versions(name)
            if not versions:
                raise self._not_found(name, None)
            version = versions[-1]
        try:
            blob = self.tree.read_bytes(self._manifest(name, version))
        except StoreError:
            if not self.tree.is_file(self._manifest(name, version)):
                raise self._not_found(name, version) from None
            raise
        try:
            asset = DataAsset.from_json(blob, self.destination)
        except ValueError as exc:
            raise StoreError(
                f"the manifest of {name}:{version} in {self.destination} is damaged: {exc}"
            ) from None
        folder = self._contributions(name, version)
        for entry, is_dir in self.tree.ls(folder):
            if is_dir or not entry.endswith(".json") or entry.startswith("."):
                continue
            try:
                part = DataAsset.from_json(self.tree.read_bytes(f"{folder}/{entry}"))
            except (ValueError, StoreError) as exc:  # a damaged part loses only itself
                logger.warning("skipping contribution %s/%s: %s", folder, entry, exc)
                continue
            asset = asset.merge(part)
        return asset

    def resolve(self, ref: str) -> DataAsset:
        """``NAME`` or ``NAME:VERSION`` to the asset."""
        name, version = parse_asset_ref(ref)
        return self.get(name, version)

    def list(self) -> list[DataAsset]:
        """Every version of every asset, by name then version."""
        assets = []
        for name in self.names():
            for version in self.versions(name):
                try:
                    assets.append(self.get(name, version))
                except (AssetNotFoundError, StoreError) as exc:
                    logger.warning("skipping data asset %s:%s: %s", name, version, exc)
        return assets

    def _not_found(self, name: str, version: str | None) -> AssetNotFoundError:
        ref = name if version is None else f"{name}:{version}"
        known = self.names()
        hint = f"; known assets: {', '.join(known)}" if known else "; it has no data assets yet"
        if version is not None and name in known:
            hint = f"; versions of {name}: {', '.join(self.versions(name))}"
        return AssetNotFoundError(f"no data asset {ref} in {self.destination}{hint}")
