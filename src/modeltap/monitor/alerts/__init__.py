"""Alerts of scheduled monitors: email (SMTP) and webhooks (JSON, Slack, Teams), de-duplicated,
with recovery notices; secrets only from the environment."""

from __future__ import annotations

from modeltap.monitor.alerts.deduplication import AlertDecision, AlertState
from modeltap.monitor.alerts.email import SmtpServer, send_email
from modeltap.monitor.alerts.message import AlertMessage, BreachedRow, report_link
from modeltap.monitor.alerts.notifier import Alerts, breached_rows
from modeltap.monitor.alerts.webhooks import (
    WebhookRetry,
    body_for,
    post_webhook,
    safe_url,
    url_has_secret,
)

__all__ = [
    "AlertDecision",
    "AlertMessage",
    "AlertState",
    "Alerts",
    "BreachedRow",
    "SmtpServer",
    "WebhookRetry",
    "body_for",
    "breached_rows",
    "post_webhook",
    "report_link",
    "safe_url",
    "send_email",
    "url_has_secret",
]
