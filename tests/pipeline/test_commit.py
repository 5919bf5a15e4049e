"""The committer: publishes closed segments in order, retries a failing store with backoff."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modeltap.errors import StoreError
from modeltap.formats import parquet
from modeltap.pipeline.commit import CONVERTED_SUFFIX, Committer, PendingSegment
from modeltap.stats import StatsRecorder
from modeltap.store.destination import Destination


class FlakyDestination(Destination):
    """An in-memory destination that fails its first ``failures`` publishes."""

    def __init__(self, failures: int = 0, url: str = "memory://flaky") -> None:
        self.url = url
        self.failures = failures
        self.files: dict[str, bytes] = {}
        self.publishes: list[str] = []
        self.attempts = 0

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Store the file's bytes, or raise StoreError while failures remain."""
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"store down (publishing {relative_path})")
        self.files[relative_path] = local_path.read_bytes()
        self.publishes.append(relative_path)
        local_path.unlink()

    def read_bytes(self, relative_path: str) -> bytes:
        """A stored file."""
        return self.files[relative_path]

    def list_files(self, prefix: str = "") -> list[str]:
        """Stored names under ``prefix``."""
        return sorted(name for name in self.files if name.startswith(prefix))


def segment_file(tmp_path: Path, name: str, content: bytes = b'{"a":1}\n') -> Path:
    """A closed spool segment on disk."""
    path = tmp_path / f"{name}.part"
    path.write_bytes(content)
    return path


def add(committer: Committer, tmp_path: Path, name: str, dest: Destination) -> PendingSegment:
    """Queue one segment named ``name`` for ``dest``."""
    path = segment_file(tmp_path, name)
    return committer.add(path, f"c/{name}.jsonl", dest, "model_inputs", path.stat().st_size, 1)


def test_publishes_in_order(tmp_path: Path) -> None:
    """Segments are published oldest first, counted, and removed from the spool."""
    stats = StatsRecorder()
    committer = Committer(stats)
    dest = FlakyDestination()
    paths = [add(committer, tmp_path, f"s{i}", dest).path for i in range(3)]
    assert committer.backlog_bytes == 24
    assert committer.commit_due() == 3
    assert dest.publishes == ["c/s0.jsonl", "c/s1.jsonl", "c/s2.jsonl"]
    assert dest.read_bytes("c/s1.jsonl") == b'{"a":1}\n'
    assert not any(p.exists() for p in paths)
    assert committer.backlog == [] and committer.backlog_bytes == 0
    assert committer.is_done(committer.last_key)
    assert stats.snapshot().collections["model_inputs"].files_committed == 3
    assert (stats.commit_failures, stats.commit_retries) == (0, 0)


def test_failing_store_is_retried_and_published_once(tmp_path: Path) -> None:
    """A store failing twice is retried; failures and retries are counted; one publish."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=0.0)
    dest = FlakyDestination(failures=2)
    pending = add(committer, tmp_path, "s0", dest)
    assert committer.commit_due() == 0
    assert committer.commit_due() == 0
    assert pending.attempts == 2 and pending.path.exists()
    assert not committer.is_done(pending.key)
    assert stats.last_error is not None and "store down" in stats.last_error
    assert committer.commit_due() == 1
    assert dest.publishes == ["c/s0.jsonl"]
    assert (stats.commit_failures, stats.commit_retries) == (2, 2)
    assert committer.commit_due() == 0
    assert dest.attempts == 3
    assert stats.snapshot().collections["model_inputs"].files_committed == 1
    assert committer.is_done(pending.key)


def test_backoff_delays_the_next_attempt(tmp_path: Path) -> None:
    """After a failure the segment is not tried again before its backoff has passed."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=60.0)
    dest = FlakyDestination(failures=1)
    pending = add(committer, tmp_path, "s0", dest)
    committer.commit_due()
    first_retry = pending.next_attempt
    assert committer.commit_due() == 0
    assert dest.attempts == 1
    assert stats.commit_failures == 1
    assert committer.oldest_age() >= 0.0
    assert committer.commit_due(ignore_backoff=True) == 1
    assert dest.publishes == ["c/s0.jsonl"]
    assert first_retry > 0


def test_backoff_grows_exponentially(tmp_path: Path) -> None:
    """Each failure doubles the delay (within the jitter), up to max_delay."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=100.0, max_delay=350.0)
    dest = FlakyDestination(failures=10)
    pending = add(committer, tmp_path, "s0", dest)
    delays = []
    for _ in range(4):
        committer.commit_due(ignore_backoff=True)
        delays.append(pending.next_attempt)
    now = time.monotonic()
    waits = [d - now for d in delays]
    assert 40 < waits[0] <= 150
    assert 90 < waits[1] <= 300
    assert 160 < waits[2] <= 525  # 400 capped at 350, times the jitter
    assert waits[3] <= 525


def test_a_failure_holds_back_the_rest_of_that_destination(tmp_path: Path) -> None:
    """When a destination fails, its later segments wait; other destinations go on."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=60.0)
    down = FlakyDestination(failures=1, url="memory://down")
    up = FlakyDestination(url="memory://up")
    add(committer, tmp_path, "d0", down)
    add(committer, tmp_path, "d1", down)
    add(committer, tmp_path, "u0", up)
    assert committer.commit_due() == 1
    assert down.attempts == 1
    assert up.publishes == ["c/u0.jsonl"]
    assert [p.relative_path for p in committer.backlog] == ["c/d0.jsonl", "c/d1.jsonl"]
    assert committer.commit_due(ignore_backoff=True) == 2
    assert down.publishes == ["c/d0.jsonl", "c/d1.jsonl"]


def test_empty_segment_is_deleted_not_published(tmp_path: Path) -> None:
    """A segment with no bytes is removed without a publish or a committed count."""
    stats = StatsRecorder()
    committer = Committer(stats)
    dest = FlakyDestination()
    path = segment_file(tmp_path, "empty", b"")
    committer.add(path, "c/empty.jsonl", dest, "model_inputs", 0, 0)
    assert committer.commit_due() == 1
    assert dest.attempts == 0 and not path.exists()
    assert stats.snapshot().collections == {}


def test_on_committed_is_called(tmp_path: Path) -> None:
    """on_committed receives every published segment."""
    done: list[str] = []
    committer = Committer(StatsRecorder(), on_committed=lambda p: done.append(p.relative_path))
    dest = FlakyDestination()
    add(committer, tmp_path, "s0", dest)
    add(committer, tmp_path, "s1", dest)
    committer.commit_due()
    assert done == ["c/s0.jsonl", "c/s1.jsonl"]


def test_drop_oldest(tmp_path: Path) -> None:
    """drop_oldest deletes the oldest waiting segment's file and returns it."""
    committer = Committer(StatsRecorder())
    dest = FlakyDestination()
    first = add(committer, tmp_path, "s0", dest)
    add(committer, tmp_path, "s1", dest)
    dropped = committer.drop_oldest()
    assert dropped is first
    assert not first.path.exists()
    assert [p.relative_path for p in committer.backlog] == ["c/s1.jsonl"]
    assert committer.backlog_bytes == 8
    assert committer.commit_due() == 1
    assert dest.publishes == ["c/s1.jsonl"]
    assert committer.drop_oldest() is None


def test_committer_thread_publishes_after_recovery(tmp_path: Path) -> None:
    """On its own thread the committer retries a failing store until the file is published."""
    stats = StatsRecorder()
    published = threading.Event()
    committer = Committer(stats, base_delay=0.001, on_committed=lambda p: published.set())
    dest = FlakyDestination(failures=3)
    committer.start()
    try:
        add(committer, tmp_path, "s0", dest)
        assert published.wait(30), "the committer thread did not publish within 30 s"
    finally:
        assert committer.stop(timeout=30)
    assert dest.publishes == ["c/s0.jsonl"]
    assert (stats.commit_failures, stats.commit_retries) == (3, 3)
    assert committer.backlog == []


def test_stop_tries_waiting_segments_once_more(tmp_path: Path) -> None:
    """stop() makes one last attempt at the backlog, ignoring the backoff."""
    committer = Committer(StatsRecorder(), base_delay=600.0)
    dest = FlakyDestination(failures=1)
    add(committer, tmp_path, "s0", dest)
    assert committer.commit_due() == 0
    assert committer.commit_due() == 0  # waiting for its backoff
    assert committer.stop(timeout=30)
    assert dest.publishes == ["c/s0.jsonl"]
    assert committer.backlog == []


def test_stop_leaves_segments_of_a_store_still_down(tmp_path: Path) -> None:
    """If the store is still down at stop(), the segments stay in the spool for the next run."""
    committer = Committer(StatsRecorder(), base_delay=600.0)
    dest = FlakyDestination(failures=5)
    first = add(committer, tmp_path, "s0", dest)
    add(committer, tmp_path, "s1", dest)
    assert committer.stop(timeout=30)
    assert dest.attempts == 1  # it stops at the first failure
    assert first.path.exists()
    assert len(committer.backlog) == 2


class GatedDestination(FlakyDestination):
    """A destination whose first publish waits until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Wait at the gate on the first call, then store the file."""
        if not self.publishes:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        super().publish(local_path, relative_path)


def add_parquet(committer: Committer, tmp_path: Path, name: str, dest: Destination,
                rows: int = 1_000) -> PendingSegment:
    """Queue one Parquet spool segment (one frame of ``rows`` rows) named ``name``."""
    path = tmp_path / f"{name}.part"
    table = pa.table({"x": list(range(rows)), "name": [name] * rows})
    path.write_bytes(parquet.encode_frame(table))
    return committer.add(path, f"c/{name}.parquet", dest, "model_inputs", path.stat().st_size, 1,
                         format="parquet")


def test_the_next_parquet_segment_is_converted_while_one_is_published(tmp_path: Path) -> None:
    """A Parquet segment added while the committer publishes another is converted meanwhile,
    on the converter thread, and then published once with its rows intact."""
    dest = GatedDestination()
    committer = Committer(StatsRecorder())
    committer.start()
    try:
        add_parquet(committer, tmp_path, "s0", dest)
        assert dest.entered.wait(30), "the committer did not start publishing s0"
        second = add_parquet(committer, tmp_path, "s1", dest)
        converted = second.path.with_name(second.path.name + CONVERTED_SUFFIX)
        deadline = time.monotonic() + 30
        while not converted.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert converted.exists(), "s1 was not converted while s0 was being published"
        assert dest.publishes == []
        dest.gate.set()
    finally:
        dest.gate.set()
        assert committer.stop(timeout=30)
    assert dest.publishes == ["c/s0.parquet", "c/s1.parquet"]
    table = pq.read_table(io.BytesIO(dest.files["c/s1.parquet"]))
    assert table.column("x").to_pylist() == list(range(1_000))
    assert set(table.column("name").to_pylist()) == {"s1"}
    assert committer.backlog == []
    assert not list(tmp_path.iterdir())


def test_drop_oldest_spares_segments_being_published_or_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """drop_oldest never deletes the segment being committed nor the one the converter works
    on ahead; it takes the oldest other one."""
    started = threading.Semaphore(0)
    release = threading.Event()
    convert = parquet.spool_to_parquet

    def slow_convert(source: Path, target: Path, *, durable: bool = False, **policy: Any) -> int:
        started.release()
        assert release.wait(30), "the test never released the conversion"
        return convert(source, target, durable=durable, **policy)

    monkeypatch.setattr(parquet, "spool_to_parquet", slow_convert)
    dest = FlakyDestination()
    committer = Committer(StatsRecorder())
    segments = [add_parquet(committer, tmp_path, f"s{i}", dest) for i in range(3)]
    worker = threading.Thread(target=committer.commit_due)
    worker.start()
    try:
        for _ in range(2):  # s0 on the committer, s1 on the converter
            assert started.acquire(timeout=30), "two conversions did not start"
        assert committer.drop_oldest() is segments[2]
        assert committer.drop_oldest() is None
        assert segments[0].path.exists() and segments[1].path.exists()
    finally:
        release.set()
        worker.join(30)
    assert dest.publishes == ["c/s0.parquet", "c/s1.parquet"]
    assert committer.backlog == []
