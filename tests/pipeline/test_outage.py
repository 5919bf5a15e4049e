"""Surviving a store outage: under steady collect() load the S3 server (moto, on loopback) goes
away and comes back; nothing collected is lost or duplicated. A process killed during an outage
leaves a backlog that the next process commits. A full spool applies its policy, counted."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector, SpoolFullError, StoreError
from modeltap.formats import parquet
from modeltap.formats.jsonl import decode_records
from modeltap.pipeline.commit import Committer
from modeltap.stats import StatsRecorder
from modeltap.store import Destination, open_destination
from tests.store.servers import MotoS3

OUTAGE_SECONDS = 30.0
LOAD_INTERVAL = 0.005  # one collect() every 5 ms: about 200 events a second
MAX_EVENTS = 20_000  # the load loop's bound


@pytest.fixture
def s3() -> Any:
    """A moto S3 server of this test only (the test stops and starts it)."""
    server = MotoS3()
    server.start()
    yield server
    server.stop()


def _committed_ids(url: str, options: dict[str, Any]) -> Counter[str]:
    """How many times each correlation id was committed (one count per event)."""
    destination = open_destination(url, options)
    ids: Counter[str] = Counter()
    for name in destination.list_files("ep/dep/model_inputs"):
        if not name.endswith((".jsonl", ".parquet")):
            continue  # catalog entries and the like
        blob = destination.read_bytes(name)
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(blob), columns=["correlationid", "row_index"])
            for cid, row in zip(
                table.column("correlationid").to_pylist(),
                table.column("row_index").to_pylist(),
                strict=True,
            ):
                if row == 0:
                    ids[cid] += 1
        else:
            for record in decode_records(blob):
                ids[record["correlationid"]] += 1
    return ids


def _configure(url: str, options: dict[str, Any], spool: Path, **extra: Any) -> None:
    """Point modeltap at the bucket with a spool folder of the test's own."""
    section: dict[str, Any] = {
        "destination": url,
        "storage_options": options,
        "spool_dir": str(spool),
        "fsync": "never",
        "segment_max_age": 0.5,
    }
    section.update(extra)
    modeltap.configure({"endpoint_name": "ep", "name": "dep", "data_collector": section})


def _wait_for_commits(files: int, timeout: float = 120.0) -> None:
    """Until the pipeline has committed ``files`` files in all."""
    deadline = time.monotonic() + timeout
    while modeltap.stats().total("files_committed") < files:
        assert time.monotonic() < deadline, f"fewer than {files} files committed"
        time.sleep(0.05)


@pytest.mark.slow
def test_outage_under_load_commits_every_event_exactly_once(s3: MotoS3, tmp_path: Path) -> None:
    """Every event collected before, during and after an outage is committed exactly once,
    the queue stays small (the writer keeps spooling) and nothing is dropped."""
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/root"
    _configure(url, s3.storage_options(), tmp_path / "spool")
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]})
    stop = threading.Event()
    sent: list[str] = []

    def load() -> None:
        """Steady collect() calls until told to stop (bounded)."""
        for i in range(MAX_EVENTS):
            if stop.is_set():
                return
            inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))
            sent.append(f"e{i}")
            time.sleep(LOAD_INTERVAL)

    worker = threading.Thread(target=load)
    worker.start()
    max_queue = 0
    max_segments = 0
    try:
        _wait_for_commits(1)  # the store takes the load before the outage
        rss_before = _rss_bytes()
        s3.stop()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            stats = modeltap.stats()
            max_queue = max(max_queue, stats.queue_depth)
            max_segments = max(max_segments, stats.spool_segments)
            time.sleep(0.25)
        during = modeltap.stats()
        rss_growth = _rss_bytes() - rss_before
        s3.start()
        _wait_for_commits(during.total("files_committed") + 1)  # and again after it
    finally:
        stop.set()
        worker.join(timeout=60)
        if not _listening(s3):
            s3.start()
    assert modeltap.flush(timeout=120), "the backlog did not drain after the store came back"
    after = modeltap.stats()

    assert during.commit_failures > 0, "the outage should have been noticed"
    assert max_segments > 1, "closed segments should have waited in the spool"
    assert max_queue < 2_000, "the queue must not pile up while the store is down"
    assert rss_growth < 100 * 1024 * 1024, "the backlog waits on disk, not in memory"
    assert after.dropped_total == 0
    assert after.spool_segments == 0 and after.spool_bytes == 0
    assert after.total("collected") == len(sent)
    ids = _committed_ids(url, s3.storage_options())
    assert sorted(ids) == sorted(sent), "every collected event is committed"
    assert {k: v for k, v in ids.items() if v != 1} == {}, "and only once"


def _rss_bytes() -> int:
    """This process's resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _listening(server: MotoS3) -> bool:
    """Whether the server's port accepts connections."""
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", server.port)) == 0


CHILD = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    import modeltap
    from modeltap import BasicCorrelationContext, Collector

    url, options, spool, fmt = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    modeltap.configure({"endpoint_name": "ep", "name": "dep", "data_collector": {
        "destination": url, "storage_options": options, "spool_dir": spool, "format": fmt,
        "segment_max_age": 3600}})
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": list(range(100)), "y": [0.5] * 100})
    for i in range(50):
        inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))
    modeltap.flush(timeout=1)  # closes the segments; the store is down, so they wait
    for i in range(50, 60):
        inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))  # stays in an open segment
    for _ in range(600):
        if modeltap.stats().total("events_written") == 60:
            break
        time.sleep(0.05)
    print("spooled", modeltap.stats().total("events_written"), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_sigkill_during_outage_then_restart_commits_backlog(
    s3: MotoS3, tmp_path: Path, fmt: str
) -> None:
    """A process killed while the store is down leaves its events in the spool; the next
    process commits all of them once the store is back."""
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/root"
    spool = tmp_path / "spool"
    s3.stop()
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, json.dumps(s3.storage_options()), str(spool), fmt],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline().strip()
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert line == "spooled 60"
    assert list(spool.rglob("*.part")), "the backlog should be in the spool"

    s3.start()
    _configure(url, s3.storage_options(), spool, format=fmt)
    modeltap.start()
    assert modeltap.flush(timeout=60)
    modeltap.shutdown(timeout=30)
    ids = _committed_ids(url, s3.storage_options())
    assert ids == Counter({f"e{i}": 1 for i in range(60)})
    assert not list(spool.rglob("*.part"))


@pytest.mark.parametrize("policy", ["reject_new", "drop_oldest"])
def test_full_spool_applies_its_policy_and_counts_drops(
    s3: MotoS3, tmp_path: Path, policy: str
) -> None:
    """With the store down and the spool full, the policy drops (counted, reported through
    on_error); everything not dropped is committed once the store is back."""
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/root"
    s3.stop()
    _configure(
        url,
        s3.storage_options(),
        tmp_path / "spool",
        spool_max_bytes=60_000,
        segment_max_bytes=8_000,
        spool_full_policy=policy,
    )
    errors: list[Exception] = []
    inputs = Collector(name="model_inputs", on_error=errors.append)
    rows = [{"i": i, "text": "x" * 900} for i in range(1)]
    total = 300
    for i in range(total):
        inputs.collect(rows, BasicCorrelationContext(id=f"e{i}"))
    assert not modeltap.flush(timeout=2), "nothing can be committed while the store is down"
    stats = modeltap.stats()
    dropped = stats.collections["model_inputs"].dropped.get("spool_full", 0)
    assert dropped > 0
    assert stats.spool_bytes <= 60_000
    assert any(isinstance(e, SpoolFullError) for e in errors)

    s3.start()
    assert modeltap.flush(timeout=60)
    ids = _committed_ids(url, s3.storage_options())
    assert all(count == 1 for count in ids.values())
    assert len(ids) + dropped == total, "every event is either committed or counted as dropped"
    numbers = sorted(int(k[1:]) for k in ids)
    if policy == "reject_new":
        assert numbers == list(range(len(ids))), "the oldest events were kept"
    else:
        assert numbers[-1] == total - 1, "the newest events were kept"


class FlakyDestination(Destination):
    """A destination that fails every publish while ``down`` (counting the attempts)."""

    def __init__(self, root: Path) -> None:
        self.url = "flaky://store"
        self.root = root
        self.down = True
        self.attempts = 0

    def publish(self, local_path: Path, relative_path: str) -> None:
        """Fail while down, else move the file under ``root``."""
        self.attempts += 1
        if self.down:
            raise StoreError("the store is down")
        target = self.root / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        local_path.replace(target)

    def read_bytes(self, relative_path: str) -> bytes:
        """Read a published file."""
        return (self.root / relative_path).read_bytes()

    def list_files(self, prefix: str = "") -> list[str]:
        """Published files."""
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*.jsonl"))


def _segments(tmp_path: Path, count: int) -> list[Path]:
    """``count`` small closed segments in a fake spool."""
    paths = []
    for i in range(count):
        path = tmp_path / "spool" / f"s{i}.jsonl.part"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"i": %d}\n' % i)
        paths.append(path)
    return paths


def test_an_outage_costs_one_attempt_per_backoff_not_one_per_segment(tmp_path: Path) -> None:
    """While the store is down only the head segment is tried; the rest wait for its backoff,
    and everything goes through once the store is back."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=60.0)
    store = FlakyDestination(tmp_path / "store")
    for i, path in enumerate(_segments(tmp_path, 20)):
        committer.add(path, f"c/s{i}.jsonl", store, "c", path.stat().st_size, 1)
    assert committer.commit_due() == 0
    assert store.attempts == 1 and stats.commit_failures == 1
    assert committer.commit_due() == 0, "the destination waits for its backoff"
    assert store.attempts == 1
    store.down = False
    assert committer.commit_due(ignore_backoff=True) == 20
    assert committer.backlog == [] and committer.backlog_bytes == 0
    assert len(store.list_files()) == 20
    assert stats.commit_retries == 1


def test_a_segment_that_cannot_be_converted_does_not_hold_up_the_others(
    tmp_path: Path,
) -> None:
    """A corrupt Parquet spool segment fails on its own; later segments are still committed."""
    stats = StatsRecorder()
    committer = Committer(stats)
    store = FlakyDestination(tmp_path / "store")
    store.down = False
    bad = tmp_path / "spool" / "bad.parquet.part"
    bad.parent.mkdir(parents=True)
    good_frame = parquet.encode_frame(pa.table({"i": [1]}))
    bad.write_bytes(good_frame[:-8] + b"garbage!")  # a whole frame whose body is not Arrow
    committer.add(bad, "c/bad.parquet", store, "c", bad.stat().st_size, 1, format="parquet")
    good = _segments(tmp_path, 3)
    for i, path in enumerate(good):
        committer.add(path, f"c/s{i}.jsonl", store, "c", path.stat().st_size, 1)
    assert committer.commit_due() == 3
    assert [p.relative_path for p in committer.backlog] == ["c/bad.parquet"]
    assert stats.commit_failures == 1
    assert bad.exists(), "the segment stays in the spool for a later attempt"


def test_committer_thread_drains_the_backlog_when_the_store_returns(tmp_path: Path) -> None:
    """With its own thread the committer retries by itself until the store takes everything."""
    stats = StatsRecorder()
    committer = Committer(stats, base_delay=0.05, max_delay=0.2)
    store = FlakyDestination(tmp_path / "store")
    committer.start()
    try:
        for i, path in enumerate(_segments(tmp_path, 5)):
            committer.add(path, f"c/s{i}.jsonl", store, "c", path.stat().st_size, 1)
        for _ in range(200):  # bounded: at most ~10 s
            if stats.commit_failures >= 2:
                break
            time.sleep(0.05)
        assert stats.commit_failures >= 2, "the committer should keep retrying"
        store.down = False
        for _ in range(200):
            if committer.is_done(committer.last_key):
                break
            time.sleep(0.05)
    finally:
        assert committer.stop(timeout=30)
    assert committer.is_done(committer.last_key)
    assert len(store.list_files()) == 5
