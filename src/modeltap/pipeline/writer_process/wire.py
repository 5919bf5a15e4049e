"""Frames between this process and its writer process: length-prefixed pickles over pipes.

Both ends are this package's own processes, started together from one installation, so pickle
is safe here and carries every snapshot kind as it is (small pandas frames are packed in a form
that pickles fast: see ``modeltap.snapshot.blocks``).
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

from modeltap.event import QueuedEvent

__all__ = ["events_frame", "frame", "receive", "send"]

_LENGTH = struct.Struct("<Q")


def _reduce_array(array: np.ndarray[Any, Any]) -> str | tuple[Any, ...]:
    """A 1-D object array (a small frame's string column) as a tuple of its items, which
    pickles without numpy's own reduction; any other array as numpy reduces it. (Numpy's own
    reduction would cost the forwarder 21.8k instead of 16.2k instructions per how-to event:
    callgrind, ``bench/request_path.py`` frame, events pickled as NamedTuples.)"""
    if array.ndim == 1 and array.dtype.hasobject:
        return _object_array, (tuple(array.tolist()),)
    return array.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


def _object_array(items: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    """The 1-D object array ``_reduce_array`` took ``items`` from."""
    return np.fromiter(items, dtype=object, count=len(items))


_REDUCERS = {**copyreg.dispatch_table, np.ndarray: _reduce_array}


def frame(message: Any) -> bytes:
    """``message`` as one frame, ready to ``send`` (and to send again)."""
    buffer = io.BytesIO()
    buffer.write(bytes(_LENGTH.size))
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    pickler.dump(message)
    buffer.seek(0)
    buffer.write(_LENGTH.pack(buffer.getbuffer().nbytes - _LENGTH.size))
    return buffer.getvalue()


def events_frame(first: int, events: Iterable[QueuedEvent]) -> bytes:
    """The frame ``("events", first, events)`` of queued events (plain tuples, which pickle
    reduces in C)."""
    return frame(("events", first, list(events)))


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
