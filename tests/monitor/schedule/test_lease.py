"""The per-monitor lease: one holder at a time, renewed while held, taken over when stale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from modeltap.monitor.schedule.lease import LeaseHold, MonitorLease
from modeltap.monitor.schedule.scheduler import Scheduler
from modeltap.monitor.schedule.store import ScheduleStore

from .fakes import FakeClock, RecordingRunner, definition, utc

STALE = dt.timedelta(minutes=5)
NOW = utc("2026-03-01T01:00")


@pytest.mark.parametrize("where", ["local", "memory"])
def test_one_holder_at_a_time_until_released(tmp_path: Path, where: str) -> None:
    """While one scheduler holds the lease another cannot take it; once released it can, and
    the older lease files are removed."""
    destination = str(tmp_path) if where == "local" else "memory://lease-test-release"
    store = ScheduleStore(destination, "m")
    first, second = MonitorLease(store, "a", STALE), MonitorLease(store, "b", STALE)
    hold = first.acquire(NOW)
    assert hold is not None and hold.held()
    assert second.acquire(NOW + dt.timedelta(minutes=1)) is None
    hold.release(NOW + dt.timedelta(minutes=2))
    assert not hold.held()
    assert first.holder() == {
        "owner": "a",
        "state": "released",
        "acquired_at": "2026-03-01T01:00:00Z",
        "renewed_at": "2026-03-01T01:02:00Z",
        "released_at": "2026-03-01T01:02:00Z",
    }
    taken = second.acquire(NOW + dt.timedelta(minutes=2))
    assert taken is not None and taken.number == 2
    assert store.list("lease") == ["0000000002.json"]


def test_a_renewed_lease_stays_and_a_stale_one_is_taken_over(tmp_path: Path) -> None:
    """Renewal keeps the lease past the stale limit; one not renewed for it is taken over, and
    its old holder learns it lost it (renew is refused and writes nothing)."""
    store = ScheduleStore(str(tmp_path), "m")
    first, second = MonitorLease(store, "a", STALE), MonitorLease(store, "b", STALE)
    hold = first.acquire(NOW)
    assert hold is not None
    assert hold.renew(NOW + dt.timedelta(minutes=4))
    assert second.acquire(NOW + dt.timedelta(minutes=8)) is None  # renewed 4 minutes ago
    taken = second.acquire(NOW + dt.timedelta(minutes=9))
    assert taken is not None and taken.held()
    assert not hold.held()
    assert not hold.renew(NOW + dt.timedelta(minutes=10))
    hold.release(NOW + dt.timedelta(minutes=10))  # not its lease any more: left alone
    assert first.holder() is not None and first.holder() == taken.body


class _PausingStore(ScheduleStore):
    """A store whose next create first lets ``before`` run (another scheduler's turn)."""

    before: Callable[[], None] | None = None

    def create(self, relative: str, data: bytes) -> bool:
        """Run ``before`` once, then create."""
        hook, self.before = self.before, None
        if hook is not None:
            hook()
        return super().create(relative, data)


def test_a_late_creator_of_a_removed_number_gives_it_up(tmp_path: Path) -> None:
    """A scheduler that saw lease 1 released but creates number 2 only after two others took
    numbers 2 and 3 (and 3's holder removed the older files) finds 3 and gives its 2 up."""
    store = ScheduleStore(str(tmp_path), "m")
    first = MonitorLease(store, "a", STALE).acquire(NOW)
    assert first is not None
    first.release(NOW)
    held: list[LeaseHold] = []

    def others() -> None:
        second = MonitorLease(store, "b", STALE).acquire(NOW)
        assert second is not None and second.number == 2
        second.release(NOW)
        third = MonitorLease(store, "c", STALE).acquire(NOW)
        assert third is not None and third.number == 3
        held.append(third)

    slow = _PausingStore(str(tmp_path), "m")
    slow.before = others
    assert MonitorLease(slow, "d", STALE).acquire(NOW) is None
    assert held[0].held()
    assert store.list("lease") == ["0000000003.json"]


def test_a_scheduler_leaves_a_leased_monitor_and_runs_the_others(tmp_path: Path) -> None:
    """While another scheduler holds monitor a's lease, this one runs only b; when the lease
    goes stale (its holder died), a runs here."""
    clock = FakeClock(utc("2026-03-01T00:59"))
    runner = RecordingRunner()
    monitors = [definition("a"), definition("b")]
    scheduler = Scheduler(monitors, str(tmp_path), clock=clock, runner=runner, owner="here")
    scheduler.tick()
    clock.advance(dt.timedelta(minutes=1))
    dead = MonitorLease(ScheduleStore(str(tmp_path), "a"), "elsewhere", STALE)
    assert dead.acquire(clock.now()) is not None  # and its scheduler dies holding it
    assert [r.monitor for r in scheduler.tick()] == ["b"]
    clock.advance(STALE)
    assert [(r.monitor, r.due) for r in scheduler.tick()] == [("a", utc("2026-03-01T01:00"))]
    holder = dead.holder()
    assert holder is not None and (holder["owner"], holder["state"]) == ("here", "released")
