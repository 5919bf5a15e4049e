"""De-duplication when windows finish out of order: an older window's breach is neither
dropped nor sent twice, and never changes the current state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from modeltap.monitor.alerts import AlertState
from modeltap.monitor.schedule.store import ScheduleStore
from tests.monitor.schedule.fakes import utc

EVERY = dt.timedelta(hours=3)


def _decide(state: AlertState, hour: str, status: str) -> tuple[list[str], list[str]]:
    decision = state.decide(utc(f"2026-03-01T{hour}"), {"drift": status}, EVERY)
    return decision.breached, decision.recovered


def _state(tmp_path: Path) -> AlertState:
    return AlertState(ScheduleStore(str(tmp_path), "credit", folder="alerts"))


def test_an_older_breach_nobody_heard_of_is_notified_once(tmp_path: Path) -> None:
    """A window retried after later windows ran fine, breached: its breach is notified (not
    dropped), once, and the signal stays ok (no recovery notice follows)."""
    state = _state(tmp_path)
    assert _decide(state, "02:00", "ok") == ([], [])
    assert _decide(state, "03:00", "ok") == ([], [])
    assert _decide(state, "01:00", "breached") == (["drift"], [])  # the retry of 01:00
    assert _decide(state, "01:00", "breached") == ([], [])  # its late-data rerun
    assert _decide(_state(tmp_path), "04:00", "ok") == ([], [])  # no recovery: it was ok


def test_an_older_breach_inside_a_notified_episode_is_not_sent_again(tmp_path: Path) -> None:
    """A signal breached since 01:00 (notified then): a late 02:00 breach is covered by that
    notification; a late ok window sends no recovery and does not end the episode."""
    state = _state(tmp_path)
    assert _decide(state, "01:00", "breached") == (["drift"], [])
    assert _decide(state, "03:00", "breached") == ([], [])
    assert _decide(state, "02:00", "breached") == ([], [])
    assert _decide(state, "02:30", "ok") == ([], [])
    assert _decide(state, "04:00", "breached") == (["drift"], [])  # renotify after 3 hours
    assert _decide(state, "05:00", "ok") == ([], ["drift"])


def test_an_older_breach_after_a_recovery_is_a_new_episode(tmp_path: Path) -> None:
    """Breach at 01:00, recovery at 02:00, then a late 03:00 breach while 04:00 is ok: it is a
    breach of its own episode, notified even within renotify_after of 01:00."""
    state = _state(tmp_path)
    assert _decide(state, "01:00", "breached") == (["drift"], [])
    assert _decide(state, "02:00", "ok") == ([], ["drift"])
    assert _decide(state, "04:00", "ok") == ([], [])
    assert _decide(state, "03:00", "breached") == (["drift"], [])
    assert _decide(state, "03:00", "breached") == ([], [])
    assert _decide(state, "05:00", "breached") == (["drift"], [])  # 04:00 was ok: new episode


def test_a_later_notification_of_the_same_episode_covers_an_older_breach(tmp_path: Path) -> None:
    """01:00 fails and is retried while 02:00 breaches (notified): the late 01:00 breach
    belongs to the same episode and is not sent again."""
    state = _state(tmp_path)
    assert _decide(state, "02:00", "breached") == (["drift"], [])
    assert _decide(state, "01:00", "breached") == ([], [])


def test_state_written_before_notifications_were_kept_still_reads(tmp_path: Path) -> None:
    """A state file without the notifications list (an older modeltap) is read as it was."""
    store = ScheduleStore(str(tmp_path), "credit", folder="alerts")
    store.replace(
        "state.json",
        b'{"window": "2026-03-01T01:00:00Z", "signals": {"drift": '
        b'{"breached": true, "notified_at": "2026-03-01T01:00:00Z"}}}',
    )
    state = AlertState(store)
    assert _decide(state, "02:00", "breached") == ([], [])
    assert _decide(state, "03:00", "ok") == ([], ["drift"])
