"""Random version-4 UUID strings from a pool: one ``os.urandom`` call per few hundred ids.

Record ids, request ids and generated correlation ids are made per event and per request; a
syscall each (as ``uuid.uuid4()`` makes) hands the GIL to whichever thread wants it, and the
caller then waits for it back. The pool is emptied in a forked child, which never hands out its
parent's ids.
"""

from __future__ import annotations

import os
import threading

import numpy as np

__all__ = ["new_uuid4", "top_up_uuids"]

_UUIDS_PER_DRAW = 512
_uuids: list[str] = []
_uuid_lock = threading.Lock()


_GROUPS = ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24))
"""The five groups of a UUID's 32 hex digits: (first digit, end, position in the 36 characters)."""


def _draw_uuids() -> list[str]:
    """Version-4 UUID strings from one ``os.urandom`` call (one syscall per few hundred ids),
    formatted for all of them at once: the ids are slices of one text."""
    raw = np.frombuffer(bytearray(os.urandom(16 * _UUIDS_PER_DRAW)), dtype=np.uint8)
    raw = raw.reshape(-1, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(-1, 32)
    laid_out = np.full((len(digits), 36), ord("-"), dtype=np.uint8)
    for start, stop, to in _GROUPS:
        laid_out[:, to : to + stop - start] = digits[:, start:stop]
    text = laid_out.tobytes().decode("ascii")
    return [text[o : o + 36] for o in range(0, len(text), 36)]


def new_uuid4() -> str:
    """A random version-4 UUID string, as ``str(uuid.uuid4())`` gives, drawn from a pool."""
    try:
        return _uuids.pop()
    except IndexError:
        with _uuid_lock:
            if not _uuids:
                _uuids.extend(_draw_uuids())
            return _uuids.pop()


def top_up_uuids(minimum: int = 4 * _UUIDS_PER_DRAW) -> None:
    """Refill the pool up to ``minimum`` ids. The writer thread calls this between batches, so
    request threads seldom draw: a draw is a syscall, which hands the GIL to the writer, and
    the request thread then waits up to the switch interval (5 ms) to get it back."""
    if len(_uuids) < minimum:
        with _uuid_lock:
            while len(_uuids) < minimum:
                _uuids.extend(_draw_uuids())


def _forget_uuids() -> None:
    global _uuid_lock
    _uuids.clear()  # a forked child must never hand out its parent's ids
    _uuid_lock = threading.Lock()  # another thread may have held it at fork time


os.register_at_fork(after_in_child=_forget_uuids)
