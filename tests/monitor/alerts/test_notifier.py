"""Alerts after runs: real SMTP and HTTP servers on loopback, de-duplication, recovery, secrets."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modeltap.monitor import MonitorDefinition, MonitorRun, load
from modeltap.monitor.alerts import Alerts, WebhookRetry, url_has_secret
from modeltap.monitor.schedule.lease import MonitorLease
from modeltap.monitor.schedule.scheduler import RunReport, Scheduler
from modeltap.monitor.schedule.store import ScheduleStore
from tests.monitor.schedule.fakes import FakeClock, RecordingRunner, fake_run, utc

from .servers import silent_server, smtp_server, webhook_server

pytestmark = pytest.mark.integration


def _definition(notification: dict[str, Any]) -> MonitorDefinition:
    return load(
        {
            "name": "credit",
            "trigger": {"type": "recurrence", "frequency": "hour"},
            "create_monitor": {
                "monitoring_target": {"endpoint_deployment_id": "e:d"},
                "monitoring_signals": {
                    "drift": {
                        "type": "data_drift",
                        "production_data": {"input_data": {"path": "inputs"}},
                    },
                    "quiet": {
                        "type": "data_quality",
                        "alert_enabled": False,
                        "production_data": {"input_data": {"path": "inputs"}},
                    },
                },
                "alert_notification": notification,
            },
        }
    )


def _report(definition: MonitorDefinition, due: dt.datetime, drift: str) -> RunReport:
    metrics = pd.DataFrame(
        {
            "signal_name": ["drift", "drift", "quiet"],
            "feature_name": ["age", "income", "age"],
            "metric_name": ["jensen_shannon_distance"] * 2 + ["null_value_rate"],
            "metric_value": [0.42, 0.01, 0.9],
            "threshold_value": [0.1, 0.1, 0.05],
            "breached": [drift == "breached", False, True],
        }
    )
    signals = {"drift": {"status": drift}, "quiet": {"status": "breached"}}
    run = fake_run("credit", due, breached=True, signals=signals, metrics=metrics)
    return RunReport(definition, due, 1, "succeeded", None, run, 0.5, False, True)


def test_breach_email_through_a_real_smtp_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The email has text and HTML parts with the breached feature, value, threshold and the
    report link; the password comes from the environment and is never logged."""
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pw")
    with smtp_server(password="s3cret-pw") as (port, box):
        definition = _definition(
            {
                "emails": ["ops@example.com", "ml@example.com"],
                "smtp": {
                    "host": "127.0.0.1",
                    "port": port,
                    "starttls": False,
                    "username": "alerts",
                    "password_env": "SMTP_PASSWORD",
                },
                "ui_url": "https://ui.example.com",
            }
        )
        alerts = Alerts(str(tmp_path))
        with caplog.at_level(logging.DEBUG):
            alerts.on_run(_report(definition, utc("2026-03-01T01:00"), "breached"))
    assert alerts.sent == 1 and alerts.failed == 0
    assert box.logins == [("alerts", "s3cret-pw")]
    assert box.recipients == [["ops@example.com", "ml@example.com"]]
    mail = box.messages[0]
    assert " ".join(str(mail["Subject"]).split()) == (  # a long header is folded
        "[modeltap] credit breached: drift (window ending 2026-03-01T01:00:00Z)"
    )
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "drift | age | jensen_shannon_distance | 0.42 | 0.1" in plain
    assert "income" not in plain and "quiet" not in plain  # not breached / alerts disabled
    assert "https://ui.example.com/monitors/credit/runs/20260301T010000Z" in plain
    assert "<td>age</td><td>jensen_shannon_distance</td><td>0.42</td>" in html.get_content()
    assert "s3cret-pw" not in caplog.text
    assert not any("s3cret-pw" in p.read_text() for p in tmp_path.rglob("*.json"))


def test_smtp_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without alert_notification.smtp, MODELTAP_SMTP_URL names the server."""
    with smtp_server() as (port, box):
        monkeypatch.setenv(
            "MODELTAP_SMTP_URL", f"smtp://127.0.0.1:{port}?starttls=false&from=monitors@example.com"
        )
        definition = _definition({"emails": ["ops@example.com"]})
        Alerts(str(tmp_path)).on_run(_report(definition, utc("2026-03-01T01:00"), "breached"))
    assert box.messages[0]["From"] == "monitors@example.com"


def test_deduplication_renotify_and_recovery(tmp_path: Path) -> None:
    """A signal that stays breached alerts once, again after renotify_after; recovery sends a
    notice; a new breach alerts at once; an older window changes nothing."""
    with webhook_server() as (url, received):
        definition = _definition({"webhooks": [{"url": url}], "renotify_after": "PT3H"})
        alerts = Alerts(str(tmp_path))
        sequence = [
            ("01:00", "breached"),
            ("02:00", "breached"),  # still breached: no alert
            ("03:00", "breached"),
            ("04:00", "breached"),  # 3 hours after the first alert: again
            ("05:00", "ok"),  # recovery notice
            ("06:00", "ok"),
            ("07:00", "breached"),  # new breach
            ("02:30", "ok"),  # an older window: ignored
        ]
        for hour, status in sequence:
            alerts.on_run(_report(definition, utc(f"2026-03-01T{hour}"), status))
        # a restarted scheduler keeps the state
        Alerts(str(tmp_path)).on_run(_report(definition, utc("2026-03-01T08:00"), "breached"))
    kinds = [(b["kind"], b["window_end"][11:16]) for b in received.bodies]
    assert kinds == [
        ("breach", "01:00"),
        ("breach", "04:00"),
        ("recovery", "05:00"),
        ("breach", "07:00"),
    ]
    first = received.bodies[0]
    assert first["breaches"] == [
        {
            "signal": "drift",
            "feature": "age",
            "metric": "jensen_shannon_distance",
            "value": 0.42,
            "threshold": 0.1,
        }
    ]


def test_webhook_retries_then_succeeds_and_a_dead_one_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook failing twice is retried until it answers; one that always fails is logged
    (host only, never the secret path or token) and counted, and the other channels still go."""
    monkeypatch.setenv("HOOK_TOKEN", "Bearer t0ken")
    monkeypatch.setenv("SLACK_URL", "")
    with (
        webhook_server(fail_first=2) as (flaky, got),
        webhook_server(fail_first=99) as (
            dead,
            never,
        ),
    ):
        monkeypatch.setenv("DEAD_URL", dead)
        definition = _definition(
            {
                "webhooks": [
                    {"url_env": "DEAD_URL", "format": "teams"},
                    {
                        "url": flaky,
                        "format": "slack",
                        "headers_env": {"Authorization": "HOOK_TOKEN"},
                    },
                ]
            }
        )
        counted: list[tuple[str, str, bool]] = []

        class Counter:
            def notification(self, monitor: str, channel: str, sent: bool) -> None:
                counted.append((monitor, channel, sent))

        alerts = Alerts(str(tmp_path), counters=Counter(), webhook_retry=WebhookRetry(3, 0.01, 5.0))
        with caplog.at_level(logging.INFO):
            alerts.on_run(_report(definition, utc("2026-03-01T01:00"), "breached"))
    assert got.attempts == 3 and never.attempts == 3
    assert got.headers[0]["Authorization"] == "Bearer t0ken"
    assert got.bodies[0]["text"].startswith("*[modeltap] credit breached: drift")
    assert counted == [("credit", "webhook", False), ("credit", "webhook", True)]
    assert "failed after 3 attempts: HTTP 500" in caplog.text
    assert "secret-path" not in caplog.text and "t0ken" not in caplog.text


def test_missing_smtp_settings_fail_the_channel_not_the_scheduler(tmp_path: Path) -> None:
    """Emails without any SMTP server configured are counted as failed, with no exception."""
    definition = _definition({"emails": ["ops@example.com"]})
    alerts = Alerts(str(tmp_path))
    alerts.on_run(_report(definition, utc("2026-03-01T01:00"), "breached"))
    assert (alerts.sent, alerts.failed) == (0, 1)


def test_a_window_retried_after_later_ones_still_alerts_under_the_lease(tmp_path: Path) -> None:
    """A scheduler catching up 01:00 (fails once) and 02:00 (ok): the 01:00 retry breaches
    after 02:00 ran and its alert is sent once; listeners hear each run under the lease."""
    held: list[bool] = []

    class LeaseProbe:
        def on_run(self, report: RunReport) -> None:
            held.append(report.lease is not None and report.lease.held())

    def behaviour(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        if index == 0:
            raise OSError("the store is down")
        status = "breached" if at == utc("2026-03-01T01:00") else "ok"
        signals = {"drift": {"status": status}, "quiet": {"status": "ok"}}
        return fake_run(name, at, breached=status == "breached", signals=signals)

    with webhook_server() as (url, received):
        definition = _definition({"webhooks": [{"url": url}]})
        clock = FakeClock(utc("2026-03-01T00:30"))
        alerts = Alerts(str(tmp_path))
        Scheduler([definition], str(tmp_path), clock=clock).tick()
        clock.advance(dt.timedelta(hours=2))  # 01:00 and 02:00 due
        scheduler = Scheduler(
            [definition],
            str(tmp_path),
            clock=clock,
            runner=RecordingRunner(behaviour),
            listeners=[alerts, LeaseProbe()],
        )
        assert [r.status for r in scheduler.tick()] == ["failed", "succeeded"]
        clock.advance(dt.timedelta(minutes=1))
        assert [(r.due, r.status) for r in scheduler.tick()] == [
            (utc("2026-03-01T01:00"), "succeeded")
        ]
        clock.advance(dt.timedelta(minutes=1))
        scheduler.tick()
    assert [(b["kind"], b["window_end"]) for b in received.bodies] == [
        ("breach", "2026-03-01T01:00:00Z")
    ]
    assert held == [True, True, True]


def test_a_run_whose_lease_was_taken_over_sends_nothing_and_counts_it(tmp_path: Path) -> None:
    """When another scheduler took the monitor's lease over during a run, its alerts are not
    sent, each channel is counted as failed, and the alert state is left to the new holder."""
    with webhook_server() as (url, received):
        definition = _definition({"webhooks": [{"url": url}, {"url": url, "format": "slack"}]})
        store = ScheduleStore(str(tmp_path), "credit")
        stale = dt.timedelta(minutes=5)
        lost = MonitorLease(store, "here", stale).acquire(utc("2026-03-01T01:00"))
        assert lost is not None
        assert MonitorLease(store, "there", stale).acquire(utc("2026-03-01T01:06")) is not None
        report = replace(_report(definition, utc("2026-03-01T01:00"), "breached"), lease=lost)
        alerts = Alerts(str(tmp_path))
        alerts.on_run(report)
    assert received.attempts == 0
    assert (alerts.sent, alerts.failed) == (0, 2)
    assert not (tmp_path / "_monitoring" / "credit" / "alerts" / "state.json").exists()


def test_a_webhook_that_never_answers_times_out_is_retried_counted_and_the_scheduler_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook server that accepts the connection and never answers: each attempt ends at the
    timeout, all three are made, the failure is logged and counted, and the scheduler runs the
    next monitor and the next window."""
    counted: list[tuple[str, str, bool]] = []

    class Counter:
        def notification(self, monitor: str, channel: str, sent: bool) -> None:
            counted.append((monitor, channel, sent))

    def breach(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        signals = {"drift": {"status": "breached"}, "quiet": {"status": "ok"}}
        return fake_run(name, at, breached=True, signals=signals)

    with silent_server() as (url, accepted):
        alerting = _definition({"webhooks": [{"url": url}]})
        other = load(
            {
                "name": "other",
                "trigger": {"type": "recurrence", "frequency": "hour"},
                "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
            }
        )
        clock = FakeClock(utc("2026-03-01T00:59"))
        runner = RecordingRunner(breach)
        alerts = Alerts(str(tmp_path), counters=Counter(), webhook_retry=WebhookRetry(3, 0.01, 0.2))
        scheduler = Scheduler(
            [alerting, other], str(tmp_path), clock=clock, runner=runner, listeners=[alerts]
        )
        scheduler.tick()
        clock.advance(dt.timedelta(minutes=1))
        with caplog.at_level(logging.INFO):
            started = time.monotonic()
            reports = scheduler.tick()
            waited = time.monotonic() - started
        assert accepted.connections == 3
    assert [(r.monitor, r.status) for r in reports] == [
        ("credit", "succeeded"),
        ("other", "succeeded"),
    ]
    assert all(request.startswith(b"POST /hook/secret-path") for request in accepted.requests)
    assert 0.6 <= waited < 30  # three attempts of 0.2 s each, not the default 10 s
    assert counted == [("credit", "webhook", False)]
    assert (alerts.sent, alerts.failed) == (0, 1)
    assert "webhook http://127.0.0.1" in caplog.text
    assert "failed after 3 attempts: TimeoutError" in caplog.text
    assert "secret-path" not in caplog.text
    clock.advance(dt.timedelta(hours=1))
    assert [r.monitor for r in scheduler.tick()] == ["credit", "other"]


def test_an_inline_webhook_url_with_a_secret_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An inline url carrying a token (query string) still works, and is warned about once, by
    host only, pointing at url_env; a plain inline URL and url_env draw no warning."""
    assert url_has_secret("https://hooks.slack.com/services/T0/B0/XYZ")
    assert url_has_secret("https://prod-01.westus.logic.azure.com/x?sig=abc")
    assert url_has_secret("https://user:pw@hooks.example.com/x")
    assert url_has_secret("https://acme.webhook.office.com/webhookb2/abc")
    assert not url_has_secret("https://hooks.example.com/modeltap")
    with webhook_server() as (url, received), webhook_server() as (plain, _):
        definition = _definition(
            {"webhooks": [{"url": f"{url}?token=t0ken"}, {"url": plain}], "renotify_after": "PT1H"}
        )
        alerts = Alerts(str(tmp_path))
        with caplog.at_level(logging.WARNING, logger="modeltap.monitor.alerts"):
            alerts.on_run(_report(definition, utc("2026-03-01T01:00"), "breached"))
            alerts.on_run(_report(definition, utc("2026-03-01T02:00"), "breached"))
    assert len(received.bodies) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    host = url.split("/hook", 1)[0]
    assert warnings == [
        f"monitor credit: webhook {host} is given inline (url:) and its URL seems to carry a "
        "secret: put the URL in an environment variable named by url_env instead "
        "(tokens: headers_env)"
    ]
    assert "t0ken" not in caplog.text
