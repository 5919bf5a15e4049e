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

from modeltap.errors import StoreError
from modeltap.store.destination import Destination

__all__ = ["FsspecDestination", "client_options"]

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
        import fsspec

        self.url = url.rstrip("/")
        protocol = self.url.split("://", 1)[0].lower()
        user_options = dict(storage_options or {})
        options = client_options(protocol, user_options)
        try:
            self.fs, self._root = fsspec.core.url_to_fs(self.url, **options)
        except (ImportError, ValueError, TypeError) as exc:
            raise StoreError(f"cannot open destination {url!r}: {exc}") from exc
        self._flat = protocol in _FLAT_PROTOCOLS
        if protocol in ("az", "abfs", "abfss"):
            _shorten_azure_retries(self.fs)

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
