"""Pooled version-4 UUIDs: well formed, unique, and fresh in a forked child."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from modeltap import _ids


def test_ids_are_version_4_uuids_and_unique() -> None:
    """Every id parses as a version-4 UUID (RFC 4122 variant) and none repeats."""
    ids = [_ids.new_uuid4() for _ in range(3 * 512 + 7)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_carry_the_random_bytes_as_the_uuid_module_lays_them_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A draw turns each 16 random bytes into the id ``uuid.UUID(bytes=..., version=4)`` gives."""
    random = bytes(range(256)) * (16 * 512 // 256)
    monkeypatch.setattr(_ids.os, "urandom", lambda size: random[:size])
    drawn = _ids._draw_uuids()
    assert len(drawn) == 512
    expected = [str(uuid.UUID(bytes=random[o : o + 16], version=4)) for o in range(0, 16 * 512, 16)]
    assert drawn == expected


def test_child_draws_ids_even_if_the_lock_was_held_at_fork() -> None:
    """A child forked while another thread held the pool's lock still gets ids (no hang), and
    none of its parent's pooled ids."""
    parent_next = _ids.new_uuid4()
    held = _ids._uuid_lock
    held.acquire()  # as a writer thread refilling the pool at fork time would
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(10)  # a hang ends the child instead of the test run
                fresh = _ids.new_uuid4()
                code = 0 if fresh != parent_next and uuid.UUID(fresh).version == 4 else 2
            finally:
                os._exit(code)
    finally:
        held.release()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the child hung drawing an id")
    assert os.waitstatus_to_exitcode(status) == 0
