"""Frames between this process and its writer process: length-prefixed pickles over pipes.

Both ends are this package's own processes, started together from one installation, so pickle
is safe here and carries every snapshot kind as it is (small frames' events are sent in their
``portable`` form, which pickles fast).
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

__all__ = ["frame", "receive", "send"]

_LENGTH = struct.Struct("<Q")


def frame(message: Any) -> bytes:
    """``message`` as one frame, ready to ``send`` (and to send again)."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


def send(fd: int, data: bytes) -> None:
    """Write a frame, blocking until the pipe took all of it (the GIL is released meanwhile)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int) -> Any:
    """The next message, or None when the other end closed the pipe."""
    header = _read_exactly(fd, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    body = _read_exactly(fd, length)
    if body is None:
        raise EOFError("the pipe closed in the middle of a frame")
    return pickle.loads(body)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes, or None if the pipe is closed before the first one."""
    chunks: list[bytes] = []
    missing = size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            if missing == size:
                return None
            raise EOFError("the pipe closed in the middle of a frame")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
