"""The writer's courtesy to request threads: short turns at the GIL.

CPython hands the GIL to a waiting thread only after the switch interval (5 ms by default), and
then the thread that lost it waits as long to get it back. A writer that works without pause
therefore stalls the request thread for a whole interval each time it gets its turn, longer when
a turn ends inside a long C call. The writer calls ``GilCourtesy.pause()`` between pieces of
work; once it has worked for ``turn`` seconds since it last rested, it sleeps for ``nap``
seconds, long enough for a waiting request thread to wake up and take the GIL.
"""

from __future__ import annotations

import time

__all__ = ["GilCourtesy"]


class GilCourtesy:
    """Caps the writer's turns at the GIL at about ``turn`` seconds of work."""

    __slots__ = ("_nap", "_since", "_turn_ns")

    def __init__(self, turn: float = 0.002, nap: float = 0.0002) -> None:
        self._turn_ns = int(turn * 1e9)
        self._nap = nap
        self._since = time.perf_counter_ns()

    def rested(self) -> None:
        """The writer just waited (for work, or for the GIL): its turn starts now."""
        self._since = time.perf_counter_ns()

    def pause(self) -> bool:
        """Nap if this turn has lasted long enough; True if it napped."""
        if time.perf_counter_ns() - self._since < self._turn_ns:
            return False
        time.sleep(self._nap)
        self._since = time.perf_counter_ns()
        return True
