"""Data assets: each collection registered in the store itself, listed and resolved to its files.

The catalog is a set of small manifest files under ``{destination}/_assets/``, so every reader
of the store sees the same assets with no database or service.
"""

from __future__ import annotations

from typing import Any

from modeltap.catalog.model import DataAsset, parse_asset_ref
from modeltap.catalog.registrar import Registrar, asset_for_collection, asset_identity
from modeltap.catalog.store import ASSETS_FOLDER, Catalog
from modeltap.errors import AssetNotFoundError, InvalidTimeError

__all__ = [
    "ASSETS_FOLDER",
    "AssetNotFoundError",
    "Catalog",
    "DataAsset",
    "InvalidTimeError",
    "Registrar",
    "asset_for_collection",
    "asset_identity",
    "get_asset",
    "list_assets",
    "parse_asset_ref",
    "register_asset",
]


def _catalog(destination: str | None, storage_options: dict[str, Any] | None) -> Catalog:
    if destination is None:
        from modeltap.pipeline.runtime import current_settings

        settings = current_settings()
        destination = settings.destination
        if storage_options is None:
            storage_options = settings.collector.storage_options
    return Catalog(destination, storage_options)


def list_assets(
    destination: str | None = None, storage_options: dict[str, Any] | None = None
) -> list[DataAsset]:
    """Every data asset registered in ``destination`` (default: the configured one)."""
    return _catalog(destination, storage_options).list()


def get_asset(
    ref: str, destination: str | None = None, storage_options: dict[str, Any] | None = None
) -> DataAsset:
    """The asset ``NAME`` (latest version) or ``NAME:VERSION``; AssetNotFoundError if absent."""
    return _catalog(destination, storage_options).resolve(ref)


def register_asset(
    asset: DataAsset,
    destination: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> DataAsset:
    """Register ``asset`` (idempotent: an existing one is reused); returns the merged view."""
    return _catalog(destination or asset.destination or None, storage_options).register(asset)
