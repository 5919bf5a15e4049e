"""The writer in a process of its own: same records, counters combined, crashes lose nothing."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.config import load_settings, writer_mode
from modeltap.errors import ConfigError, ModelTapError, WriterCrashedError, WriterLostError
from modeltap.event import Event
from modeltap.pipeline.control import FlushRequest, StopRequest
from modeltap.pipeline.queue import EventQueue
from modeltap.pipeline.runtime import get_runtime
from modeltap.pipeline.writer_process import parent as writer_process
from modeltap.pipeline.writer_process.parent import WriterProcess
from modeltap.server.metrics import ServerMetrics
from modeltap.server.summary import shutdown_lines
from modeltap.snapshot import take_snapshot
from modeltap.stats import StatsRecorder
from tests.conftest import ConfigureTap, ReadRecords

pytestmark = pytest.mark.usefixtures("configure_tap")


def _writer() -> WriterProcess:
    """The running pipeline's writer process."""
    writer = get_runtime().writer
    assert isinstance(writer, WriterProcess)
    return writer


def _correlation_ids(data_dir: Path, collection: str) -> Counter[str]:
    """How often each correlation id was committed in ``collection``."""
    found: Counter[str] = Counter()
    for path in (data_dir / "ep" / "dep" / collection).rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            found[orjson.loads(line)["correlationid"]] += 1
    return found


def _every_kind() -> list[Any]:
    """One value of each accepted data kind, small and large."""
    return [
        pd.DataFrame({"a": [1, 2], "s": ["x", "y"], "f": [0.5, None]}),
        pd.DataFrame({"a": range(300), "s": [f"v{i}" for i in range(300)]}),
        pd.DataFrame({"a": range(20), "s": pd.array([f"w{i}" for i in range(20)], "string")}),
        pa.table({"x": [1, 2], "t": ["p", "q"]}),
        pl.DataFrame({"x": [3, 4]}),
        [{"r": 1, "nested": {"k": [1, 2]}}],
        {"k": [1.5, 2.5]},
    ]


@pytest.mark.parametrize("string_storage", ["pyarrow", "python"])
def test_process_writer_writes_the_same_records_as_the_thread_writer(
    configure_tap: ConfigureTap, read_records: ReadRecords, string_storage: str
) -> None:
    """Every data kind lands with the same rows and envelope whichever writer encodes it, with
    pandas' string columns in either storage."""
    results: dict[str, list[dict[str, Any]]] = {}
    for mode in ("thread", "process"):
        configure_tap(writer=mode)
        collector = Collector(name=f"kinds_{mode}")
        with pd.option_context("mode.string_storage", string_storage):
            kinds = _every_kind()
        for number, data in enumerate(kinds):
            collector.collect(data, BasicCorrelationContext(id=f"c{number}"))
        results[mode] = read_records(f"kinds_{mode}")
        if mode == "process":
            assert _writer().pid not in (None, os.getpid())
    assert len(results["process"]) == len(_every_kind())
    for thread, process in zip(results["thread"], results["process"], strict=True):
        for key in ("correlationid", "data", "collectdatatype", "contentrange", "source"):
            assert process[key] == thread[key], key
        assert process["type"] == thread["type"].replace("thread", "process")


def test_stats_combine_the_request_side_and_the_writer_process(
    configure_tap: ConfigureTap,
) -> None:
    """collected and sampled out are counted here, written and committed in the writer process;
    after flush() stats() shows both."""
    configure_tap(writer="process", collections={"kept": {"enabled": True}})
    kept = Collector(name="kept")
    off = Collector(name="off", on_error=lambda error: None)
    frame = pd.DataFrame({"x": [1, 2, 3]})
    for number in range(25):
        kept.collect(frame, BasicCorrelationContext(id=f"k{number}"))
        off.collect(frame)
    assert modeltap.flush(timeout=60)
    stats = modeltap.stats()
    assert stats.collections["kept"].collected == 25
    assert stats.collections["kept"].events_written == 25
    assert stats.collections["kept"].rows_written == 75
    assert stats.collections["kept"].files_committed >= 1
    assert stats.collections["off"].dropped == {"disabled": 25}
    assert stats.queue_depth == 0


def test_the_forwarder_sends_frames_of_at_most_64_events_and_about_1_mib(
    configure_tap: ConfigureTap, monkeypatch: pytest.MonkeyPatch, read_records: ReadRecords
) -> None:
    """The forwarder holds the caller's GIL while it pickles a frame, so a backlog goes out in
    frames of at most 64 events, and a large event shares a frame with nothing that would take
    it past about 1 MiB; every event still lands once."""
    frames: list[list[int]] = []  # each events frame's approx_bytes per event
    make_frame = writer_process.wire.frame

    def recording(message: Any) -> bytes:
        if message[0] == "events":
            frames.append([event[0] for event in message[2]])
        return make_frame(message)

    monkeypatch.setattr(writer_process.wire, "frame", recording)
    configure_tap(writer="process")
    assert modeltap.start(timeout=60)
    collector = Collector(name="model_inputs")
    small = pd.DataFrame({"x": [1, 2, 3]})
    large = pd.DataFrame({"x": range(25_600), "y": 0.5})  # about 600 KiB by approx_bytes
    for number in range(300):
        collector.collect(small, BasicCorrelationContext(id=f"small-{number}"))
        if number % 100 == 0:
            collector.collect(large, BasicCorrelationContext(id=f"large-{number}"))
    assert modeltap.flush(timeout=120)
    assert sum(len(frame) for frame in frames) == 303
    assert max(len(frame) for frame in frames) == 64  # a backlog is batched, 64 at most
    for frame in frames:
        if len(frame) > 1:
            assert sum(frame) <= 1 << 20, frame
    assert sum(1 for frame in frames for size in frame if size > 500_000) == 3
    assert len(read_records("model_inputs")) == 303


def test_a_killed_writer_process_is_replaced_and_nothing_is_lost(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """Events sent to a writer process that is killed before it handled them are written by
    its successor (those it handled are recovered from its spool): every one is committed."""
    configure_tap(writer="process")
    assert modeltap.start(timeout=60)
    collector = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]})
    for number in range(300):
        collector.collect(frame, BasicCorrelationContext(id=f"before-{number}"))
    first = _writer().pid
    assert first is not None
    os.kill(first, signal.SIGSTOP)  # it reads no more: what is sent now waits in its pipe
    for number in range(300):
        collector.collect(frame, BasicCorrelationContext(id=f"during-{number}"))
    deadline = time.monotonic() + 30
    while get_runtime().queue.depth and time.monotonic() < deadline:
        time.sleep(0.01)  # until the forwarder has sent them all
    os.kill(first, signal.SIGKILL)
    for number in range(300):
        collector.collect(frame, BasicCorrelationContext(id=f"after-{number}"))
    assert modeltap.flush(timeout=120)
    assert _writer().pid != first
    committed = _correlation_ids(data_dir, "model_inputs")
    expected = {f"{kind}-{n}" for kind in ("before", "during", "after") for n in range(300)}
    assert expected - set(committed) == set()
    assert modeltap.stats().dropped_total == 0


class _Poison:
    """A snapshot whose unpickling ends the process that unpickles it."""

    approx_bytes = 64
    rows = 1

    def __reduce__(self) -> tuple[Any, ...]:
        return os._exit, (3,)


def test_a_frame_the_writer_process_keeps_dying_on_is_dropped_and_counted(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """After three crashes on the same frame its events are dropped as ``writer_crashed`` and
    reported to on_error; the events after it are written."""
    configure_tap(writer="process")
    errors: list[ModelTapError] = []
    collector = Collector(name="model_inputs", on_error=errors.append)
    frame = pd.DataFrame({"x": [1]})
    collector.collect(frame, BasicCorrelationContext(id="first"))
    assert modeltap.flush(timeout=60)
    poison = Event("model_inputs", time.time_ns(), "poison", "poison", "x", _Poison(),  # type: ignore[arg-type]
                   "ep/dep/model_inputs")
    get_runtime().queue.put(poison)
    assert modeltap.flush(timeout=120)
    collector.collect(frame, BasicCorrelationContext(id="after"))
    assert modeltap.flush(timeout=60)
    assert set(_correlation_ids(data_dir, "model_inputs")) == {"first", "after"}
    assert modeltap.stats().collections["model_inputs"].dropped == {"writer_crashed": 1}
    assert [type(error) for error in errors] == [WriterCrashedError]


def test_the_writer_process_commits_what_it_has_when_its_parent_dies(tmp_path: Path) -> None:
    """A parent killed outright: its writer process sees the pipe close, commits every event it
    was sent, and exits."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        import pandas as pd
        import modeltap
        from modeltap import BasicCorrelationContext, Collector
        from modeltap.pipeline.runtime import get_runtime
        modeltap.configure({{"data_collector": {{"destination": {str(tmp_path)!r},
                                                 "writer": "process", "fsync": "never"}}}})
        collector = Collector(name="model_inputs")
        for number in range(200):
            collector.collect(pd.DataFrame({{"x": [number]}}),
                              BasicCorrelationContext(id=f"e{{number}}"))
        while modeltap.stats().total("events_written") < 200:
            time.sleep(0.05)
        print(get_runtime().writer.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    writer_pid = int(done.stdout.strip())
    assert _ends_within(writer_pid, 60), "the writer process outlived its parent by a minute"
    ids: Counter[str] = Counter()
    for path in (tmp_path / "local" / "default" / "model_inputs").rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            ids[orjson.loads(line)["correlationid"]] += 1
    assert ids == Counter({f"e{n}": 1 for n in range(200)})


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` ends within ``seconds`` (woken by its exit through a pidfd, not
    by polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether a process runs (zombies of other parents count as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_writer_process_starts_with_the_first_event_or_start(
    configure_tap: ConfigureTap,
) -> None:
    """Disabled collections and flushes start no writer process; ``start()`` starts one and
    returns once it is ready."""
    configure_tap(writer="process", collections={"kept": {"enabled": False}})
    Collector(name="kept", on_error=lambda error: None).collect(pd.DataFrame({"x": [1]}))
    assert modeltap.flush(timeout=10)
    assert _writer().pid is None
    assert modeltap.start(timeout=60)
    assert _writer().pid not in (None, os.getpid())


def test_writer_mode_comes_from_the_key_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``writer`` key wins; unset, MODELTAP_WRITER decides; a bad value says what to use."""
    monkeypatch.setenv("MODELTAP_WRITER", "process")
    assert writer_mode(load_settings({})) == "process"
    assert writer_mode(load_settings({"data_collector": {"writer": "thread"}})) == "thread"
    monkeypatch.delenv("MODELTAP_WRITER")
    assert writer_mode(load_settings({})) == "thread"
    monkeypatch.setenv("MODELTAP_WRITER", "fork")
    with pytest.raises(ConfigError, match="MODELTAP_WRITER is 'fork': use 'thread'"):
        writer_mode(load_settings({}))
    with pytest.raises(ConfigError, match="writer"):
        load_settings({"data_collector": {"writer": "fork"}})


def test_the_writer_process_stops_when_its_parent_dies_even_without_end_of_input(
    tmp_path: Path,
) -> None:
    """A parent killed outright while another process still holds its pipe to the writer
    process (no end of input): the writer process sees its parent is gone, commits what it
    was sent, exits, and its spool lock goes with it."""
    script = textwrap.dedent(
        f"""
        import os, signal, subprocess, sys, time
        import modeltap
        from modeltap import BasicCorrelationContext, Collector
        from modeltap.pipeline.runtime import get_runtime
        modeltap.configure({{"data_collector": {{"destination": {str(tmp_path)!r},
                                                 "writer": "process", "fsync": "never"}}}})
        collector = Collector(name="model_inputs")
        for number in range(50):
            collector.collect([{{"x": number}}], BasicCorrelationContext(id=f"e{{number}}"))
        while modeltap.stats().total("events_written") < 50:
            time.sleep(0.05)
        writer = get_runtime().writer._process
        holder = subprocess.Popen(["sleep", "120"], pass_fds=[writer.stdin.fileno()],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(writer.pid, holder.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    writer_pid, holder_pid = (int(pid) for pid in done.stdout.split())
    try:
        assert _ends_within(writer_pid, 60), "the orphaned writer process kept running"
        assert _alive(holder_pid)  # its input never ended: it noticed the parent itself
    finally:
        os.kill(holder_pid, signal.SIGKILL)
    ids: Counter[str] = Counter()
    for path in (tmp_path / "local" / "default" / "model_inputs").rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            ids[orjson.loads(line)["correlationid"]] += 1
    assert ids == Counter({f"e{n}": 1 for n in range(50)})


def test_a_stop_that_cannot_finish_in_time_ends_the_writer_process(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """shutdown(timeout) with a writer process that does not answer (stopped) returns False
    in time and kills it, so it keeps no spool lock: the next start commits what it wrote."""
    configure_tap(writer="process")
    collector = Collector(name="model_inputs")
    for number in range(20):
        collector.collect([{"x": number}], BasicCorrelationContext(id=f"e{number}"))
    assert modeltap.flush(timeout=60)
    collector.collect([{"x": -1}], BasicCorrelationContext(id="late"))
    writer_pid = _writer().pid
    assert writer_pid is not None
    os.kill(writer_pid, signal.SIGSTOP)
    started = time.monotonic()
    assert modeltap.shutdown(timeout=1) is False
    assert time.monotonic() - started < 30
    assert _ends_within(writer_pid, 30)
    configure_tap()  # a new pipeline adopts the killed writer's spool folder
    assert modeltap.start()
    assert modeltap.flush(timeout=60)
    ids = _correlation_ids(data_dir, "model_inputs")
    assert {f"e{n}" for n in range(20)} <= set(ids)
    assert max(ids.values()) == 1


def _wait_for_stats(condition: Any, what: str, seconds: float = 60.0) -> modeltap.PipelineStats:
    """stats() once ``condition(stats)`` holds (failing the test after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        current = modeltap.stats()
        if condition(current):
            return current
        assert time.monotonic() < deadline, f"{what}: last stats {current}"
        time.sleep(0.05)


def test_spool_figures_follow_an_outage_after_traffic_stops(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """With the writer process and no traffic after the last event: a backlog waiting for a
    destination that fails shows in stats() with a growing age, and its draining shows once
    the destination works again."""
    data_dir.mkdir(parents=True)
    blocker = data_dir / "ep"
    blocker.write_text("a file where the collection's folder should be: commits fail")
    configure_tap(writer="process", segment_max_age=0.2)
    collector = Collector(name="model_inputs")
    for number in range(5):
        collector.collect([{"x": number}], BasicCorrelationContext(id=f"e{number}"))
    waiting = _wait_for_stats(
        lambda s: s.spool_segments >= 1 and s.oldest_waiting_age > 1.0 and s.commit_failures,
        "the backlog's age after traffic stopped",
    )
    assert waiting.total("events_written") == 5
    assert waiting.total("files_committed") == 0
    blocker.unlink()
    drained = _wait_for_stats(
        lambda s: s.spool_segments == 0 and s.total("files_committed") >= 1,
        "the backlog draining without traffic",
    )
    assert drained.oldest_waiting_age == 0.0
    assert len(_correlation_ids(data_dir, "model_inputs")) == 5


def test_events_a_killed_writer_process_had_not_written_are_counted_as_writer_lost(
    configure_tap: ConfigureTap, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer process that does not answer a stop in time is killed (SIGKILL); the events
    it had not confirmed written are dropped as ``writer_lost`` in stats(), /metrics, the
    shutdown summary, on_error and the log, and exactly those are missing once the next start
    has committed what it spooled."""
    errors: list[ModelTapError] = []
    configure_tap(writer="process")
    collector = Collector(name="model_inputs", on_error=errors.append)
    for number in range(20):
        collector.collect([{"x": number}], BasicCorrelationContext(id=f"e{number}"))
    assert modeltap.flush(timeout=60)
    writer_pid = _writer().pid
    assert writer_pid is not None
    os.kill(writer_pid, signal.SIGSTOP)  # it reads no more: what is sent now waits in its pipe
    for number in range(7):
        collector.collect([{"x": number}], BasicCorrelationContext(id=f"late{number}"))
    deadline = time.monotonic() + 30
    while get_runtime().queue.depth and time.monotonic() < deadline:
        time.sleep(0.01)  # until the forwarder has sent them all
    with caplog.at_level(logging.ERROR, logger="modeltap.writer"):
        assert modeltap.shutdown(timeout=1) is False
    assert _ends_within(writer_pid, 30)
    final = modeltap.stats()
    assert final.collections["model_inputs"].dropped == {"writer_lost": 7}
    assert [type(error) for error in errors] == [WriterLostError]
    assert "7 event(s) it had not confirmed written are dropped (writer_lost" in caplog.text
    assert shutdown_lines(final) == [
        "model_inputs: collected 27, written 20, dropped 7 (writer_lost 7)"
    ]
    exposed = text_string_to_metric_families(ServerMetrics().render_own().decode())
    assert [
        sample.value
        for family in exposed
        for sample in family.samples
        if sample.name == "modeltap_dropped_total"
        and sample.labels["reason"] == "writer_lost"
        and sample.labels["collection"] == "model_inputs"
    ] == [7.0]
    configure_tap()  # a new pipeline adopts the killed writer's spool folder
    assert modeltap.start()
    assert modeltap.flush(timeout=60)
    assert _correlation_ids(data_dir, "model_inputs") == Counter(
        {f"e{n}": 1 for n in range(20)}
    )


def test_a_stop_stuck_on_the_destination_ends_at_the_writers_stop_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A destination that never answers (a socket on loopback that accepts nothing) holds a
    writer process's stop: past its stop_timeout it gives up, logs it and exits; the stop
    ends incomplete within the limit, nothing written is counted lost, and what it did not
    commit shows as waiting in its spool."""
    hole = socket.create_server(("127.0.0.1", 0))
    try:
        settings = load_settings({"endpoint_name": "ep", "name": "dep", "data_collector": {
            "destination": "s3://bucket/data", "spool_dir": str(tmp_path / "spool"),
            "fsync": "never", "storage_options": {
                "key": "k", "secret": "s",
                "endpoint_url": f"http://127.0.0.1:{hole.getsockname()[1]}",
                "config_kwargs": {"read_timeout": 600, "retries": {"max_attempts": 1}},
            },
        }})
        collector = settings.collector
        queue = EventQueue(max_events=collector.queue_max_events,
                           max_bytes=collector.queue_max_bytes, policy=collector.full_policy,
                           block_timeout=collector.block_timeout)
        stats = StatsRecorder()
        drops: list[ModelTapError] = []
        writer = WriterProcess(settings, queue, stats, lambda error, name: drops.append(error),
                               stop_timeout=1.0)
        writer.start()
        assert writer.launch(60)
        for number in range(5):
            queue.put(Event("model_inputs", time.time_ns(), f"e{number}", f"e{number}", "list",
                            take_snapshot([{"x": number}]), "ep/dep/model_inputs"))
        deadline = time.monotonic() + 60
        while writer.combined(stats.snapshot()).total("events_written") < 5:
            assert time.monotonic() < deadline, "the writer process did not write the events"
            time.sleep(0.05)
        writer_pid = writer.pid
        assert writer_pid is not None
        stop = StopRequest()
        with caplog.at_level(logging.ERROR, logger="modeltap.writer"):
            started = time.monotonic()
            queue.put_control(stop)
            assert stop.flush.done.wait(30), "the stop never ended"
            elapsed = time.monotonic() - started
            assert writer.join(30)
        assert stop.flush.incomplete
        assert 1.0 <= elapsed < 15.0  # the limit, and what a loaded machine adds to it
        assert _ends_within(writer_pid, 10)
        final = writer.combined(stats.snapshot())
    finally:
        hole.close()
    assert "the writer process could not stop within 1 s" in caplog.text
    assert "could not finish its stop within 1 s and exited; 0 event(s)" in caplog.text
    assert final.total("events_written") == 5
    assert final.dropped_total == 0 and drops == []
    assert final.spool_segments >= 1
    assert final.last_error == "the writer process could not stop within 1 s"


def test_the_stop_timeout_must_be_positive(configure_tap: ConfigureTap) -> None:
    """A stop_timeout that is not a positive number of seconds is refused, naming it."""
    settings = configure_tap(writer="process")
    queue = EventQueue(max_events=10, max_bytes=1 << 20, policy=settings.collector.full_policy,
                       block_timeout=1)
    with pytest.raises(ConfigError, match="stop_timeout must be a positive number"):
        WriterProcess(settings, queue, StatsRecorder(), None, stop_timeout=0)


def test_an_abort_counts_what_waits_in_the_queue_and_ends_its_flushes(
    configure_tap: ConfigureTap,
) -> None:
    """Events still queued for the writer process when a stop is aborted are counted as
    ``writer_lost``, a flush waiting behind them ends, reported incomplete, and no writer
    process is started for them."""
    settings = configure_tap(writer="process")
    queue = EventQueue(max_events=10, max_bytes=1 << 20, policy=settings.collector.full_policy,
                       block_timeout=1)
    stats = StatsRecorder()
    drops: list[ModelTapError] = []
    writer = WriterProcess(settings, queue, stats, lambda error, name: drops.append(error))
    for number in range(3):
        queue.put(Event("model_inputs", time.time_ns(), f"e{number}", f"e{number}", "list",
                        take_snapshot([{"x": number}]), "ep/dep/model_inputs"))
    flush = FlushRequest()
    queue.put_control(flush)
    writer.abort()
    assert flush.done.is_set() and flush.incomplete
    assert stats.snapshot().collections["model_inputs"].dropped == {"writer_lost": 3}
    assert [type(error) for error in drops] == [WriterLostError]
    assert queue.depth == 0 and writer.pid is None
