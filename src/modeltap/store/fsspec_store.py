"""Object-store and other fsspec destinations: commit is one upload under the final name.

``s3://`` (s3fs), ``az://`` / ``abfs://`` (adlfs, Azure Blob), ``gs://`` (gcsfs), ``memory://``
(tests) and anything else fsspec knows. ``storage_options`` from the configuration are passed to
the file system (endpoint URL, credentials, ...); the libraries' own environment variables work
too. An upload is a single PUT (or a multipart upload completed in one call), so readers see a
file whole or not at all; the object name is deterministic, so a retry overwrites.

The client libraries retry on their own for a long time by default (the Azure SDK waits about a
minute and a half before giving up on a refused connection). The committer already retries
forever with backoff, so the client-side retries are shortened unless the options set them.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

from modeltap.errors import MissingDependencyError, StoreError
from modeltap.store.destination import Destination
from modeltap.store.tree import FsspecTree, Tree
from modeltap.store.urls import check_destination

__all__ = ["FsspecDestination", "client_options", "open_filesystem"]

_S3_CONFIG = {"connect_timeout": 10, "read_timeout": 120, "retries": {"max_attempts": 2}}
_FLAT_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl")


def client_options(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """The user's storage_options with modeltap's defaults for the protocol's client added."""
    options = copy.deepcopy(options)
    if protocol in ("s3", "s3a"):
        config = options.setdefault("config_kwargs", {})
        for key, value in _S3_CONFIG.items():
            config.setdefault(key, value)
    if protocol in ("gs", "gcs") and options.get("endpoint_url"):
        # gcsfs asks Google's Storage Control API (gRPC) for the bucket's type before uploads,
        # reads and listings, and falls back to the JSON API when that fails. An emulator or a
        # private endpoint has no such API: without this, each operation retries for a minute.
        options.setdefault("retry_timeout", 0)
    return options


def open_filesystem(
    url: str, storage_options: dict[str, Any] | None = None
) -> tuple[Any, str, dict[str, Any]]:
    """(file system, root path in it, the client options used) for an fsspec URL, with
    modeltap's client defaults. A missing backend raises MissingDependencyError, a bad URL
    StoreError. Destinations (writing) and trees (reading) open their stores here."""
    import fsspec

    protocol = url.split("://", 1)[0].lower()
    options = client_options(protocol, dict(storage_options or {}))
    try:
        fs, root = fsspec.core.url_to_fs(url.rstrip("/"), **options)
    except ImportError as exc:
        check_destination(url)  # the modeltap extra that brings the backend, when known
        raise MissingDependencyError(
            f"{url!r} needs an fsspec backend that is not installed: {exc}"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise StoreError(f"cannot open {url!r}: {exc}") from exc
    if protocol in ("az", "abfs", "abfss"):
        _shorten_azure_retries(fs)
    return fs, str(root).rstrip("/"), options


def _shorten_azure_retries(fs: Any) -> None:
    """Make the Azure SDK give up after a few seconds; the committer retries for longer."""
    with contextlib.suppress(AttributeError):
        policy = fs.service_client._config.retry_policy
        policy.total_retries = policy.connect_retries = policy.read_retries = 2
        policy.status_retries = 2
        policy.initial_backoff = 1
        policy.increment_base = 2
        policy.random_jitter_range = 1


class FsspecDestination(Destination):
    """Any fsspec file system (``s3://``, ``az://``, ``gs://``, ``memory://`` ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.fs, self._root, self._options = open_filesystem(self.url, storage_options)
        self._flat = self.url.split("://", 1)[0].lower() in _FLAT_PROTOCOLS

    def _path(self, relative_path: str) -> str:
        return f"{self._root.rstrip('/')}/{relative_path}"

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Upload under the final name (a single PUT is atomic on object stores), then delete
        the local file."""
        target = self._path(relative_path)
        try:
            if not self._flat:  # object stores have no folders to make
                self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local_path), target)
        except Exception as exc:
            raise StoreError(f"upload of {relative_path} to {self.url} failed: {exc}") from exc
        local_path.unlink()

    def read_bytes(self, relative_path: str) -> bytes:
        """Download a committed file."""
        try:
            data = self.fs.cat_file(self._path(relative_path))
        except Exception as exc:
            raise StoreError(f"cannot read {relative_path} from {self.url}: {exc}") from exc
        return bytes(data)

    def list_files(self, prefix: str = "") -> list[str]:
        """Committed objects under ``prefix``."""
        base = self._path(prefix) if prefix else self._root
        try:
            self.fs.invalidate_cache()
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise StoreError(f"cannot list {self.url}: {exc}") from exc
        root = self._root.rstrip("/") + "/"
        relative = (str(p)[len(root) :] if str(p).startswith(root) else str(p) for p in found)
        return sorted(
            r
            for r in relative
            if not r.endswith(".part") and not any(s.startswith(".") for s in r.split("/"))
        )

    def tree(self, relative_path: str = "") -> Tree | None:
        """The objects under ``relative_path``, through the same file system."""
        if not relative_path:
            return FsspecTree(self.url, self._options, opened=(self.fs, self._root))
        return FsspecTree(
            self.join(relative_path), self._options, opened=(self.fs, self._path(relative_path))
        )
