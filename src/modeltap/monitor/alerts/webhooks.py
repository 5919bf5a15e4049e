"""Alert webhooks: a JSON POST in modeltap's shape, or a Slack or Microsoft Teams message,
retried with exponential backoff and a timeout per attempt.

The URL is ``url`` (for a URL that holds no secret) or read from the environment variable
``url_env``: a URL that carries a token (Slack and Teams webhook URLs do, in their path; others
in the query string or as ``user:password@``) belongs in ``url_env``, and
:func:`url_has_secret` tells when an inline one seems to (the scheduler warns).
``headers_env`` maps header names to environment variables holding their values
(``Authorization: ALERT_TOKEN``). Logs and errors name only the URL's scheme and host.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from modeltap.errors import MonitorError
from modeltap.monitor.alerts.message import AlertMessage
from modeltap.monitor.definition import Webhook

__all__ = ["WebhookRetry", "body_for", "post_webhook", "safe_url", "url_has_secret"]

_SECRET_HOSTS = ("hooks.slack.com", ".webhook.office.com", "outlook.office.com")


@dataclass(frozen=True)
class WebhookRetry:
    """``attempts`` in all, waiting ``first * 2**(n-1)`` seconds after failed attempt ``n``."""

    attempts: int = 3
    first: float = 1.0
    timeout: float = 10.0


def safe_url(url: str) -> str:
    """``scheme://host[:port]`` only: what may be logged of a webhook URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def url_has_secret(url: str) -> bool:
    """Whether a webhook URL seems to carry a secret: a password, a query string, or the path of
    a Slack or Teams incoming webhook (whose path is the token)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.password or parts.username or parts.query:
        return True
    return any(host == h.lstrip(".") or host.endswith(h) for h in _SECRET_HOSTS)


def body_for(format_: str, message: AlertMessage) -> dict[str, Any]:
    """The request body for ``json``, ``slack`` (``text`` with mrkdwn) or ``teams``
    (a MessageCard)."""
    if format_ == "slack":
        text = f"*{message.subject}*\n" + message.text()
        return {"text": text}
    if format_ == "teams":
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.subject,
            "themeColor": "2EB886" if message.kind == "recovery" else "D00000",
            "title": message.subject,
            "text": message.text().replace("\n", "  \n"),
        }
        if message.link:
            card["potentialAction"] = [
                {
                    "@type": "OpenUri",
                    "name": "Open the report",
                    "targets": [{"os": "default", "uri": message.link}],
                }
            ]
        return card
    return message.to_json()


def _url(webhook: Webhook) -> str:
    if webhook.url is not None:
        return webhook.url
    assert webhook.url_env is not None
    url = os.environ.get(webhook.url_env)
    if not url:
        raise MonitorError(f"webhook url_env names {webhook.url_env}, which is not set")
    return url


def _headers(webhook: Webhook) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "modeltap-alerts"}
    for name, variable in webhook.headers_env.items():
        value = os.environ.get(variable)
        if value is None:
            raise MonitorError(f"webhook headers_env.{name} names {variable}, which is not set")
        headers[name] = value
    return headers


def post_webhook(webhook: Webhook, message: AlertMessage, retry: WebhookRetry | None = None) -> int:
    """POST the alert; returns the attempts it took. MonitorError (naming only the host) after
    the last failed attempt."""
    policy = retry or WebhookRetry()
    url = _url(webhook)
    data = json.dumps(body_for(webhook.format, message)).encode()
    headers = _headers(webhook)
    problem = ""
    for attempt in range(1, policy.attempts + 1):
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:
                response.read()
            return attempt
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = type(reason).__name__ if not isinstance(reason, str) else reason
        if attempt < policy.attempts:
            time.sleep(policy.first * 2 ** (attempt - 1))
    raise MonitorError(
        f"webhook {safe_url(url)} failed after {policy.attempts} attempts: {problem}"
    )
