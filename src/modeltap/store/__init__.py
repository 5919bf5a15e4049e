"""Destinations for committed files, chosen by URL scheme (lazy imports, install hints)."""

from __future__ import annotations

import importlib.util
from typing import Any

from modeltap.errors import MissingDependencyError
from modeltap.store.destination import Destination
from modeltap.store.local import LocalDestination

__all__ = [
    "Destination",
    "LocalDestination",
    "check_destination",
    "is_local",
    "open_destination",
]

_EXTRAS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
}


def is_local(url: str) -> bool:
    """Whether ``url`` is a path on this machine (plain path or ``file://``)."""
    return "://" not in url or url.startswith("file://")


def check_destination(url: str) -> None:
    """Raise MissingDependencyError (with the ``pip install`` hint) if ``url`` needs an extra
    that is not installed. Imports nothing and touches no network."""
    if is_local(url):
        return
    scheme = url.split("://", 1)[0].lower()
    module, extra = _EXTRAS.get(scheme, ("", ""))
    if module and importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"destination {url!r} needs the {module} package: "
            f'pip install "modeltap[{extra}]"'
        )


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
