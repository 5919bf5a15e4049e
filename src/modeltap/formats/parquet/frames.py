"""Spool frames: while a segment is open, each event (or run of small events) is appended as
one frame, a small header (magic, length, events) followed by a self-contained Arrow IPC stream
(schema + one batch). Frames are appendable, survive a torn tail (the last incomplete frame is
cut on recovery) and let every event carry its own schema.
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

import pyarrow as pa

__all__ = [
    "count_frames",
    "encode_frame",
    "encode_frame_pieces",
    "frame_size",
    "read_frames",
    "repair_frames",
]

_MAGIC = b"MTF2"
_HEADER = struct.Struct("<4sQI")  # magic, body length, events in the frame


def encode_frame_pieces(table: pa.Table, events: int = 1) -> list[Any]:
    """One appendable spool frame holding ``table`` (the rows of ``events`` events), as pieces
    to write one after the other (a header and an Arrow buffer: no copy into Python bytes)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue()
    return [_HEADER.pack(_MAGIC, body.size, events), body]


def encode_frame(table: pa.Table, events: int = 1) -> bytes:
    """One appendable spool frame holding ``table``, as bytes."""
    header, body = encode_frame_pieces(table, events)
    return bytes(header) + bytes(body.to_pybytes())


def frame_size(pieces: list[Any]) -> int:
    """The byte size of a frame given as pieces."""
    return sum(memoryview(p).nbytes for p in pieces)


def _frame_spans(blob: bytes | pa.Buffer) -> tuple[list[tuple[int, int, int]], int]:
    """(start, end, events) of every whole frame, and where the whole frames end."""
    spans = []
    offset = 0
    view = memoryview(blob)
    size = view.nbytes
    while offset + _HEADER.size <= size:
        magic, length, events = _HEADER.unpack_from(view, offset)
        start = offset + _HEADER.size
        if magic != _MAGIC or start + length > size:
            break
        spans.append((start, start + length, events))
        offset = start + length
    return spans, offset


def read_frames(blob: bytes | pa.Buffer) -> list[pa.Table]:
    """The tables of a spool segment (a torn last frame is ignored)."""
    spans, _ = _frame_spans(blob)
    buffer = blob if isinstance(blob, pa.Buffer) else pa.py_buffer(blob)
    return [pa.ipc.open_stream(buffer.slice(a, b - a)).read_all() for a, b, _ in spans]


def repair_frames(handle: BinaryIO) -> int:
    """Cut a partial last frame (a crash mid-write) of the segment open in ``handle`` (read and
    write), made durable; return how many bytes were cut."""
    handle.seek(0)
    blob = handle.read()
    _, end = _frame_spans(blob)
    if end < len(blob):
        handle.truncate(end)
        handle.flush()
        os.fsync(handle.fileno())
    return len(blob) - end


def count_frames(handle: BinaryIO) -> int:
    """How many events the whole frames of the spool segment open in ``handle`` hold."""
    handle.seek(0)
    return sum(events for _, _, events in _frame_spans(handle.read())[0])
