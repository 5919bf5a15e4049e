"""The scheduler with an injected clock: catch-up, exactly once, retries, late data, shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from modeltap.errors import MonitorDefinitionError
from modeltap.monitor import MonitorRun, load
from modeltap.monitor.schedule.lease import MonitorLease
from modeltap.monitor.schedule.retry import RetryPolicy
from modeltap.monitor.schedule.scheduler import RunReport, Scheduler
from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import run_stamp

from .fakes import FakeClock, RecordingRunner, definition, fake_run, utc

HOUR = dt.timedelta(hours=1)


def _attempts(store: Path, name: str, due: dt.datetime) -> list[dict[str, Any]]:
    folder = store / "_monitoring" / name / "schedule" / "windows" / run_stamp(due)
    return [orjson.loads(p.read_bytes()) for p in sorted(folder.glob("attempt-*.json"))]


def _outcome(store: Path, name: str, due: dt.datetime) -> dict[str, Any]:
    path = store / "_monitoring" / name / "schedule" / "windows" / run_stamp(due) / "outcome.json"
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def test_catches_up_missed_windows_oldest_first_then_never_again(tmp_path: Path) -> None:
    """After downtime the latest catch_up windows run oldest first, each with its own at;
    a restarted scheduler on the same store runs none of them again."""
    clock = FakeClock(utc("2026-03-01T00:30"))
    runner = RecordingRunner()
    monitor = definition(catch_up=3)
    first = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
    assert first.tick() == []  # scheduling begins now: nothing is due yet
    clock.advance(5 * HOUR)  # down from 00:30 to 05:30: windows 01:00 ... 05:00 missed
    reports = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner).tick()
    assert runner.calls == [
        ("m", utc("2026-03-01T03:00")),
        ("m", utc("2026-03-01T04:00")),
        ("m", utc("2026-03-01T05:00")),
    ]
    assert [r.caught_up for r in reports] == [True, True, False]
    assert _outcome(tmp_path, "m", utc("2026-03-01T05:00"))["status"] == "succeeded"
    again = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
    assert again.tick() == []
    clock.advance(HOUR)
    assert [r.due for r in again.tick()] == [utc("2026-03-01T06:00")]
    assert len(runner.calls) == 4


def test_a_failed_window_is_recorded_and_retried_with_backoff(tmp_path: Path) -> None:
    """Two failures are recorded with their error, retried after 1 then 2 minutes; the other
    monitor runs meanwhile."""

    def flaky(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        if name == "bad" and index < 3:
            raise OSError("the store is down")
        return None

    clock = FakeClock(utc("2026-03-01T00:59"))
    runner = RecordingRunner(flaky)
    scheduler = Scheduler(
        [definition("bad"), definition("good")], str(tmp_path), clock=clock, runner=runner
    )
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    reports = scheduler.tick()
    assert [(r.monitor, r.status) for r in reports] == [("bad", "failed"), ("good", "succeeded")]
    assert reports[0].error == "OSError: the store is down"
    assert not reports[0].final
    due = utc("2026-03-01T01:00")
    assert _attempts(tmp_path, "bad", due)[0]["state"] == "failed"
    assert _attempts(tmp_path, "bad", due)[0]["error"] == "OSError: the store is down"
    assert scheduler.next_wakeup() == clock.now() + dt.timedelta(minutes=1)
    clock.advance(dt.timedelta(seconds=59))
    assert scheduler.tick() == []  # not yet
    clock.advance(dt.timedelta(seconds=1))
    assert [r.status for r in scheduler.tick()] == ["failed"]
    clock.advance(dt.timedelta(minutes=2))
    assert [(r.status, r.attempt) for r in scheduler.tick()] == [("succeeded", 3)]
    assert _outcome(tmp_path, "bad", due) | {"finished_at": None} == {
        "status": "succeeded",
        "attempts": 3,
        "breached": False,
        "finished_at": None,
    }


def test_a_run_with_a_failed_signal_fails_and_gives_up_after_the_last_attempt(
    tmp_path: Path,
) -> None:
    """A run whose signal failed is a failed attempt; after the last one the window is settled
    as failed with the error and not tried again."""
    failed = {"data-drift-signal": {"status": "failed", "error": "cannot read x"}}
    runner = RecordingRunner(lambda i, n, at: fake_run(n, at, status="failed", signals=failed))
    clock = FakeClock(utc("2026-03-01T00:59"))
    scheduler = Scheduler(
        [definition()],
        str(tmp_path),
        clock=clock,
        runner=runner,
        retry=RetryPolicy(attempts=2, first=dt.timedelta(seconds=10)),
    )
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    assert [r.final for r in scheduler.tick()] == [False]
    clock.advance(dt.timedelta(seconds=10))
    last = scheduler.tick()
    assert [(r.attempt, r.final) for r in last] == [(2, True)]
    outcome = _outcome(tmp_path, "m", utc("2026-03-01T01:00"))
    assert outcome["status"] == "failed"
    assert outcome["error"] == "signal data-drift-signal: cannot read x"
    clock.advance(dt.timedelta(minutes=10))
    assert scheduler.tick() == []
    assert len(runner.calls) == 2


def test_a_stale_claim_is_taken_over_and_a_live_one_is_left(tmp_path: Path) -> None:
    """A claim whose owner stopped refreshing it is taken over after stale_after."""
    clock = FakeClock(utc("2026-03-01T00:59"))
    monitor = definition()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner()).tick()
    clock.advance(dt.timedelta(minutes=1))
    dead = Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner())
    # a scheduler that claims the window and dies before running it
    dead.entries[0].ledger.since(clock.now())
    assert dead.entries[0].ledger.claim(utc("2026-03-01T01:00"), 1, clock.now()) is not None
    runner = RecordingRunner()
    other = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner, owner="other")
    assert other.tick() == []
    clock.advance(dt.timedelta(minutes=5))
    assert [r.attempt for r in other.tick()] == [2]
    assert _attempts(tmp_path, "m", utc("2026-03-01T01:00"))[1]["owner"] == "other"


def test_an_abandoned_run_is_released_and_run_by_the_next_scheduler(tmp_path: Path) -> None:
    """A run interrupted on shutdown releases its claim; the next scheduler runs it at once."""

    def interrupted(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        raise KeyboardInterrupt

    clock = FakeClock(utc("2026-03-01T00:59"))
    monitor = definition()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner()).tick()
    clock.advance(dt.timedelta(minutes=1))
    stopping = Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner(interrupted))
    with pytest.raises(KeyboardInterrupt):
        stopping.tick()
    assert _attempts(tmp_path, "m", utc("2026-03-01T01:00"))[0]["state"] == "released"
    runner = RecordingRunner()
    assert [
        r.attempt for r in Scheduler([monitor], str(tmp_path), clock=clock, runner=runner).tick()
    ] == [2]


def test_late_rows_rerun_a_window_within_recompute_late(tmp_path: Path) -> None:
    """A window whose production rows grew after its run runs again; after the delay, never."""
    counts = {"rows": 10}
    signals = {
        "data-drift-signal": {
            "status": "ok",
            "window_start": "2026-02-28T01:00:00Z",
            "window_end": "2026-03-01T01:00:00Z",
            "production_row_count": 10,
        }
    }
    runner = RecordingRunner(lambda i, n, at: fake_run(n, at, signals=signals))
    clock = FakeClock(utc("2026-03-01T00:59"))
    seen: list[dict[str, Any]] = []

    def counter(sides: dict[str, Any]) -> dict[str, int]:
        seen.append(sides)
        return dict.fromkeys(sides, counts["rows"])

    scheduler = Scheduler(
        [definition(frequency="day", recompute_late="PT2H", schedule={"hours": 1})],
        str(tmp_path),
        clock=clock,
        runner=runner,
        row_counter=counter,
    )
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    assert len(scheduler.tick()) == 1
    assert seen[0]["data-drift-signal.production"]["path"] == "e-d-model_inputs"
    clock.advance(dt.timedelta(minutes=30))
    assert scheduler.tick() == []  # no late rows
    counts["rows"] = 12
    clock.advance(dt.timedelta(minutes=30))
    reports = scheduler.tick()
    assert [(r.recomputed, r.attempt) for r in reports] == [(True, 2)]
    assert runner.calls[-1] == ("m", utc("2026-03-01T01:00"))
    counts["rows"] = 20
    clock.advance(dt.timedelta(hours=1))  # past PT2H after the due time
    assert scheduler.tick() == []


def test_serve_sleeps_until_due_and_stops(tmp_path: Path) -> None:
    """serve() waits for each due time on the clock and returns when stopped."""
    clock = FakeClock(utc("2026-03-01T00:00"))
    reports: list[RunReport] = []

    class Stopper:
        def on_run(self, report: RunReport) -> None:
            reports.append(report)
            if len(reports) == 3:
                scheduler.stop.set()

    scheduler = Scheduler(
        [definition(frequency="minute", interval=15)],
        str(tmp_path),
        clock=clock,
        runner=RecordingRunner(),
        listeners=[Stopper()],
    )
    scheduler.serve()
    assert [r.due for r in reports] == [
        utc("2026-03-01T00:15"),
        utc("2026-03-01T00:30"),
        utc("2026-03-01T00:45"),
    ]
    assert max(clock.waits) <= 60


def test_a_monitor_without_trigger_or_with_a_duplicate_name_is_refused(tmp_path: Path) -> None:
    """Scheduling needs a trigger per monitor and unique names."""
    bare = load(
        {"name": "x", "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}}}
    )
    with pytest.raises(MonitorDefinitionError, match="has no trigger"):
        Scheduler([bare], str(tmp_path))
    with pytest.raises(MonitorDefinitionError, match="unique"):
        Scheduler([definition(), definition()], str(tmp_path))


def test_a_long_run_renews_its_lease_and_its_claim(tmp_path: Path) -> None:
    """While a run lasts longer than stale_after, the scheduler refreshes its monitor's lease
    and its window's claim, so another scheduler that looks then leaves the monitor alone; the
    lease is released after the run."""
    clock = FakeClock(utc("2026-03-01T00:59"))
    monitor = definition()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner()).tick()
    clock.advance(dt.timedelta(minutes=1))
    due = utc("2026-03-01T01:00")
    lease = MonitorLease(ScheduleStore(str(tmp_path), "m"), "probe", dt.timedelta(minutes=5))
    other_runner = RecordingRunner()
    other = Scheduler([monitor], str(tmp_path), clock=clock, runner=other_runner, owner="other")
    seen: list[tuple[str, str]] = []

    def long_run(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        clock.advance(dt.timedelta(minutes=10))  # the run takes ten minutes
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            beat = _attempts(tmp_path, "m", due)[0]["heartbeat_at"]
            holder = lease.holder()
            renewed = holder["renewed_at"] if holder is not None else ""
            if (beat, renewed) == ("2026-03-01T01:10:00Z", "2026-03-01T01:10:00Z"):
                break
            time.sleep(0.01)
        seen.append((beat, renewed))
        assert other.tick() == []  # lease and claim alive: nothing taken over
        return None

    busy = Scheduler(
        [monitor],
        str(tmp_path),
        clock=clock,
        runner=RecordingRunner(long_run),
        heartbeat_seconds=0.01,
    )
    assert [r.status for r in busy.tick()] == ["succeeded"]
    assert seen == [("2026-03-01T01:10:00Z", "2026-03-01T01:10:00Z")]
    assert other_runner.calls == []
    holder = lease.holder()
    assert holder is not None and holder["state"] == "released"


def test_a_year_of_missed_minutes_catches_up_only_the_latest(tmp_path: Path) -> None:
    """After a year down, a trigger due every minute runs its latest catch_up windows."""
    clock = FakeClock(utc("2025-03-01T00:00"))
    runner = RecordingRunner()
    monitor = definition(frequency="minute", catch_up=3)
    Scheduler([monitor], str(tmp_path), clock=clock, runner=runner).tick()
    clock.advance(dt.timedelta(days=365))
    started = time.monotonic()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=runner).tick()
    assert time.monotonic() - started < 30
    assert [at for _, at in runner.calls] == [
        utc("2026-02-28T23:58"),
        utc("2026-02-28T23:59"),
        utc("2026-03-01T00:00"),
    ]


def test_a_stop_during_a_run_finishes_it_and_runs_nothing_more(tmp_path: Path) -> None:
    """Stopping (the first SIGTERM) while a run is going lets it finish and be recorded; the
    next pending window is left for later, and serve() returns."""
    clock = FakeClock(utc("2026-03-01T00:30"))
    monitor = definition()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner()).tick()
    clock.advance(dt.timedelta(hours=2))  # 01:00 and 02:00 are due

    def stop_midway(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        scheduler.stop.set()
        return None

    runner = RecordingRunner(stop_midway)
    scheduler = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
    scheduler.serve()
    assert runner.calls == [("m", utc("2026-03-01T01:00"))]
    assert _outcome(tmp_path, "m", utc("2026-03-01T01:00"))["status"] == "succeeded"
    after = RecordingRunner()
    Scheduler([monitor], str(tmp_path), clock=clock, runner=after).tick()
    assert after.calls == [("m", utc("2026-03-01T02:00"))]


class _ClockUntil(FakeClock):
    """A fake clock that stops the scheduler once its time reaches ``end``."""

    def __init__(self, now: dt.datetime, end: dt.datetime) -> None:
        super().__init__(now)
        self.end = end
        self.stop: Any = None

    def wait(self, seconds: float, stop: Any) -> bool:
        """Move time forward; set ``stop`` once past the end."""
        super().wait(seconds, stop)
        if self.current >= self.end:
            stop.set()
        return bool(stop.is_set())


@pytest.mark.parametrize(
    ("trigger", "start", "expected"),
    [
        pytest.param(
            {"type": "cron", "expression": "30 2 * * *"},
            "2026-03-06T12:00:17",
            ["2026-03-07T10:30", "2026-03-08T10:30", "2026-03-09T09:30"],  # 02:30 PST; the gap:
            id="cron-spring-forward",  # 03:30 PDT; 02:30 PDT
        ),
        pytest.param(
            {"type": "cron", "expression": "15 1 * * *"},
            "2026-10-30T12:00:17",
            ["2026-10-31T08:15", "2026-11-01T08:15", "2026-11-02T09:15"],  # 01:15 PDT; the first
            id="cron-fall-back",  # of the two 01:15s; 01:15 PST
        ),
        pytest.param(
            {"type": "recurrence", "frequency": "day", "schedule": {"hours": 2, "minutes": 30}},
            "2026-03-06T12:00:17",
            ["2026-03-07T10:30", "2026-03-08T10:30", "2026-03-09T09:30"],
            id="daily-spring-forward",
        ),
        pytest.param(
            {"type": "recurrence", "frequency": "day", "schedule": {"hours": 1, "minutes": 30}},
            "2026-10-30T12:00:17",
            ["2026-10-31T08:30", "2026-11-01T08:30", "2026-11-02T09:30"],
            id="daily-fall-back",
        ),
    ],
)
def test_runs_at_wall_clock_times_across_a_dst_change(
    tmp_path: Path, trigger: dict[str, Any], start: str, expected: list[str]
) -> None:
    """Served by the injected clock over three days around a Los Angeles DST change, a cron
    and a daily trigger run each due window once, at its instant (the gap's time when the gap
    ends, a repeated time at its first occurrence), waking for it between minute polls."""
    clock = _ClockUntil(utc(start), utc(start) + dt.timedelta(days=3, hours=1))
    runs: list[tuple[dt.datetime, dt.datetime]] = []

    def record(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        runs.append((at, clock.now()))
        return None

    monitor = load(
        {
            "name": "m",
            "trigger": {**trigger, "time_zone": "America/Los_Angeles"},
            "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
        }
    )
    scheduler = Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner(record))
    scheduler.serve()
    assert runs == [(utc(moment), utc(moment)) for moment in expected]


@pytest.mark.parametrize("start", ["2026-03-08T06:30:17", "2026-11-01T05:30:17"])
def test_an_hourly_cron_runs_every_hour_through_a_dst_change(tmp_path: Path, start: str) -> None:
    """``0 * * * *`` in Los Angeles runs once per real hour across each change: 02:00 does not
    exist on 2026-03-08, and 01:00 on 2026-11-01 runs twice (PDT, then PST): no hour unwatched,
    none twice."""
    monitor = load(
        {
            "name": "m",
            "trigger": {
                "type": "cron",
                "expression": "0 * * * *",
                "time_zone": "America/Los_Angeles",
            },
            "create_monitor": {"monitoring_target": {"endpoint_deployment_id": "e:d"}},
        }
    )
    clock = _ClockUntil(utc(start), utc(start) + dt.timedelta(hours=6))
    runs: list[tuple[dt.datetime, dt.datetime]] = []

    def record(index: int, name: str, at: dt.datetime) -> MonitorRun | None:
        runs.append((at, clock.now()))
        return None

    Scheduler([monitor], str(tmp_path), clock=clock, runner=RecordingRunner(record)).serve()
    hours = [utc(start[:13]) + dt.timedelta(hours=1 + i) for i in range(6)]
    assert runs == [(hour, hour) for hour in hours]


def test_a_restart_after_normal_running_warns_of_no_missed_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Windows that ran are not missed: a scheduler restarted after ten hours of normal running
    logs no catch_up warning and runs only the new window; after real downtime the warning names
    the windows it leaves out that did not run, settled as skipped so it is said once."""
    clock = FakeClock(utc("2026-03-01T00:30"))
    runner = RecordingRunner()
    monitor = definition(catch_up=3)
    running = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
    for _ in range(10):
        running.tick()
        clock.advance(HOUR)
    assert len(runner.calls) == 9  # 01:00 ... 09:00; restarted at 10:30
    with caplog.at_level(logging.WARNING, logger="modeltap.monitor.schedule"):
        restarted = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
        assert [r.due for r in restarted.tick()] == [utc("2026-03-01T10:00")]
    assert "missed windows" not in caplog.text
    clock.advance(5 * HOUR)  # down from 10:30 to 15:30: 11:00 ... 15:00 missed
    with caplog.at_level(logging.WARNING, logger="modeltap.monitor.schedule"):
        after_downtime = Scheduler([monitor], str(tmp_path), clock=clock, runner=runner)
        assert [r.due for r in after_downtime.tick()] == [
            utc(f"2026-03-01T{hour}:00") for hour in (13, 14, 15)
        ]
    assert (  # a long downtime is not enumerated from its start: 12:00 is listed, 11:00 not
        "monitor m: 1 missed window(s) older than catch_up=3 are not run "
        "(2026-03-01T12:00:00+00:00 ... 2026-03-01T12:00:00+00:00); "
        "windows due before 2026-03-01T11:30:00+00:00 were not looked at"
    ) in caplog.text
    assert _outcome(tmp_path, "m", utc("2026-03-01T12:00"))["status"] == "skipped"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modeltap.monitor.schedule"):
        assert Scheduler([monitor], str(tmp_path), clock=clock, runner=runner).tick() == []
    assert "missed" not in caplog.text  # told once: the skipped window is settled
