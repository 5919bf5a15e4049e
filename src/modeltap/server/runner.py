"""Where the scoring script's run() is called: on a pool thread, or on the event loop's own.

Handing a call to a pool thread and back costs the worker more than the hand-over itself: the
event loop and the pool thread take turns with the GIL, usually from different CPUs, so every
turn moves the interpreter's state from one CPU's caches to the other's and wakes a sleeping
thread there. For a quick CPU-bound run() (a pandas or scikit-learn model of a millisecond or
two) that is a quarter or more of the worker's CPU per request. Calling run() on the event
loop's thread avoids it, but the loop answers nothing else (health, metrics, other requests)
until run() returns.

``Runner`` with one thread (the default) chooses per call. While run() is quick it is called
on the loop: a call shorter than the GIL's switch interval (``sys.getswitchinterval()``, 5 ms)
holds the loop up no longer than a CPU-bound run() on a pool thread would, since that thread
keeps the GIL for a whole interval before the loop gets a turn. Once run() is slow (the
running mean of its wall-clock time passes the interval) calls go to the pool thread, so the
loop stays responsive, and they come back to the loop when run() is quick again and no call
is left on the pool. Never more than one run() at a time either way. With ``threads=0`` every
call is made on the loop, with ``threads=N`` every call on a pool of N threads.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Runner"]

T = TypeVar("T")

_WEIGHT = 0.1
"""How much one call moves the running mean of run()'s duration."""


class Runner:
    """Calls run() on the event loop's thread or on a pool thread (see the module docstring)."""

    def __init__(
        self, threads: int, *, adaptive: bool = False, quick_seconds: float | None = None
    ) -> None:
        self.threads = threads
        self.adaptive = adaptive and threads == 1
        self.quick_seconds = sys.getswitchinterval() if quick_seconds is None else quick_seconds
        self.pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="modeltap-run") if threads else None
        )
        self.typical_seconds = 0.0
        """Running mean of run()'s wall-clock time (adaptive runners only; the first call's
        time until a second call is made)."""
        self.calls_on_loop = 0
        self.calls_on_pool = 0
        self._on_pool = 0  # calls handed to the pool and not yet returned

    @property
    def on_loop(self) -> bool:
        """Whether the next call would be made on the event loop's thread."""
        if self.pool is None:
            return True
        return self.adaptive and self._on_pool == 0 and self.typical_seconds < self.quick_seconds

    async def call(self, function: Callable[[], T]) -> T:
        """``function()``, on the loop's thread or a pool thread; its exception propagates."""
        if self.on_loop:
            self.calls_on_loop += 1
            if not self.adaptive:
                return function()
            started = time.perf_counter()
            try:
                return function()
            finally:
                self._observe(time.perf_counter() - started)
        assert self.pool is not None
        loop = asyncio.get_running_loop()
        self.calls_on_pool += 1
        self._on_pool += 1
        try:
            if self.adaptive:
                return await loop.run_in_executor(self.pool, self._timed, function)
            return await loop.run_in_executor(self.pool, function)
        finally:
            self._on_pool -= 1

    def _timed(self, function: Callable[[], T]) -> T:
        # timed on the pool thread: the wait in the pool's queue is not run()'s duration
        started = time.perf_counter()
        try:
            return function()
        finally:
            self._observe(time.perf_counter() - started)

    def _observe(self, seconds: float) -> None:
        # from the loop or the pool thread; never both at once (one call at a time), and a
        # lost update would only delay a switch by a call
        weight = _WEIGHT if self.calls_on_loop + self.calls_on_pool > 1 else 1.0
        self.typical_seconds += (seconds - self.typical_seconds) * weight

    def shutdown(self) -> None:
        """Stop the pool (calls in flight finish on their own)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False)
