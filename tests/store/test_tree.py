"""Trees: the read-side view of a store; ``regular_size`` admits only regular files inside."""

from __future__ import annotations

import os
from pathlib import Path

from modeltap.store import FsspecTree, LocalTree, open_tree


def test_local_regular_size_refuses_links_out_devices_and_folders(tmp_path: Path) -> None:
    """A file inside has its size; a link leading out, a folder and a missing file do not."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.json").write_bytes(b"12345")
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "sub" / "out.json")
    os.symlink(root / "sub" / "a.json", root / "sub" / "in.json")
    tree = open_tree(str(root))
    assert isinstance(tree, LocalTree)
    assert tree.regular_size("sub/a.json") == 5
    assert tree.regular_size("sub/in.json") == 5
    assert tree.regular_size("sub/out.json") is None
    assert tree.regular_size("sub") is None
    assert tree.regular_size("missing.json") is None
    assert LocalTree("/dev").regular_size("zero") is None


def test_fsspec_regular_size() -> None:
    """An fsspec tree answers the size of a file and None for a folder or nothing."""
    tree = open_tree("memory://tree-test")
    assert isinstance(tree, FsspecTree)
    tree.write_atomic("sub/a.json", b"123")
    assert tree.regular_size("sub/a.json") == 3
    assert tree.regular_size("sub") is None
    assert tree.regular_size("nothing.json") is None
