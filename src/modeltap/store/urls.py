"""Store URLs: which are local, and which modeltap extra a remote one needs."""

from __future__ import annotations

import importlib.util

from modeltap.errors import MissingDependencyError

__all__ = ["check_destination", "is_local"]

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
