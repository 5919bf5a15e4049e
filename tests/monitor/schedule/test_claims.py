"""Claims in the store: exactly one creator wins, across processes and on fsspec stores."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeltap.monitor.schedule.claims import Ledger
from modeltap.monitor.schedule.lease import MonitorLease
from modeltap.monitor.schedule.scheduler import Scheduler
from modeltap.monitor.schedule.store import ScheduleStore
from tests.store.servers import MotoS3

from .fakes import FakeClock, RecordingRunner, definition, utc

WINDOWS = 12
MONITORS = ("a", "b")


def _settled(store: str) -> bool:
    """Whether every due window of every monitor has its outcome."""
    first = utc("2026-03-01T00:01")
    dues = [first + dt.timedelta(minutes=i) for i in range(WINDOWS)]
    return all(
        Ledger(ScheduleStore(store, name)).state(due).settled for name in MONITORS for due in dues
    )


def _schedule(store: str, log: str, go: str) -> None:
    """One scheduler process over both monitors: wait for the start signal, then tick until
    every window is settled, logging each run as ``pid monitor window start end``."""
    clock = FakeClock(utc("2026-03-01T00:00"))
    monitors = [definition(name, frequency="minute", catch_up=WINDOWS) for name in MONITORS]
    started = Path(f"{log}.started")

    def record(index: int, name: str, at: dt.datetime) -> None:
        begin = time.monotonic_ns()
        with open(started, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + 30
        while index == 0 and time.monotonic() < deadline:  # hold the first run until the other
            if len(set(started.read_text().split())) == 2:  # scheduler runs one too: it cannot
                break  # be of this monitor, whose lease this one holds
            time.sleep(0.005)
        time.sleep(0.005)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {name} {at.isoformat()} {begin} {time.monotonic_ns()}\n")

    scheduler = Scheduler(monitors, store, clock=clock, runner=RecordingRunner(record))
    for entry in scheduler.entries:
        entry.ledger.since(clock.now())
    Path(f"{go}.{os.getpid()}").touch()  # ready
    while not Path(go).exists():
        time.sleep(0.001)
    clock.advance(dt.timedelta(minutes=WINDOWS))
    deadline = time.monotonic() + 90
    while not _settled(store) and time.monotonic() < deadline:
        scheduler.tick()
        time.sleep(0.002)


def test_two_scheduler_processes_never_run_one_window_twice(tmp_path: Path) -> None:
    """Two processes on one store, two monitors of 12 due windows each: every window runs
    exactly once, runs of one monitor never overlap (its lease), and while one scheduler holds
    a monitor the other runs the other monitor."""
    store, log, go = tmp_path / "store", tmp_path / "runs.log", tmp_path / "go"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_schedule, args=(str(store), str(log), str(go))) for _ in range(2)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    runs = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    for name in MONITORS:
        mine = sorted((int(b), int(e), w) for _, n, w, b, e in runs if n == name)
        windows = [w for _, _, w in mine]
        assert len(windows) == WINDOWS and len(set(windows)) == WINDOWS  # each exactly once
        for (_, end, _), (begin, _, _) in itertools.pairwise(mine):
            assert begin >= end  # one run of a monitor at a time, across both schedulers
    assert len({pid for pid, *_ in runs}) == 2  # both schedulers ran windows
    assert _settled(str(store))


def test_local_create_is_exclusive_and_never_half_written(tmp_path: Path) -> None:
    """The second create of a name fails and leaves the first content whole."""
    store = ScheduleStore(str(tmp_path), "m")
    assert store.exclusive
    assert store.create("a/b.json", b"first")
    assert not store.create("a/b.json", b"second")
    assert store.read("a/b.json") == b"first"
    assert store.list("a") == ["b.json"]
    assert store.read("a/missing.json") is None


def test_fsspec_store_claims_once(tmp_path: Path) -> None:
    """On an fsspec store (memory://) the ledger's claims are exclusive too."""
    store = ScheduleStore("memory://claims-test", "m")
    assert store.exclusive
    ledger = Ledger(store, owner="a")
    due = utc("2026-03-01T01:00")
    now = utc("2026-03-01T01:00")
    assert ledger.since(now) == now
    assert ledger.since(now + dt.timedelta(hours=1)) == now  # the first recorded time stays
    claim = ledger.claim(due, 1, now)
    assert claim is not None
    assert Ledger(store, owner="b").claim(due, 1, now) is None
    claim.finish("failed", now, "boom")
    state = Ledger(store, owner="b").state(due)
    assert state.last is not None
    assert (state.last.number, state.last.state, state.last.error) == (1, "failed", "boom")
    assert not state.settled


def test_scheduler_on_fsspec_store(tmp_path: Path) -> None:
    """The scheduler keeps its progress on an fsspec store: a restart runs nothing twice."""
    clock = FakeClock(utc("2026-03-01T00:59"))
    runner = RecordingRunner()
    url = "memory://scheduler-test"
    Scheduler([definition()], url, clock=clock, runner=runner).tick()
    clock.advance(dt.timedelta(hours=2))
    Scheduler([definition()], url, clock=clock, runner=runner).tick()
    Scheduler([definition()], url, clock=clock, runner=runner).tick()
    assert runner.calls == [("m", utc("2026-03-01T01:00")), ("m", utc("2026-03-01T02:00"))]


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on loopback for this module."""
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_s3_claims_are_conditional_writes(moto_s3: MotoS3) -> None:
    """On S3 a claim is a conditional write (If-None-Match): the second creator loses and the
    first content stays."""
    url = f"s3://{moto_s3.new_bucket()}/modeltap"
    store = ScheduleStore(url, "m", moto_s3.storage_options())
    assert store.exclusive
    assert store.create("windows/a/attempt-0001.json", b"first")
    assert not store.create("windows/a/attempt-0001.json", b"second")
    assert store.read("windows/a/attempt-0001.json") == b"first"
    assert store.list("windows") == ["a"]
    ledger = Ledger(store, owner="a")
    now = utc("2026-03-01T01:00")
    assert ledger.claim(now, 1, now) is not None
    assert Ledger(store, owner="b").claim(now, 1, now) is None


def test_s3_lease_one_holder_and_old_files_removed(moto_s3: MotoS3) -> None:
    """On S3 the monitor's lease is taken by one scheduler at a time, and the next holder
    removes the older lease files."""
    url = f"s3://{moto_s3.new_bucket()}/modeltap"
    store = ScheduleStore(url, "m", moto_s3.storage_options())
    now = utc("2026-03-01T01:00")
    stale = dt.timedelta(minutes=5)
    first = MonitorLease(store, "a", stale).acquire(now)
    assert first is not None
    assert MonitorLease(store, "b", stale).acquire(now) is None
    first.release(now)
    second = MonitorLease(store, "b", stale).acquire(now)
    assert second is not None and second.held() and not first.held()
    assert store.list("lease") == ["0000000002.json"]
