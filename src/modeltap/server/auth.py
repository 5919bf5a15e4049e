"""Endpoint keys: ``Authorization: Bearer <key>`` on /score and the ingest routes.

Keys are compared in constant time. Liveness, readiness and metrics stay open.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path

from modeltap.errors import ConfigError

__all__ = ["KeyAuth", "generate_key", "is_loopback", "read_key_file"]


def generate_key() -> str:
    """A fresh random endpoint key."""
    return secrets.token_urlsafe(32)


def read_key_file(path: str | Path) -> str:
    """The key in a file (surrounding whitespace ignored); a missing or empty file is an error."""
    file = Path(path).expanduser()
    try:
        key = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"auth key file {file}: cannot be read ({exc.strerror})") from None
    if not key:
        raise ConfigError(f"auth key file {file} is empty: put the endpoint key in it")
    return key


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyAuth:
    """Checks bearer keys against one or more accepted keys (primary and secondary)."""

    __slots__ = ("_keys",)

    def __init__(self, *keys: str) -> None:
        if not keys or not all(keys):
            raise ConfigError("key authentication needs at least one non-empty key")
        self._keys = [key.encode() for key in keys]

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries an accepted key."""
        if not authorization:
            return False
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return False
        given = credential.strip().encode()
        accepted = False
        for key in self._keys:
            accepted |= hmac.compare_digest(given, key)
        return accepted
