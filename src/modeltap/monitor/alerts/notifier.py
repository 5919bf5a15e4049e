"""The scheduler's alerts: after each run, tell every channel of ``alert_notification`` about
new breaches and recoveries. A channel that fails is logged and counted, never raised.

The scheduler tells listeners of a run while it holds the monitor's lease, so one scheduler at a
time updates a monitor's alert state; a run whose scheduler lost the lease meanwhile (not
renewed in time) sends nothing and counts each channel as failed."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Protocol

from modeltap.monitor.alerts.deduplication import AlertState
from modeltap.monitor.alerts.email import SmtpServer, send_email
from modeltap.monitor.alerts.message import AlertMessage, BreachedRow, report_link
from modeltap.monitor.alerts.webhooks import (
    WebhookRetry,
    post_webhook,
    safe_url,
    url_has_secret,
)
from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import parse_duration

if TYPE_CHECKING:
    from modeltap.monitor.definition import AlertNotification, MonitorDefinition
    from modeltap.monitor.runner import MonitorRun
    from modeltap.monitor.schedule.scheduler import RunReport

__all__ = ["Alerts", "NotificationCounter", "breached_rows"]

_log = logging.getLogger("modeltap.monitor.alerts")


class NotificationCounter(Protocol):
    """Counts notifications (the Prometheus metrics do)."""

    def notification(self, monitor: str, channel: str, sent: bool) -> None:
        """One notification sent or failed."""


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def breached_rows(run: MonitorRun, signals: list[str]) -> list[BreachedRow]:
    """The breached metric rows of ``signals`` in a run."""
    frame = run.metrics
    if not len(frame) or "breached" not in frame.columns:
        return []
    rows = frame[frame["breached"].fillna(False).astype(bool) & frame["signal_name"].isin(signals)]
    return [
        BreachedRow(
            str(r.signal_name),
            str(r.feature_name),
            str(r.metric_name),
            _float(r.metric_value),
            _float(r.threshold_value),
        )
        for r in rows.itertuples(index=False)
    ]


class Alerts:
    """A :class:`~modeltap.monitor.schedule.scheduler.SchedulerListener` that sends alerts."""

    def __init__(
        self,
        destination: str,
        *,
        storage_options: dict[str, Any] | None = None,
        counters: NotificationCounter | None = None,
        webhook_retry: WebhookRetry | None = None,
    ) -> None:
        self.destination = destination
        self.storage_options = storage_options
        self.counters = counters
        self.webhook_retry = webhook_retry or WebhookRetry()
        self.sent = 0
        self.failed = 0
        self._warned: set[tuple[str, int]] = set()

    def on_run(self, report: RunReport) -> None:
        """Alert about the run's new breaches and recoveries (alert-enabled signals only)."""
        run = report.run
        notification = report.definition.create_monitor.alert_notification
        if run is None or notification is None:
            return
        if not notification.emails and not notification.webhooks:
            return
        definition = report.definition
        self._warn_inline_secrets(definition.name, notification)
        if report.lease is not None and not report.lease.held():
            _log.error(
                "monitor %s window %s: another scheduler took the monitor's lease over during "
                "the run (it was not renewed in time); its alerts are not sent",
                definition.name,
                report.due.isoformat(),
            )
            if notification.emails:
                self._count(definition.name, "email", False)
            for _ in notification.webhooks:
                self._count(definition.name, "webhook", False)
            return
        enabled = [n for n, s in definition.signals.items() if s.alert_enabled]
        statuses = {name: str(run.signals.get(name, {}).get("status", "")) for name in enabled}
        state = AlertState(
            ScheduleStore(self.destination, definition.name, self.storage_options, folder="alerts")
        )
        decision = state.decide(report.due, statuses, parse_duration(notification.renotify_after))
        link = report_link(notification.ui_url, definition.name, report.due)
        if decision.breached:
            rows = breached_rows(run, decision.breached)
            message = AlertMessage(
                "breach", definition.name, report.due, decision.breached, rows, link
            )
            self._send(definition, notification, message)
        if decision.recovered:
            message = AlertMessage(
                "recovery", definition.name, report.due, decision.recovered, [], link
            )
            self._send(definition, notification, message)

    def _warn_inline_secrets(self, monitor: str, notification: AlertNotification) -> None:
        """Once per webhook: warn when an inline ``url`` seems to carry a secret."""
        for index, webhook in enumerate(notification.webhooks):
            if not webhook.url or (monitor, index) in self._warned:
                continue
            self._warned.add((monitor, index))
            if url_has_secret(webhook.url):
                _log.warning(
                    "monitor %s: webhook %s is given inline (url:) and its URL seems to carry a "
                    "secret: put the URL in an environment variable named by url_env instead "
                    "(tokens: headers_env)",
                    monitor,
                    safe_url(webhook.url),
                )

    def _count(self, monitor: str, channel: str, sent: bool) -> None:
        if sent:
            self.sent += 1
        else:
            self.failed += 1
        if self.counters is not None:
            self.counters.notification(monitor, channel, sent)

    def _send(
        self,
        definition: MonitorDefinition,
        notification: AlertNotification,
        message: AlertMessage,
    ) -> None:
        monitor = definition.name
        if notification.emails:
            try:
                server = SmtpServer.resolve(notification.smtp)
                send_email(server, list(notification.emails), message)
                _log.info(
                    "monitor %s: %s email sent to %d recipients",
                    monitor,
                    message.kind,
                    len(notification.emails),
                )
                self._count(monitor, "email", True)
            except Exception as exc:
                _log.error("monitor %s: %s email not sent: %s", monitor, message.kind, exc)
                self._count(monitor, "email", False)
        for webhook in notification.webhooks:
            where = safe_url(webhook.url) if webhook.url else f"${webhook.url_env}"
            try:
                attempts = post_webhook(webhook, message, self.webhook_retry)
                _log.info(
                    "monitor %s: %s webhook %s sent (%d attempts)",
                    monitor,
                    message.kind,
                    where,
                    attempts,
                )
                self._count(monitor, "webhook", True)
            except Exception as exc:
                _log.error("monitor %s: %s webhook not sent: %s", monitor, message.kind, exc)
                self._count(monitor, "webhook", False)
