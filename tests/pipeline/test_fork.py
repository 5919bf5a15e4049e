"""After os.fork() the child writes through a pipeline of its own (pre-fork servers)."""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.config import FsyncPolicy
from modeltap.pipeline.spool import Spool


def _ids_by_instance(root: Path) -> dict[str, Counter[str]]:
    """Correlation ids of committed records, grouped by the writing instance (file prefix)."""
    found: dict[str, Counter[str]] = {}
    for path in root.rglob("*.jsonl"):
        instance = path.name.rsplit("-", 1)[0]
        for line in path.read_bytes().splitlines():
            found.setdefault(instance, Counter())[orjson.loads(line)["correlationid"]] += 1
    return found


def test_child_after_fork_gets_its_own_writer(tmp_path: Path) -> None:
    """Parent and child both commit their own events, each once, under distinct instance ids."""
    modeltap.configure({"destination": str(tmp_path)})
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": [1, 2, 3]})
    try:
        for i in range(20):
            inputs.collect(frame, BasicCorrelationContext(id=f"before-{i}"))
        pid = os.fork()
        if pid == 0:  # the child: collect, flush, and leave without running the parent's atexit
            code = 1
            try:
                for i in range(20):
                    inputs.collect(frame, BasicCorrelationContext(id=f"child-{i}"))
                code = 0 if modeltap.shutdown(timeout=30) else 2
            finally:
                os._exit(code)
        for i in range(20):
            inputs.collect(frame, BasicCorrelationContext(id=f"parent-{i}"))
        assert modeltap.flush(timeout=30)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        modeltap.shutdown()

    by_instance = _ids_by_instance(tmp_path)
    assert len(by_instance) == 2, "parent and child must write under different instance ids"
    merged: Counter[str] = Counter()
    for ids in by_instance.values():
        merged.update(ids)
    expected = {f"{kind}-{i}" for kind in ("before", "child", "parent") for i in range(20)}
    assert set(merged) == expected
    assert max(merged.values()) == 1, "no event may be written twice"
    child = next(ids for ids in by_instance.values() if "child-0" in ids)
    assert not any(key.startswith(("before", "parent")) for key in child)


def test_a_scan_while_the_child_makes_its_spool_folder_leaves_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent's orphan scan, run just before the child locks its new folder, skips it."""
    parent = Spool(tmp_path, "parent", FsyncPolicy.NEVER)
    real_flock = fcntl.flock
    taken: list[Path] = []
    scanned = False

    def scan_then_flock(fd: int, operation: int) -> None:
        # the child's first lock: the parent's writer scans for orphans right then (the race
        # a pre-fork server loses now and then; flock conflicts within one process too)
        nonlocal scanned
        if not scanned:
            scanned = True
            taken.extend(folder for folder, _ in parent.orphans())
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", scan_then_flock)
    child = Spool(tmp_path, "child", FsyncPolicy.NEVER)
    monkeypatch.undo()
    try:
        assert scanned
        assert taken == [], "a live process's folder must never be taken for an orphan"
        assert (child.folder / ".lock").is_file()
        with open(child.folder / ".lock", "ab") as other, pytest.raises(OSError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert list(parent.orphans()) == []
        assert sorted(p.name for p in tmp_path.iterdir()) == ["child", "parent"]
    finally:
        child.release()
        parent.release()
