"""The writer survives every spool write failure: real faults (a full file system, a file-size
limit, too many open files) in a child process; drops counted, not ready meanwhile, resumed."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modeltap.pipeline.health import SpoolHealth

# Run in a child process: the faults (rlimits, a full file system) must not reach pytest.
# The child prints one JSON line with what it saw.
_PRELUDE = """
import errno, json, os, resource, signal, sys, time
from pathlib import Path
import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.pipeline import runtime

def wait_for(condition, what, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)

def lines_on_disk(root):
    found = []
    for path in sorted(Path(root).rglob("*.jsonl")):
        for line in path.read_bytes().splitlines(keepends=True):
            assert line.endswith(b"\\n"), f"torn line in {path}"
            found.append(json.loads(line)["correlationid"])
    return found

def totals():
    s = modeltap.stats()
    return {
        "collected": s.total("collected"),
        "written": s.total("events_written"),
        "write_error": sum(c.dropped.get("write_error", 0) for c in s.collections.values()),
        "dropped": s.dropped_total,
        "failing": s.spool_write_failing,
    }
"""


def _run_child(body: str, timeout: float = 180) -> dict[str, Any]:
    """Run ``_PRELUDE`` + ``body`` in a fresh interpreter; its last stdout line as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.integration  # runs a child process with lowered limits
def test_too_many_open_files_is_survived_counted_and_recovered(tmp_path: Path) -> None:
    """With the open-file limit reached by many collections' segments, the writer keeps
    running: what it cannot open is counted as write_error, the pipeline reports it cannot
    write (``writing()`` is False) until file descriptors are free again, then resumes;
    every collected event is either on disk once or counted, and shutdown finishes."""
    result = _run_child(
        f"""
        modeltap.configure({{"data_collector": {{"destination": {str(tmp_path)!r},
                                                 "fsync": "never", "segment_max_age": 3600}}}})
        modeltap.start()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 16, hard))
        for number in range(60):  # one open segment per collection
            Collector(name=f"c{{number}}", on_error=lambda e: None).collect(
                [{{"x": number}}], BasicCorrelationContext(id=f"first-{{number}}"))
        wait_for(lambda: totals()["written"] + totals()["write_error"] == 60, "the writer")
        during = totals()
        writing_during = runtime.writing()
        thread_alive = runtime.get_runtime().writer.alive
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        wait_for(runtime.writing, "the writer to resume")
        Collector(name="after", on_error=lambda e: None).collect(
            [{{"x": 1}}], BasicCorrelationContext(id="after"))
        flushed = modeltap.flush(timeout=60)
        after = totals()
        stopped = modeltap.shutdown(timeout=60)
        print(json.dumps({{"during": during, "writing_during": writing_during,
                           "thread_alive": thread_alive, "after": after, "flushed": flushed,
                           "stopped": stopped, "on_disk": lines_on_disk({str(tmp_path)!r})}}))
        """
    )
    during, after = result["during"], result["after"]
    assert result["thread_alive"]
    assert during["write_error"] > 0 and during["failing"] == 1
    assert result["writing_during"] is False
    assert result["flushed"] and result["stopped"]
    assert after["failing"] == 0
    on_disk = result["on_disk"]
    assert "after" in on_disk
    assert len(on_disk) == len(set(on_disk)) == after["written"]
    assert after["written"] + after["write_error"] == after["collected"] == 61


def _fill_and_check(tmp_path: Path, root: Path, fault: str) -> dict[str, Any]:
    """Collect into ``root`` until writes fail (``fault``: a full file system, or a file-size
    limit), check what is on disk against the counters, free the space, resume."""
    limit = ""
    if fault == "fsize":
        limit = """
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
        """
    return _run_child(
        f"""
        modeltap.configure({{"data_collector": {{"destination": {str(root)!r},
                             "fsync": "always", "segment_max_age": 3600,
                             "segment_max_bytes": 10_000_000}}}})
        modeltap.start()
        {textwrap.indent(textwrap.dedent(limit), " " * 8).strip()}
        collector = Collector(name="model_inputs", on_error=lambda e: None)
        number = 0
        while totals()["write_error"] == 0 and number < 100_000:
            for _ in range(50):
                collector.collect([{{"x": number, "pad": "p" * 900}}],
                                  BasicCorrelationContext(id=f"e{{number}}"))
                number += 1
            wait_for(lambda: totals()["written"] + totals()["write_error"] == number, "writes")
        for _ in range(20):  # some more while it fails
            collector.collect([{{"x": number}}], BasicCorrelationContext(id=f"e{{number}}"))
            number += 1
        wait_for(lambda: totals()["written"] + totals()["write_error"] == number, "the writer")
        during = totals()
        writing_during = runtime.writing()
        assert modeltap.flush(timeout=60)
        on_disk = lines_on_disk({str(root)!r})
        for path in Path({str(root)!r}).rglob("*.jsonl"):
            path.unlink()  # free the space
        if {fault!r} == "fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_for(runtime.writing, "the writer to resume")
        collector.collect([{{"x": -1}}], BasicCorrelationContext(id="after"))
        assert modeltap.flush(timeout=60)
        resumed = lines_on_disk({str(root)!r})
        stopped = modeltap.shutdown(timeout=60)
        print(json.dumps({{"during": during, "writing_during": writing_during,
                           "on_disk": on_disk, "resumed": resumed, "stopped": stopped,
                           "after": totals()}}))
        """
    )


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (skipped where this user cannot mount one)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the file-size limit test covers disk full)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _check_disk_full_outcome(result: dict[str, Any]) -> None:
    """No torn line was committed, every line on disk was counted as written once, the drops
    are only what is not on disk, and the writer resumed once space was free."""
    during, after = result["during"], result["after"]
    assert during["write_error"] > 0
    on_disk = result["on_disk"]
    assert len(on_disk) == len(set(on_disk)) == during["written"]
    assert during["written"] + during["write_error"] == during["collected"]
    assert result["resumed"] == ["after"]
    assert result["stopped"]
    assert after["failing"] == 0


def test_a_full_file_system_commits_no_torn_line_and_counts_true(
    tmp_path: Path, small_filesystem: Path
) -> None:
    """On a full tmpfs a failed append is cut back to the last good size: the committed file
    reads whole, ``events_written`` is what is on disk, ``write_error`` what is not; the
    writer resumes once space is freed."""
    result = _fill_and_check(tmp_path, small_filesystem, "tmpfs")
    _check_disk_full_outcome(result)
    assert result["during"]["failing"] == 1 and not result["writing_during"]


@pytest.mark.integration  # runs a child process with lowered limits
def test_a_file_size_limit_commits_no_torn_line_and_counts_true(tmp_path: Path) -> None:
    """The same with a file-size limit (EFBIG) instead of a full file system."""
    _check_disk_full_outcome(_fill_and_check(tmp_path, tmp_path / "data", "fsize"))


def test_spool_health_logs_failure_and_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    """The failing state is entered and left once, logged once each (a reminder a minute
    later), with the number of events dropped meanwhile."""
    now = [100.0]
    health = SpoolHealth(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="modeltap.writer")
    health.failed(OSError(28, "No space left on device"), "appending to a segment", 3)
    now[0] += 10
    health.failed(OSError(28, "No space left on device"), "appending to a segment", 2)
    assert health.failing
    assert len(caplog.records) == 1
    now[0] += 60
    health.failed(OSError(28, "No space left on device"), "opening a segment", 1)
    assert len(caplog.records) == 2 and "6 event(s)" in caplog.records[1].getMessage()
    health.worked()
    health.worked()
    assert not health.failing
    assert len(caplog.records) == 3
    assert "after 70.0 s; 6 event(s)" in caplog.records[2].getMessage()


def test_the_server_is_not_ready_while_the_spool_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While no segment can be made (ENOSPC injected into the spool), /ready answers 503 and
    /metrics shows modeltap_spool_write_failing 1 and the write_error drop; once the spool
    takes files again, /ready is 200 without any further traffic."""
    from starlette.testclient import TestClient

    import modeltap
    from modeltap.pipeline.spool import Spool
    from modeltap.server.app import AppOptions, build_app

    full = OSError(28, "No space left on device")

    def refuse(*args: object, **kwargs: object) -> None:
        raise full

    monkeypatch.setattr(Spool, "segment", refuse)
    monkeypatch.setattr(Spool, "probe", refuse)
    settings = modeltap.configure(
        {"endpoint_name": "ep", "name": "dep",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never"}}
    )
    with TestClient(build_app(settings, None, AppOptions())) as client:  # type: ignore[arg-type]
        assert client.get("/ready").status_code == 200
        answer = client.post(
            "/modeldata/log", content=b'[{"x": 1}]',
            headers={"ce-type": "azureml.inference.model_inputs",
                     "content-type": "application/json"},
        )
        assert answer.status_code == 202
        assert modeltap.flush(timeout=30)
        assert client.get("/ready").status_code == 503
        metrics = client.get("/metrics").text
        assert re.search(r"^modeltap_spool_write_failing\{[^}]*\} 1\.0$", metrics, re.M)
        assert re.search(r'^modeltap_dropped_total\{[^}]*reason="write_error"[^}]*\} 1\.0$',
                         metrics, re.M)
        monkeypatch.undo()  # the spool takes files again
        deadline = time.monotonic() + 30
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "never ready again"
            time.sleep(0.05)
    assert modeltap.stats().spool_write_failing == 0
