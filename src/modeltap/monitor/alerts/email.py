"""Alert emails through SMTP (``smtplib``): a plain-text and an HTML part.

The server comes from ``alert_notification.smtp`` (``host``, ``port``, ``starttls``,
``username``, ``password_env`` naming the environment variable with the password, ``sender``)
or else from ``MODELTAP_SMTP_URL`` (``smtp://USER:PASSWORD@HOST:PORT``, ``smtps://`` for TLS
from the start; ``?starttls=false`` and ``?from=ADDRESS`` as query keys). Passwords are read
from the environment when a message is sent, and never logged or stored.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from modeltap.errors import MonitorError
from modeltap.monitor.alerts.message import AlertMessage
from modeltap.monitor.definition import SmtpSettings

__all__ = ["SMTP_URL_VARIABLE", "SmtpServer", "send_email"]

SMTP_URL_VARIABLE = "MODELTAP_SMTP_URL"


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail (``password`` filled from the environment)."""

    host: str
    port: int
    tls: bool
    starttls: bool
    username: str | None
    password: str | None
    sender: str

    def __repr__(self) -> str:
        return f"SmtpServer({self.host}:{self.port})"  # never the password

    @classmethod
    def resolve(cls, settings: SmtpSettings | None) -> SmtpServer:
        """From the definition's ``smtp`` or ``MODELTAP_SMTP_URL``; MonitorError when neither
        is set or the password variable is missing."""
        sender = f"modeltap@{socket.gethostname()}"
        if settings is not None:
            password = None
            if settings.password_env:
                password = os.environ.get(settings.password_env)
                if password is None:
                    raise MonitorError(
                        f"alert_notification.smtp.password_env names {settings.password_env}, "
                        "which is not set in the environment"
                    )
            return cls(
                settings.host,
                settings.port or 587,
                False,
                settings.starttls,
                settings.username,
                password,
                settings.sender or sender,
            )
        url = os.environ.get(SMTP_URL_VARIABLE)
        if not url:
            raise MonitorError(
                "alert emails need an SMTP server: set alert_notification.smtp in the monitor, "
                f"or {SMTP_URL_VARIABLE}=smtp://USER:PASSWORD@HOST:PORT"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MonitorError(f"{SMTP_URL_VARIABLE} is not an smtp:// or smtps:// URL with a host")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        starttls = not tls and query.get("starttls", ["true"])[0].lower() not in ("false", "0")
        return cls(
            parts.hostname,
            parts.port or (465 if tls else 587),
            tls,
            starttls,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            query.get("from", [sender])[0],
        )


def send_email(
    server: SmtpServer, recipients: list[str], message: AlertMessage, timeout: float = 30.0
) -> None:
    """Send the alert to ``recipients``; MonitorError naming the server when it fails."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = server.sender
    mail["To"] = ", ".join(recipients)
    mail.set_content(message.text())
    mail.add_alternative(message.html(), subtype="html")
    try:
        if server.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=timeout)
        with client:
            if server.starttls:
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise MonitorError(
            f"cannot send the alert email through {server.host}:{server.port}: "
            f"{type(exc).__name__}"
            + (f" {exc.smtp_code}" if isinstance(exc, smtplib.SMTPResponseException) else "")
        ) from None
