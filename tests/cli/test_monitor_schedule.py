"""``modeltap monitor schedule`` as a process: it catches up missed windows with real runs on
Parquet data, alerts once by email and webhook, serves /metrics, answers ``monitor status``, and
exits cleanly on SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from modeltap.cli import main
from modeltap.monitor.results import ResultsStore
from modeltap.monitor.schedule.claims import Ledger
from modeltap.monitor.schedule.store import ScheduleStore
from tests.monitor.alerts.servers import free_port, smtp_server, webhook_server

ROOT = Path(__file__).resolve().parents[2]


def _data(folder: Path, now: dt.datetime) -> tuple[str, str]:
    """Reference values around 0; production values around 5, a row a minute for 4 hours."""
    rng = np.random.default_rng(7)
    reference = folder / "reference.parquet"
    pq.write_table(pa.table({"x": rng.normal(0, 1, 500)}), reference)
    times = [now - dt.timedelta(minutes=m) for m in range(1, 240)]
    production = folder / "production.parquet"
    pq.write_table(
        pa.table(
            {
                "x": rng.normal(5, 1, len(times)),
                "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            }
        ),
        production,
    )
    return str(reference), str(production)


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
def test_schedule_catches_up_alerts_serves_metrics_and_stops_on_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two missed hourly windows run at start (catch_up: 2), one alert for the lasting breach,
    metrics scraped and parsed, status shows the last window, SIGTERM exits 0."""
    now = dt.datetime.now(dt.UTC)
    reference, production = _data(tmp_path, now)
    store = str(tmp_path / "store")
    Ledger(ScheduleStore(store, "drifty")).since(now - dt.timedelta(hours=3))
    port = free_port()
    with smtp_server() as (smtp_port, box), webhook_server() as (hook, received):
        monitor = {
            "name": "drifty",
            "trigger": {"type": "recurrence", "frequency": "hour", "catch_up": 2},
            "create_monitor": {
                "monitoring_signals": {
                    "drift": {
                        "type": "data_drift",
                        "production_data": {
                            "input_data": {"path": production},
                            "data_window": {"lookback_window_size": "PT1H"},
                        },
                        "reference_data": {"input_data": {"path": reference}},
                        "metric_thresholds": {"numerical": {"jensen_shannon_distance": 0.1}},
                    }
                },
                "alert_notification": {
                    "emails": ["ops@example.com"],
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False},
                    "webhooks": [{"url": hook}],
                },
            },
        }
        path = tmp_path / "drifty.yaml"
        path.write_text(yaml.safe_dump(monitor), encoding="utf-8")
        command = [
            sys.executable,
            "-c",
            "import sys; from modeltap.cli import main; sys.exit(main())",
            "monitor",
            "schedule",
            "-f",
            str(path),
            "--destination",
            store,
            "--metrics-port",
            str(port),
            "--metrics-address",
            "127.0.0.1",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            succeeded = (
                "modeltap_monitor_runs_total",
                (("monitor", "drifty"), ("status", "succeeded")),
            )
            deadline = time.monotonic() + 180
            samples = _samples(port)
            while samples.get(succeeded, 0) < 2 and time.monotonic() < deadline:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.5)
                samples = _samples(port)
            assert samples.get(succeeded) == 2
            feature = (
                ("feature", "x"),
                ("metric", "jensen_shannon_distance"),
                ("monitor", "drifty"),
                ("signal", "drift"),
            )
            assert samples[("modeltap_monitor_metric_breached", feature)] == 1
            assert samples[("modeltap_monitor_metric_threshold", feature)] == pytest.approx(0.1)
            caught = ("modeltap_monitor_windows_caught_up_total", (("monitor", "drifty"),))
            assert samples[caught] == 1
            email = (("channel", "email"), ("monitor", "drifty"), ("result", "sent"))
            assert samples[("modeltap_monitor_notifications_total", email)] == 1
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, output
    assert "stopping after the current run" in output
    assert len(received.bodies) == 1 and received.bodies[0]["kind"] == "breach"
    assert len(box.messages) == 1
    runs = ResultsStore(store).runs("drifty")
    assert len(runs) == 2
    code = main(["monitor", "status", "-f", str(path), "--destination", store, "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert rows[0]["monitor"] == "drifty" and rows[0]["last_status"] == "succeeded"
    assert rows[0]["last_window"].replace("-", "").replace(":", "") == runs[-1]
    assert rows[0]["next_due"] > rows[0]["last_window"]
    assert main(["monitor", "status", "--destination", store]) == 0  # a table, from the store
    table = capsys.readouterr().out
    assert "drifty" in table and "succeeded" in table


def test_schedule_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No monitors, a monitor without a trigger, or an empty folder: exit 1 with one line."""
    assert main(["monitor", "schedule", "--destination", str(tmp_path)]) == 1
    assert "no monitors given" in capsys.readouterr().err
    bare = tmp_path / "bare.yaml"
    bare.write_text(
        yaml.safe_dump(
            {
                "name": "bare",
                "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
            }
        ),
        encoding="utf-8",
    )
    assert (
        main(
            [
                "monitor",
                "schedule",
                "-f",
                str(bare),
                "--metrics-port",
                "0",
                "--destination",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert "has no trigger" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["monitor", "status", str(empty), "--destination", str(tmp_path)]) == 1
    assert "no monitor definitions" in capsys.readouterr().err
