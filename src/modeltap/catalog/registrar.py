"""Registration from the writer: every committed segment updates its collection's data asset.

Runs on the committer thread after a segment is committed (the committer's ``on_committed`` hook).
A failure is logged and retried with the next commit; it never fails the commit itself.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from modeltap.catalog.model import DataAsset
from modeltap.catalog.store import Catalog
from modeltap.config import Settings
from modeltap.event import rfc3339_ms

__all__ = ["Registrar", "asset_for_collection", "asset_identity"]

logger = logging.getLogger("modeltap.catalog")


def asset_identity(settings: Settings, collection: str) -> tuple[str, str]:
    """(name, version) of a collection's data asset: ``{endpoint}-{deployment}-{collection}``
    unless ``collections.<name>.data.name`` is set; version ``data.version`` (default 1)."""
    entry = (settings.collector.collections or {}).get(collection)
    data = entry.data if entry is not None else None
    name = (data.name if data is not None else None) or (
        f"{settings.endpoint}-{settings.deployment_name}-{collection}"
    )
    version = data.version if data is not None else "1"
    return name, version


def _root_url(settings: Settings, root: str) -> str:
    if "://" in root or root.startswith("/"):
        return root.rstrip("/")
    return f"{settings.destination.rstrip('/')}/{root}"


def asset_for_collection(settings: Settings, collection: str) -> DataAsset:
    """The data asset a collection registers (without columns or times yet)."""
    name, version = asset_identity(settings, collection)
    return DataAsset(
        name=name,
        version=version,
        root=_root_url(settings, settings.collection(collection).root),
        format=settings.collector.format,
        collection=collection,
        endpoint=settings.endpoint,
        deployment=settings.deployment_name,
        destination=settings.destination,
    )


class Registrar:
    """Keeps this writer's contribution to each asset it writes, and stores it when it grows."""

    def __init__(self, settings: Settings, writer_id: str) -> None:
        self._settings = settings
        self._writer_id = writer_id
        self._catalog: Catalog | None = None
        self._seen: dict[str, DataAsset] = {}
        self._stored: dict[str, DataAsset] = {}
        self._registered: set[str] = set()

    @property
    def catalog(self) -> Catalog:
        """The catalog of the configured destination (opened on first use)."""
        if self._catalog is None:
            self._catalog = Catalog(
                self._settings.destination, self._settings.collector.storage_options
            )
        return self._catalog

    def segment_committed(self, pending: Any) -> None:
        """The committer's hook: note what the segment held, then store what is new."""
        collection = getattr(pending, "collection", "")
        if not collection or collection == "unknown" or not getattr(pending, "size", 1):
            return
        first = getattr(pending, "first_time_ns", None)
        last = getattr(pending, "last_time_ns", None)
        columns = getattr(pending, "columns", None) or {}
        self.note(collection, first, last, columns)
        self.store()

    def note(
        self,
        collection: str,
        first_time_ns: int | None,
        last_time_ns: int | None,
        columns: dict[str, str],
    ) -> None:
        """Add what one segment of ``collection`` held to this writer's contribution."""
        try:
            base = self._seen.get(collection) or asset_for_collection(self._settings, collection)
        except Exception as exc:  # a collection the settings cannot resolve: nothing to register
            logger.debug("not registering %r: %s", collection, exc)
            return
        now = rfc3339_ms(time.time_ns())
        update = replace(
            base,
            columns=dict(columns),
            first_event_time=rfc3339_ms(first_time_ns) if first_time_ns is not None else None,
            last_event_time=rfc3339_ms(last_time_ns) if last_time_ns is not None else None,
            created=base.created or now,
            updated=now,
        )
        self._seen[collection] = base.merge(update)

    def store(self) -> None:
        """Register new assets and write contributions that changed. Failures are logged and
        retried with the next call."""
        for collection, asset in list(self._seen.items()):
            stored = self._stored.get(collection)
            if stored is not None and replace(stored, updated=asset.updated) == asset:
                continue  # only the update time moved
            try:
                if collection not in self._registered:
                    self.catalog.register(replace(asset, columns={}, first_event_time=None,
                                                  last_event_time=None))
                    self._registered.add(collection)
                self.catalog.contribute(asset, self._writer_id)
            except Exception as exc:
                logger.warning("registering data asset %s failed: %s", asset.ref, exc)
                continue
            self._stored[collection] = asset
