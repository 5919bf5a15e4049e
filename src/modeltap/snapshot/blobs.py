"""Out-of-line payload bodies: published beside the partitions of their collection, in
``{partition}/_payloads/{id}.json`` under the collection's folder, and read back. The blob holds
exactly what the record's ``data`` would have held, so resolving a reference is
``record["data"] = json.loads(blob)`` (see ``resolve_dataref``).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from modeltap.config import Settings
from modeltap.store import Destination, is_local, open_destination
from modeltap.store.layout import partition_folder

__all__ = ["PAYLOAD_FOLDER", "BlobSink", "current_sink", "resolve_dataref"]

PAYLOAD_FOLDER = "_payloads"


class BlobSink:
    """Publishes out-of-line payloads beside the partitions of their collection."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._destinations: dict[str, Destination] = {}

    def _route(self, root: str) -> tuple[str, str]:
        if "://" in root or root.startswith("/"):
            return root, ""
        return self._settings.destination, root

    def _destination(self, url: str) -> Destination:
        destination = self._destinations.get(url)
        if destination is None:
            destination = open_destination(url, self._settings.collector.storage_options)
            self._destinations[url] = destination
        return destination

    def store(self, root: str, data: bytes) -> str:
        """Publish ``data`` for the collection folder ``root``; returns the reference."""
        url, relative = self._route(root)
        folder = partition_folder(time.time(), self._settings.collector.rolling_rate)
        reference = f"{folder}/{PAYLOAD_FOLDER}/{uuid.uuid4().hex}.json"
        if is_local(url):
            scratch = Path(url.removeprefix("file://")) / ".modeltap" / "tmp"
        else:
            scratch = Path(tempfile.gettempdir()) / "modeltap-payloads"
        scratch.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=scratch, suffix=".json")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            with self._lock:
                destination = self._destination(url)
            destination.publish(Path(name), f"{relative}/{reference}" if relative else reference)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return reference


_sink: tuple[Settings, BlobSink] | None = None  # the last settings' sink


def current_sink() -> BlobSink:
    """The sink of the settings in force (made again when they change): a payload snapshot
    restored on the writer stores its large body there."""
    from modeltap.pipeline.runtime import current_settings

    global _sink
    settings = current_settings()
    known = _sink
    if known is None or known[0] is not settings:
        known = _sink = (settings, BlobSink(settings))
    return known[1]


def resolve_dataref(
    record: dict[str, Any], collection_url: str, storage_options: dict[str, Any] | None = None
) -> Any:
    """A record's ``data``, read from its out-of-line file when it has a ``dataref``.

    The reference is followed under the reader's rules (``modeltap.reading.sources``): only a
    relative path to a ``_payloads`` folder inside the collection at ``collection_url``, to a
    regular file of at most ``MAX_DATAREF_BYTES``; anything else raises ``BadRecordError``.
    """
    reference = record.get("dataref")
    if not reference:
        return record.get("data")
    from modeltap.reading.sources import ref_loader  # imported when used: serving reads nothing
    from modeltap.store import open_tree

    load = ref_loader(open_tree(collection_url, storage_options), "")
    return orjson.loads(load(str(reference)))
