"""Which request headers payload logging keeps: a case-insensitive allowlist that refuses secrets.

``request_logging.capture_headers`` names the headers to store. Credentials (``Authorization``,
``Cookie``, ``Set-Cookie``, API keys, tokens) are never stored: listing one is a ConfigError that
says why, rather than a silent omission the operator would only notice in the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from modeltap.errors import ConfigError

__all__ = ["HeaderAllowlist", "is_secret_header"]

_SECRET_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "www-authenticate"}
)
_SECRET_PATTERN = re.compile(
    r"(api[-_]?key|subscription[-_]?key|functions[-_]key|secret|token|password|passwd|"
    r"credential|session|signature)",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    """Whether a header name carries credentials (never stored by payload logging)."""
    lowered = name.strip().lower()
    return lowered in _SECRET_NAMES or _SECRET_PATTERN.search(lowered) is not None


class HeaderAllowlist:
    """The validated, lower-cased set of header names to capture."""

    __slots__ = ("names",)

    def __init__(self, names: Sequence[str], *, source: str = "<configuration>") -> None:
        refused = [name for name in names if is_secret_header(name)]
        if refused:
            listed = ", ".join(repr(name) for name in refused)
            raise ConfigError(
                f"{source}: data_collector.request_logging.capture_headers lists {listed}: "
                "these headers carry credentials (authorization, cookies, API keys, tokens) "
                "and payload logging never stores them; remove them from capture_headers"
            )
        self.names = frozenset(name.strip().lower() for name in names if name.strip())

    def __bool__(self) -> bool:
        return bool(self.names)

    def pick(self, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        """The allowlisted headers of raw ASGI header pairs, repeated names joined by ', '."""
        if not self.names:
            return {}
        picked: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            if name in self.names:
                value = raw_value.decode("latin-1")
                picked[name] = f"{picked[name]}, {value}" if name in picked else value
        return picked
