"""GilCourtesy: the writer naps once a turn at the GIL has lasted long enough."""

from __future__ import annotations

import time

import pytest

from modeltap.pipeline.courtesy import GilCourtesy


def test_no_nap_early_in_a_turn() -> None:
    """Right after a rest the turn has barely begun: pause() does not nap."""
    courtesy = GilCourtesy(turn=10.0)
    courtesy.rested()
    assert courtesy.pause() is False


def test_naps_once_the_turn_is_over_and_starts_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After ``turn`` seconds of work pause() sleeps ``nap`` seconds, then a new turn begins."""
    naps: list[float] = []
    monkeypatch.setattr(time, "sleep", naps.append)
    courtesy = GilCourtesy(turn=0.001, nap=0.0003)
    deadline = time.perf_counter() + 0.002
    while time.perf_counter() < deadline:  # a turn of work longer than 1 ms
        pass
    assert courtesy.pause() is True
    assert naps == [0.0003]
    assert courtesy.pause() is False
    assert naps == [0.0003]


def test_rested_restarts_the_turn() -> None:
    """Waiting for work counts as rest: the turn is measured from the last rest."""
    courtesy = GilCourtesy(turn=0.001, nap=0.0)
    deadline = time.perf_counter() + 0.002
    while time.perf_counter() < deadline:
        pass
    courtesy.rested()
    assert courtesy.pause() is False
