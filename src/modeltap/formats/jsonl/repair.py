"""A torn last line: what a crash in the middle of an append leaves at the end of a segment."""

from __future__ import annotations

import os
from typing import BinaryIO

__all__ = ["cut_torn_line"]

_WINDOW = 64 * 1024


def cut_torn_line(handle: BinaryIO) -> int:
    """Cut everything after the last newline of the file open in ``handle`` (read and write),
    made durable; return how many bytes were cut."""
    size = os.fstat(handle.fileno()).st_size
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - _WINDOW)
        handle.seek(start)
        chunk = handle.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            break
        end = start
    if keep < size:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep
