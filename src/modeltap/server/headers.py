"""Which request headers may go into a record: one filter of secrets, and a length cap.

Credentials (``Authorization`` and its proxy-forwarded variants, cookies, API keys, tokens,
client certificates and the identity headers that gateways and load balancers add, such as
``X-MS-CLIENT-PRINCIPAL``, ``X-Forwarded-Client-Cert``, ``X-Jwt-Assertion`` or
``X-Amzn-Oidc-Data``) are never stored. ``is_secret_header`` decides, for both paths that store
headers: payload logging's ``request_logging.capture_headers`` (listing one is a ConfigError
that says why, rather than a silent omission the operator would only notice in the data) and
ingest's ``ce-*`` context headers and CloudEvents extensions (dropped from the record). The
filter goes by the words in a name, so it errs on the side of not storing: ``x-idempotency-key``
is refused with the API keys.

Ids and header values that go into a record are at most ``MAX_RECORDED_LENGTH`` characters. An
id longer than that is refused (431 for a header, 400 for an attribute in a body: an id cut
short would correlate with the wrong records); any other header or extension value is cut to
that length (a long ``User-Agent`` or ``tracestate`` does not cost the request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from modeltap.errors import ConfigError

__all__ = ["MAX_RECORDED_LENGTH", "HeaderAllowlist", "is_secret_header"]

MAX_RECORDED_LENGTH = 100
"""The longest id or header value stored in a record (as /score's ``x-request-id``)."""

_SECRET_NAMES = frozenset({"www-authenticate", "x-csrftoken", "x-xsrf-token", "dpop"})
_SECRET_WORDS = re.compile(
    r"auth|cookie|api[-_]?key|access[-_]?key|secret|token|password|passw|pwd|credential|"
    r"session|signature|principal|cert|jwt|oidc|saml|assertion|bearer|private|"
    r"(?:^|[-_.])key(?:$|[-_.])|(?:^|[-_.])sig(?:$|[-_.])",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    """Whether a header (or CloudEvents attribute) name may carry credentials or an identity:
    then it is never stored."""
    lowered = name.strip().lower()
    return lowered in _SECRET_NAMES or _SECRET_WORDS.search(lowered) is not None


class HeaderAllowlist:
    """The validated, lower-cased set of header names to capture."""

    __slots__ = ("names",)

    def __init__(self, names: Sequence[str], *, source: str = "<configuration>") -> None:
        refused = [name for name in names if is_secret_header(name)]
        if refused:
            listed = ", ".join(repr(name) for name in refused)
            raise ConfigError(
                f"{source}: data_collector.request_logging.capture_headers lists {listed}: "
                "these headers carry credentials or identities (authorization, cookies, API "
                "keys, tokens, client certificates, principals) and payload logging never "
                "stores them; remove them from capture_headers"
            )
        self.names = frozenset(name.strip().lower() for name in names if name.strip())

    def __bool__(self) -> bool:
        return bool(self.names)

    def pick(self, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        """The allowlisted headers of raw ASGI header pairs, repeated names joined by ', ',
        each value cut to ``MAX_RECORDED_LENGTH`` characters."""
        if not self.names:
            return {}
        picked: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            if name in self.names:
                value = raw_value.decode("latin-1")
                picked[name] = f"{picked[name]}, {value}" if name in picked else value
        return {name: value[:MAX_RECORDED_LENGTH] for name, value in picked.items()}
