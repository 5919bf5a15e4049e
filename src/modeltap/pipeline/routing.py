"""Where a collection's segments go: the destination URL, the folder there, and the folder in the
spool (which mirrors it, so an orphan segment found at start-up knows where it goes).

A collection whose root is a URL or an absolute path of its own is spooled under
``_roots/{base64 of the root}/``; every other collection under its folder at the default
destination.
"""

from __future__ import annotations

import base64

from modeltap.config import Settings

__all__ = ["destination_urls", "route", "route_url", "unroute"]

_ROOTS_FOLDER = "_roots"


def route(settings: Settings, root: str) -> tuple[str, str, str]:
    """(destination url, relative folder at the destination, relative folder in the spool)."""
    url = route_url(settings, root)
    if url == root:
        tag = base64.urlsafe_b64encode(root.encode()).decode().rstrip("=")
        return root, "", f"{_ROOTS_FOLDER}/{tag}"
    return url, root, root


def unroute(settings: Settings, spool_relative: str) -> tuple[str, str]:
    """Inverse of ``route`` for orphan segments: (destination url, relative path)."""
    if spool_relative.startswith(_ROOTS_FOLDER + "/"):
        _, tag, rest = spool_relative.split("/", 2)
        url = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4)).decode()
        return url, rest
    return settings.destination, spool_relative


def route_url(settings: Settings, root: str) -> str:
    """The destination URL of a collection folder (``route``'s first part)."""
    return root if "://" in root or root.startswith("/") else settings.destination


def destination_urls(settings: Settings) -> list[str]:
    """Every destination ``settings`` name: the default and each collection's own."""
    urls = [settings.destination]
    for name in settings.collector.collections or {}:
        url = route_url(settings, settings.collection(name).root)
        if url not in urls:
            urls.append(url)
    return urls

