"""The one secret-header filter (payload logging and ingest) and the allowlist's caps."""

from __future__ import annotations

import pytest

from modeltap.errors import ConfigError
from modeltap.server.headers import MAX_RECORDED_LENGTH, HeaderAllowlist, is_secret_header

SECRET_HEADERS = [
    "Authorization", "Proxy-Authorization", "x-authorization", "X-Forwarded-Authorization",
    "authentication", "WWW-Authenticate", "Cookie", "Set-Cookie", "x-cookie",
    "x-api-key", "apikey", "x-goog-api-key", "Ocp-Apim-Subscription-Key", "x-functions-key",
    "x-access-key", "x-auth-key", "x-auth-token", "x-amz-security-token", "x-vault-token",
    "x-csrf-token", "x-xsrf-token", "private-token", "x-ms-client-principal",
    "x-ms-client-principal-id", "x-ms-client-principal-name", "x-ms-token-aad-id-token",
    "x-forwarded-client-cert", "x-client-cert", "ssl-client-cert", "x-arr-clientcert",
    "x-jwt-assertion", "x-goog-iap-jwt-assertion", "cf-access-jwt-assertion",
    "x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity",
    "x-hub-signature-256", "x-session-id", "x-password", "x-secret", "dpop", "x-credential",
    # CloudEvents extension names (lowercase letters and digits only)
    "authorization", "accesskey", "xamznoidcdata", "jwtassertion", "clientcert",
]
ORDINARY_HEADERS = [
    "content-type", "user-agent", "x-request-id", "x-ms-client-request-id", "x-tenant",
    "traceparent", "tracestate", "accept", "x-forwarded-for", "host", "x-model-version",
    "inferenceservicename", "namespace", "monkey", "keyboard-layout",
]


@pytest.mark.parametrize("name", SECRET_HEADERS)
def test_secret_headers_are_recognised(name: str) -> None:
    """Every credential- or identity-bearing name is a secret, and the allowlist refuses it."""
    assert is_secret_header(name)
    with pytest.raises(ConfigError, match="never stores them"):
        HeaderAllowlist(["x-tenant", name])


@pytest.mark.parametrize("name", ORDINARY_HEADERS)
def test_ordinary_headers_are_not_secrets(name: str) -> None:
    """Ordinary headers pass the filter."""
    assert not is_secret_header(name)
    assert HeaderAllowlist([name]).names == {name}


def test_captured_header_values_are_cut() -> None:
    """A captured header value is cut to MAX_RECORDED_LENGTH characters."""
    allowlist = HeaderAllowlist(["user-agent"])
    picked = allowlist.pick([(b"user-agent", b"u" * 500), (b"x-other", b"o")])
    assert picked == {"user-agent": "u" * MAX_RECORDED_LENGTH}


def test_allowlisted_headers_are_matched_case_insensitively() -> None:
    """Ordinary headers pass and are matched case-insensitively; repeats are joined."""
    allowlist = HeaderAllowlist(["X-Tenant", "x-ms-client-request-id", "User-Agent"])
    picked = allowlist.pick([(b"x-tenant", b"a"), (b"user-agent", b"ua"), (b"x-other", b"b"),
                             (b"X-Tenant", b"c")])
    assert picked == {"x-tenant": "a, c", "user-agent": "ua"}
