"""The local destination: atomic rename, copy + rename across devices, listing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from modeltap.store import local
from modeltap.store.local import LocalDestination

RELATIVE = "ep/dep/model_inputs/2024/05/01/12/host-1-abc-000000.jsonl"


def spooled(tmp_path: Path, content: bytes = b'{"a":1}\n') -> Path:
    """A closed spool segment."""
    path = tmp_path / "spool" / "seg.jsonl.part"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_publish_is_a_rename(tmp_path: Path) -> None:
    """On one file system the segment is renamed into place: same inode, source gone."""
    source = spooled(tmp_path)
    inode = source.stat().st_ino
    destination = LocalDestination(tmp_path / "data")
    destination.publish(source, RELATIVE)
    final = tmp_path / "data" / RELATIVE
    assert final.read_bytes() == b'{"a":1}\n'
    assert final.stat().st_ino == inode
    assert not source.exists()
    assert destination.read_bytes(RELATIVE) == b'{"a":1}\n'


def test_publish_twice_overwrites(tmp_path: Path) -> None:
    """Publishing the same relative path again replaces the file (a retry never duplicates)."""
    destination = LocalDestination(tmp_path / "data", durable=False)
    destination.publish(spooled(tmp_path, b"first\n"), RELATIVE)
    destination.publish(spooled(tmp_path, b"second\n"), RELATIVE)
    assert destination.list_files() == [RELATIVE]
    assert destination.read_bytes(RELATIVE) == b"second\n"


def test_cross_device_publish_copies_then_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the rename fails with EXDEV, the file is copied to a hidden temp name and renamed."""
    real_replace = os.replace
    calls: list[tuple[str, str]] = []

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append((str(src), str(dst)))
        if len(calls) == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(local.os, "replace", replace)
    source = spooled(tmp_path, b'{"a":1}\n{"a":2}\n')
    destination = LocalDestination(tmp_path / "data")
    destination.publish(source, RELATIVE)
    final = tmp_path / "data" / RELATIVE
    assert final.read_bytes() == b'{"a":1}\n{"a":2}\n'
    assert not source.exists()
    assert len(calls) == 2
    temp = Path(calls[1][0])
    assert temp.parent == final.parent and temp.name.startswith(".")
    assert calls[1][1] == str(final)
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]


def test_other_rename_errors_propagate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rename failure other than EXDEV is raised and the segment stays in the spool."""

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(local.os, "replace", replace)
    source = spooled(tmp_path)
    with pytest.raises(OSError) as info:
        LocalDestination(tmp_path / "data").publish(source, RELATIVE)
    assert info.value.errno == errno.EACCES
    assert source.read_bytes() == b'{"a":1}\n'


def test_list_files_hides_dot_folders(tmp_path: Path) -> None:
    """Listing shows committed files only: not the hidden spool folder nor hidden temp files."""
    root = tmp_path / "data"
    destination = LocalDestination(root, durable=False)
    destination.publish(spooled(tmp_path), RELATIVE)
    hidden = [
        ".modeltap/spool/host-1-abc/" + RELATIVE + ".part",
        "ep/dep/model_inputs/2024/05/01/12/.host-1-abc-000001.jsonl.1234.tmp",
    ]
    for relative in hidden:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"partial")
    assert destination.list_files() == [RELATIVE]
    assert destination.list_files("ep/dep/model_inputs") == [RELATIVE]


def test_list_files_hides_part_files_in_visible_folders(tmp_path: Path) -> None:
    """A spool .part file outside a hidden folder (e.g. a spool_dir inside the data) is hidden."""
    root = tmp_path / "data"
    destination = LocalDestination(root, durable=False)
    destination.publish(spooled(tmp_path), RELATIVE)
    part = root / "spool/host-1-abc" / (RELATIVE + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"partial")
    assert destination.list_files() == [RELATIVE]


def test_list_files_prefixes_and_order(tmp_path: Path) -> None:
    """Listing under a prefix returns sorted relative paths; a missing prefix lists nothing."""
    destination = LocalDestination(tmp_path / "data", durable=False)
    names = [
        "ep/dep/model_outputs/2024/05/01/13/i-000001.jsonl",
        "ep/dep/model_inputs/2024/05/01/13/i-000001.jsonl",
        "ep/dep/model_inputs/2024/05/01/12/i-000000.jsonl",
    ]
    for index, name in enumerate(names):
        destination.publish(spooled(tmp_path, f"{index}\n".encode()), name)
    assert destination.list_files() == sorted(names)
    assert destination.list_files("ep/dep/model_inputs") == sorted(names[1:])
    assert destination.list_files("ep/dep/nothing") == []
    assert LocalDestination(tmp_path / "absent").list_files() == []


def test_join_and_url(tmp_path: Path) -> None:
    """join gives the local path of a relative path; url is the root."""
    destination = LocalDestination(tmp_path / "data")
    assert destination.url == str(tmp_path / "data")
    assert destination.join(RELATIVE) == str(tmp_path / "data" / RELATIVE)
