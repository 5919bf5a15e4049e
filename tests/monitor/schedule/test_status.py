"""``modeltap monitor status``: next due time, last window and who holds a monitor's lease."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from modeltap.monitor.schedule.lease import MonitorLease
from modeltap.monitor.schedule.status import schedule_status
from modeltap.monitor.schedule.store import ScheduleStore

from .fakes import definition, utc

NOW = utc("2026-03-01T01:20")


def test_status_names_the_scheduler_holding_the_lease(tmp_path: Path) -> None:
    """A held lease shows its owner and last renewal; released, nobody holds the monitor."""
    monitor = definition("m")
    lease = MonitorLease(ScheduleStore(str(tmp_path), "m"), "host-a:41", dt.timedelta(minutes=5))
    assert schedule_status([monitor], str(tmp_path), now=NOW)[0]["held_by"] is None
    hold = lease.acquire(NOW)
    assert hold is not None
    (row,) = schedule_status([monitor], str(tmp_path), now=NOW)
    assert row["held_by"] == "host-a:41 (renewed 2026-03-01T01:20:00Z)"
    assert row["next_due"] is not None
    hold.release(NOW + dt.timedelta(minutes=1))
    assert schedule_status([monitor], str(tmp_path), now=NOW)[0]["held_by"] is None
