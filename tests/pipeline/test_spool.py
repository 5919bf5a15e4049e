"""The local spool: torn-tail repair, the per-process lock, and orphans of dead processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modeltap.config import FsyncPolicy
from modeltap.errors import ConfigError
from modeltap.pipeline.spool import Spool, count_events, repair_torn_tail

RELATIVE = "ep/dep/model_inputs/2024/05/01/12/dead-1-abc-000000.jsonl"


def test_repair_cuts_a_partial_last_line(tmp_path: Path) -> None:
    """A torn last line is cut; the complete lines stay; the cut byte count is returned."""
    path = tmp_path / "seg.jsonl.part"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":3, "trunc')
    assert repair_torn_tail(path) == len(b'{"a":3, "trunc')
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n'


def test_repair_leaves_complete_files_intact(tmp_path: Path) -> None:
    """A file ending in a newline, or empty, is not changed."""
    path = tmp_path / "seg.jsonl.part"
    content = b'{"a":1}\n{"a":2}\n'
    path.write_bytes(content)
    assert repair_torn_tail(path) == 0
    assert path.read_bytes() == content
    empty = tmp_path / "empty.part"
    empty.write_bytes(b"")
    assert repair_torn_tail(empty) == 0
    assert empty.read_bytes() == b""


def test_repair_of_a_file_without_any_newline(tmp_path: Path) -> None:
    """A file with no complete line at all is emptied."""
    path = tmp_path / "seg.jsonl.part"
    content = b'{"a":1, "never finished'
    path.write_bytes(content)
    assert repair_torn_tail(path) == len(content)
    assert path.read_bytes() == b""


def test_repair_finds_a_newline_far_back(tmp_path: Path) -> None:
    """A torn line longer than the search window is still cut at the last newline."""
    path = tmp_path / "seg.jsonl.part"
    tail = b"x" * 200_000
    path.write_bytes(b'{"a":1}\n' + tail)
    assert repair_torn_tail(path) == len(tail)
    assert path.read_bytes() == b'{"a":1}\n'


def test_segment_appends_and_counts(tmp_path: Path) -> None:
    """A segment appends whole records under its spool path and counts them."""
    spool = Spool(tmp_path / "spool", "me", FsyncPolicy.ALWAYS)
    try:
        segment = spool.segment(RELATIVE, str(tmp_path / "data"), "model_inputs")
        segment.append(b'{"a":1}\n', rows=1)
        segment.append(b'{"a":2}\n{"a":3}\n', rows=2)
        segment.close()
        assert segment.closed
        assert segment.path == tmp_path / "spool" / "me" / (RELATIVE + ".part")
        assert segment.path.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":3}\n'
        assert (segment.size, segment.events, segment.rows) == (24, 2, 3)
    finally:
        spool.release()


def test_the_lock_is_exclusive(tmp_path: Path) -> None:
    """A second Spool on the same instance folder cannot take the lock."""
    spool = Spool(tmp_path, "me", FsyncPolicy.NEVER)
    try:
        with pytest.raises(OSError):
            Spool(tmp_path, "me", FsyncPolicy.NEVER)
    finally:
        spool.release()


def test_a_live_instance_is_not_an_orphan(tmp_path: Path) -> None:
    """Another process's folder whose lock is held is left alone by orphans()."""
    first = Spool(tmp_path, "first", FsyncPolicy.NEVER)
    segment = first.segment(RELATIVE, "dest", "model_inputs")
    segment.append(b'{"a":1}\n', rows=1)
    second = Spool(tmp_path, "second", FsyncPolicy.NEVER)
    try:
        assert list(second.orphans()) == []
        assert segment.path.exists()
    finally:
        segment.close()
        second.release()
        first.release()


def test_release_keeps_a_folder_with_segments(tmp_path: Path) -> None:
    """Releasing a spool that still holds segments keeps them (the next start commits them)."""
    spool = Spool(tmp_path, "me", FsyncPolicy.NEVER)
    segment = spool.segment(RELATIVE, "dest", "model_inputs")
    segment.append(b'{"a":1}\n', rows=1)
    segment.close()
    spool.release()
    assert segment.path.exists()
    empty = Spool(tmp_path, "empty", FsyncPolicy.NEVER)
    empty.release()
    assert not (tmp_path / "empty").exists()


def test_orphans_of_a_dead_instance_are_repaired(tmp_path: Path) -> None:
    """A folder with .part files and a .lock nobody holds is found, repaired, with paths."""
    dead = tmp_path / "dead-1-abc"
    first = dead / (RELATIVE + ".part")
    second = dead / "ep/dep/model_outputs/2024/05/01/12/dead-1-abc-000001.jsonl.part"
    for path in (first, second):
        path.parent.mkdir(parents=True, exist_ok=True)
    first.write_bytes(b'{"a":1}\n{"a":2')
    second.write_bytes(b'{"b":1}\n')
    (dead / ".lock").touch()
    spool = Spool(tmp_path, "alive", FsyncPolicy.NEVER)
    try:
        found = [(folder, orphans) for folder, orphans in spool.orphans()]
        assert [folder for folder, _ in found] == [dead]
        orphans = {o.relative_path: o for o in found[0][1]}
        assert set(orphans) == {
            RELATIVE,
            "ep/dep/model_outputs/2024/05/01/12/dead-1-abc-000001.jsonl",
        }
        assert orphans[RELATIVE].torn_bytes == len(b'{"a":2')
        assert orphans[RELATIVE].path == first
        assert first.read_bytes() == b'{"a":1}\n'
        assert orphans[next(k for k in orphans if "outputs" in k)].torn_bytes == 0
    finally:
        spool.release()


def test_an_emptied_orphan_folder_is_removed(tmp_path: Path) -> None:
    """Once the caller has committed (removed) the orphans, the dead folder is deleted."""
    dead = tmp_path / "dead-2-def"
    part = dead / (RELATIVE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b'{"a":1}\n')
    (dead / ".lock").touch()
    spool = Spool(tmp_path, "alive", FsyncPolicy.NEVER)
    try:
        for _, orphans in spool.orphans():
            for orphan in orphans:
                orphan.path.unlink()
        assert not dead.exists()
        assert (tmp_path / "alive").exists()
    finally:
        spool.release()


def test_orphans_after_release_of_the_first(tmp_path: Path) -> None:
    """After a spool is released with a segment left, a new spool finds it as an orphan."""
    first = Spool(tmp_path, "first", FsyncPolicy.NEVER)
    segment = first.segment(RELATIVE, "dest", "model_inputs")
    segment.append(b'{"a":1}\n', rows=1)
    segment.close()
    first.release()
    second = Spool(tmp_path, "second", FsyncPolicy.NEVER)
    try:
        found = list(second.orphans())
        assert len(found) == 1
        folder, orphans = found[0]
        assert folder == tmp_path / "first"
        assert [o.relative_path for o in orphans] == [RELATIVE]
    finally:
        second.release()


def test_a_staging_folder_is_skipped_and_removed_once_stale(tmp_path: Path) -> None:
    """orphans() never yields a folder being made; one left by a crash long ago is removed."""
    fresh = tmp_path / ".new-fresh-1-abc-0000"
    stale = tmp_path / ".new-stale-2-def-0000"
    for folder in (fresh, stale):
        folder.mkdir()
        (folder / ".lock").touch()
    long_ago = time.time() - 3600
    os.utime(stale, (long_ago, long_ago))
    spool = Spool(tmp_path, "alive", FsyncPolicy.NEVER)
    try:
        assert list(spool.orphans()) == []
        assert fresh.is_dir()
        assert not stale.exists()
    finally:
        spool.release()


def test_recovery_never_follows_links_nor_opens_special_files(tmp_path: Path) -> None:
    """A dead process's folder holding a segment that is a symbolic link (to a file outside,
    with a torn tail), a named pipe, and a linked folder: the link's target is neither cut nor
    committed, the pipe is not opened (no hang), the linked folder is not entered; the regular
    segment beside them is recovered."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious\nno newline at the end")
    spool_root = tmp_path / "spool"
    dead = spool_root / "dead-1-abc"
    folder = (dead / RELATIVE).parent
    folder.mkdir(parents=True)
    (dead / ".lock").touch()
    (folder / "good-000000.jsonl.part").write_bytes(b'{"a":1}\n')
    (folder / "link-000001.jsonl.part").symlink_to(outside)
    os.mkfifo(folder / "pipe-000002.jsonl.part")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "sub" / "x-000003.jsonl.part").write_bytes(b"planted\n")
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    (spool_root / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    spool = Spool(spool_root, "alive", FsyncPolicy.NEVER)
    try:
        found = [o.path.name for _, orphans in spool.orphans() for o in orphans]
    finally:
        spool.release()
    assert found == ["good-000000.jsonl.part"]
    assert outside.read_bytes() == b"precious\nno newline at the end"
    assert (elsewhere / "sub" / "x-000003.jsonl.part").read_bytes() == b"planted\n"


def test_count_and_repair_refuse_a_symbolic_link(tmp_path: Path) -> None:
    """Opening a spool file for repair or counting never follows a symbolic link."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"a\nb")
    link = tmp_path / "seg.jsonl.part"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        repair_torn_tail(link)
    with pytest.raises(OSError):
        count_events(link)
    assert outside.read_bytes() == b"a\nb"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_a_spool_folder_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    """A spool folder other users can write to is refused with a message naming the folder
    and the fix; a new one is made private."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(ConfigError, match=r"shared is writable by other users.*chmod go-w"):
        Spool(shared, "me", FsyncPolicy.NEVER)
    fresh = Spool(tmp_path / "fresh" / "spool", "me", FsyncPolicy.NEVER)
    try:
        assert (tmp_path / "fresh" / "spool").stat().st_mode & 0o077 == 0
    finally:
        fresh.release()


def test_a_failed_append_is_cut_back_to_the_last_good_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half-way leaves the file at its last good size; should cutting it
    back fail too, the segment is marked torn and cut back when closed."""
    spool = Spool(tmp_path / "spool", "me", FsyncPolicy.NEVER)
    try:
        segment = spool.segment(RELATIVE, "dest", "model_inputs")
        segment.append(b'{"a":1}\n', rows=1)
        real_fsync = os.fsync
        segment.fsync = FsyncPolicy.ALWAYS

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError):
            segment.append(b'{"a":2}\n{"a":3, "half', rows=2, events=2)
        assert segment.path.read_bytes() == b'{"a":1}\n'
        assert (segment.size, segment.events, segment.torn) == (8, 1, False)

        def cannot_cut(fd: int, size: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "ftruncate", cannot_cut)
        with pytest.raises(OSError):
            segment.append(b'{"a":4}\n', rows=1)
        assert segment.torn
        monkeypatch.setattr(os, "fsync", real_fsync)
        segment.fsync = FsyncPolicy.NEVER
        segment.close()
        assert segment.path.read_bytes() == b'{"a":1}\n'
        assert not segment.torn
    finally:
        spool.release()
