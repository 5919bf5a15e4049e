"""ack: spool: a request is answered only once its records are in the spool (group commit), so
a SIGKILL of the serving process loses nothing it acknowledged."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import modeltap
from modeltap.config import ack_mode, load_settings
from modeltap.errors import ConfigError
from modeltap.formats import get_format
from modeltap.pipeline import writer
from modeltap.pipeline.ack import SpoolBarrier
from modeltap.pipeline.runtime import get_runtime
from tests.conftest import ConfigureTap
from tests.pipeline.writer_process.test_parent import _ends_within
from tests.server.conftest import SCRIPTS, launch, write_deployment
from tests.server.test_process import _writer_children


def test_the_barrier_releases_waiters_in_order_of_their_number() -> None:
    """A future is done once the writer handled every event numbered below its own, not
    before; one already handled is done at once; release_all frees the rest."""
    barrier = SpoolBarrier()
    first, second, third = barrier.wait(3), barrier.wait(5), barrier.wait(9)
    barrier.resolve(4)
    assert first.done() and not second.done()
    barrier.resolve(2)  # never goes back
    assert barrier.handled == 4
    barrier.resolve(5)
    assert second.done() and not third.done()
    assert barrier.wait(1).done()
    barrier.release_all()
    assert third.done()


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_spooled_is_done_once_the_records_are_in_the_spool(
    configure_tap: ConfigureTap, writer: str
) -> None:
    """With ack: spool, spooled() of a collect() is done once its record is appended (before
    any commit: segments stay open for an hour here); with ack: queue there is nothing to wait
    for."""
    configure_tap(ack="spool", writer=writer, segment_max_age=3600)
    collector = modeltap.Collector(name="model_inputs")
    collector.collect([{"x": 1}])
    acked = get_runtime().spooled()
    assert acked is not None
    acked.result(timeout=60)
    stats = modeltap.stats()
    assert stats.total("events_written") == 1
    assert stats.total("files_committed") == 0
    configure_tap()
    collector.collect([{"x": 2}])
    assert get_runtime().spooled() is None


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_sigkill_of_the_server_loses_nothing_it_acknowledged(
    tmp_path: Path, writer: str
) -> None:
    """Concurrent requests to ``modeltap serve --ack spool``, the server SIGKILLed in the
    middle: after the next start commits its spool, every acknowledged request's record is
    stored exactly once (and no other request's more than once)."""
    folder = tmp_path / "server"
    deployment = write_deployment(
        folder,
        endpoint_name="ep",
        name="blue",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={
            "collections": {"model_inputs": {"enabled": "True"}},
            "writer": writer,
        },
    )
    server = launch(folder, "serve", "-f", str(deployment), "--ack", "spool")
    acknowledged: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            for number in range(10_000):
                request_id = f"w{worker}-{number}"
                try:
                    answer = http.post(
                        "/score", json={"rows": [{"x": number}]},
                        headers={"x-request-id": request_id},
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append(request_id)
                        if len(acknowledged) >= 300:
                            enough.set()

    try:
        server.wait_started()
        with ThreadPoolExecutor(8) as pool:
            for worker in range(8):
                pool.submit(client, worker)
            assert enough.wait(120), server.log()
            writers = _writer_children(server.process.pid)
            assert len(writers) == (1 if writer == "process" else 0)
            server.process.send_signal(signal.SIGKILL)
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(60)
    for pid in writers:  # the orphaned writer process commits what it has, then exits
        assert _ends_within(pid, 120)
    modeltap.configure({"data_collector": {"destination": str(server.data_dir),
                                           "fsync": "never"}})
    assert modeltap.start()  # commits what a thread writer left in the spool
    assert modeltap.flush(timeout=120)
    stored = Counter(record["correlationid"] for record in server.records("model_inputs"))
    assert len(acknowledged) >= 300
    assert [rid for rid in acknowledged if stored[rid] != 1] == []
    assert max(stored.values()) == 1


def test_ack_comes_from_the_key_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``ack`` key wins; unset, MODELTAP_ACK decides (what ``--ack`` sets); the default is
    ``queue``; a bad value says what to use."""
    monkeypatch.delenv("MODELTAP_ACK", raising=False)
    assert ack_mode(load_settings({})) == "queue"
    monkeypatch.setenv("MODELTAP_ACK", "spool")
    assert ack_mode(load_settings({})) == "spool"
    assert ack_mode(load_settings({"data_collector": {"ack": "queue"}})) == "queue"
    monkeypatch.setenv("MODELTAP_ACK", "disk")
    with pytest.raises(ConfigError, match="MODELTAP_ACK is 'disk': use 'queue'"):
        ack_mode(load_settings({}))
    with pytest.raises(ConfigError, match="ack"):
        load_settings({"data_collector": {"ack": "disk"}})


def test_concurrent_requests_share_one_write_and_one_fsync(
    configure_tap: ConfigureTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 50 requests that queue while the writer is busy wait together (none is
    answered early) and are released by one append and one fsync of their segment."""
    calls: list[str] = []
    append, sync = writer.Segment.append, writer.Segment.sync

    def counted_append(segment: writer.Segment, *args: Any, **kwargs: Any) -> None:
        calls.append("append")
        append(segment, *args, **kwargs)

    def counted_sync(segment: writer.Segment) -> None:
        calls.append("fsync")
        sync(segment)

    busy, release = threading.Event(), threading.Event()
    lines_format = get_format("jsonl")
    encode = lines_format.encode_lines

    def held(events: Any, envelope: Any) -> Any:
        if not busy.is_set():  # the writer's first turn waits until the others queued
            busy.set()
            assert release.wait(30)
        return encode(events, envelope)

    monkeypatch.setattr(writer.Segment, "append", counted_append)
    monkeypatch.setattr(writer.Segment, "sync", counted_sync)
    monkeypatch.setattr(lines_format, "encode_lines", held)
    configure_tap(ack="spool", fsync="commit", writer="thread", segment_max_age=3600)
    collector = modeltap.Collector(name="model_inputs")
    collector.collect([{"x": -1}])
    first = get_runtime().spooled()
    assert first is not None and busy.wait(30)
    waiting = []
    for number in range(50):
        collector.collect([{"x": number}])
        acked = get_runtime().spooled()
        assert acked is not None
        waiting.append(acked)
    assert not any(future.done() for future in waiting)
    release.set()
    first.result(timeout=30)
    for future in waiting:
        future.result(timeout=30)
    assert calls == ["append", "fsync", "append", "fsync"]
    assert modeltap.stats().total("events_written") == 51
