"""The storage layout: partition folders by time and rolling rate, and per-process instance ids.

``{root}/{yyyy}/{MM}/{dd}/{HH}/{instance}-{seq}.jsonl`` where ``root`` is
``{endpoint}/{deployment}/{collection}`` unless the collection's ``data.path`` overrides it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time

from modeltap.config import RollingRate

__all__ = ["PartitionClock", "instance_id", "partition_folder", "segment_name"]

_FORMATS: dict[RollingRate, tuple[str, int]] = {
    RollingRate.YEAR: ("%Y", 0),
    RollingRate.MONTH: ("%Y/%m", 0),
    RollingRate.DAY: ("%Y/%m/%d", 86_400),
    RollingRate.HOUR: ("%Y/%m/%d/%H", 3_600),
    RollingRate.MINUTE: ("%Y/%m/%d/%H/%M", 60),
}


def partition_folder(epoch_seconds: float, rate: RollingRate) -> str:
    """The time part of a partition path (``yyyy/MM/dd/HH`` for Hour), in UTC."""
    return time.strftime(_FORMATS[rate][0], time.gmtime(epoch_seconds))


class PartitionClock:
    """Maps event times to partition folders, caching the current bucket (cheap per event)."""

    __slots__ = ("_end", "_folder", "_rate", "_start")

    def __init__(self, rate: RollingRate) -> None:
        self._rate = rate
        self._start = 0
        self._end = -1
        self._folder = ""

    def folder(self, epoch_ns: int) -> str:
        """The partition folder for an event time in nanoseconds since the epoch."""
        seconds = epoch_ns // 1_000_000_000
        if self._start <= seconds < self._end:
            return self._folder
        folder = partition_folder(seconds, self._rate)
        width = _FORMATS[self._rate][1]
        if width:
            self._start = seconds - seconds % width
            self._end = self._start + width
        else:  # months and years have no fixed width: cache one day at most
            self._start = seconds - seconds % 86_400
            self._end = self._start + 86_400
        self._folder = folder
        return folder


_HOST_RE = re.compile(r"[^A-Za-z0-9-]+")


def instance_id() -> str:
    """An id unique to this process: host, pid and a random tag, usable in a file name."""
    host = _HOST_RE.sub("-", socket.gethostname()).strip("-")[:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def segment_name(instance: str, seq: int, extension: str) -> str:
    """The committed file name of segment ``seq`` of ``instance``."""
    return f"{instance}-{seq:06d}.{extension}"
