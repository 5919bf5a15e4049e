"""A writing process killed with SIGKILL loses nothing it flushed and leaves no torn file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import orjson
import pytest

import modeltap

FLUSHED = 300
WRITER_SCRIPT = f"FLUSHED = {FLUSHED}\n" + textwrap.dedent(
    """
    import sys
    import time
    import pandas as pd
    import modeltap
    from modeltap import BasicCorrelationContext, Collector

    modeltap.configure({"destination": sys.argv[1], "segment_max_age": 3600})
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": list(range(200)), "s": ["abc" * 20] * 200})
    i = 0
    while True:
        inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))
        i += 1
        if i <= FLUSHED and i % 50 == 0:
            modeltap.flush()
            print(i, flush=True)
        if i == FLUSHED + 100:
            deadline = time.monotonic() + 60  # the writer appends these to an open segment
            while modeltap.stats().collections["model_inputs"].events_written < i:
                assert time.monotonic() < deadline, "the writer never spooled them"
                time.sleep(0.01)
            print("unflushed", flush=True)
    """
)


def _committed_ids(root: Path) -> tuple[Counter[str], int]:
    """Correlation ids of every committed record, and the number of committed files."""
    ids: Counter[str] = Counter()
    files = sorted(root.rglob("*.jsonl"))
    for path in files:
        blob = path.read_bytes()
        assert blob.endswith(b"\n"), f"{path} ends with a torn line"
        for line in blob.splitlines():
            record = orjson.loads(line)  # raises on a torn or corrupt line
            assert len(record["data"]) == 200
            ids[record["correlationid"]] += 1
    return ids, len(files)


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_commits_everything_once(tmp_path: Path) -> None:
    """Every event flushed before SIGKILL is committed exactly once after a restart."""
    destination = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(destination)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    flushed = 0
    try:
        while (line := process.stdout.readline().strip()) != "unflushed":
            assert line, "the writer process died before it was killed"
            flushed = int(line)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert flushed == FLUSHED

    spool = destination / ".modeltap" / "spool"
    leftovers = list(spool.rglob("*.part"))
    assert leftovers, "the killed process should have left an open segment in the spool"

    modeltap.configure({"destination": str(destination)})
    try:
        modeltap.start()
        assert modeltap.flush(timeout=60)
    finally:
        modeltap.shutdown()

    ids, files = _committed_ids(destination)
    assert files >= 2
    missing = [f"e{i}" for i in range(flushed + 100) if ids[f"e{i}"] == 0]
    assert missing == [], "flushed events, and those spooled before the kill, must be committed"
    duplicated = {k: v for k, v in ids.items() if v > 1}
    assert duplicated == {}
    assert not list(spool.rglob("*.part")), "recovered segments must leave the spool"


def test_torn_last_record_is_cut_counted_and_the_rest_committed(tmp_path: Path) -> None:
    """A segment whose last line a crash cut in half commits its whole lines and counts one drop."""
    destination = tmp_path / "data"
    relative = "local/default/model_inputs/2026/01/02/03/deadhost-1-abcdef-000000.jsonl"
    part = destination / ".modeltap" / "spool" / "deadhost-1-abcdef" / (relative + ".part")
    part.parent.mkdir(parents=True)
    (part.parents[7] / ".lock").touch()  # nobody holds it: its process is dead
    whole = b'{"correlationid":"a","data":[{"x":1}]}\n{"correlationid":"b","data":[{"x":2}]}\n'
    part.write_bytes(whole + b'{"correlationid":"c","da')

    modeltap.configure({"destination": str(destination)})
    try:
        modeltap.start()
        assert modeltap.flush(timeout=60)
        stats = modeltap.stats()
    finally:
        modeltap.shutdown()

    assert (destination / relative).read_bytes() == whole
    assert stats.collections["model_inputs"].dropped == {"torn_by_crash": 1}
    assert not part.exists()
