"""Where the scoring script's run() is called: on a pool thread, or on the event loop's own.

Handing a call to a pool thread and back costs the worker more than the hand-over itself: the
event loop and the pool thread take turns with the GIL, usually from different CPUs, so every
turn moves the interpreter's state from one CPU's caches to the other's and wakes a sleeping
thread there. For a quick CPU-bound run() (the how-to script's pandas run() of about a
millisecond, in ``bench/server.py``) that was a fifth to a third of the worker's CPU per
request. Calling run() on the event
loop's thread avoids it, but the loop answers nothing else (health, metrics, other requests)
until run() returns.

``Runner`` with ``threads=None`` (the server's default: one call at a time) chooses. While
run() is quick it is called on the loop: a call shorter than the GIL's switch interval
(``sys.getswitchinterval()``, 5 ms) holds the loop up no longer than a CPU-bound run() on a
pool thread would, since that thread keeps the GIL for a whole interval before the loop gets a
turn. Once run() is slow (the running mean of its wall-clock time on the loop passes the
interval) calls go to the pool thread, so the loop stays responsive. Times measured there
cannot say whether run() has become quick again: on the pool thread they include the waits for
the GIL that the loop's own work causes. So after ``probe_seconds`` (10 s, doubling after each
probe that finds run() still slow, up to 5 minutes) one call is made on the loop again, once
the pool has finished its calls, and its time decides. Never more than one run() at a time
either way. With ``threads=0`` every call is made on the loop, with ``threads=N`` every call on
a pool of N threads.
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
_MAX_PROBE_SECONDS = 300.0


class Runner:
    """Calls run() on the event loop's thread or on a pool thread (see the module docstring)."""

    def __init__(
        self,
        threads: int | None,
        *,
        quick_seconds: float | None = None,
        probe_seconds: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``threads``: None for one call at a time, placed per the module docstring; 0 for
        every call on the loop; N for every call on a pool of N threads. ``clock`` (seconds)
        times calls and probes; tests inject one."""
        self._clock = clock
        self.adaptive = threads is None
        self.quick_seconds = sys.getswitchinterval() if quick_seconds is None else quick_seconds
        self.probe_seconds = probe_seconds
        size = 1 if threads is None else threads
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="modeltap-run") if size else None
        self.typical_seconds = 0.0
        """Running mean of run()'s wall-clock time on the loop (adaptive runners only)."""
        self.calls_on_loop = 0
        self.calls_on_pool = 0
        self._loop_chosen = self.pool is None or self.adaptive
        self._probing = False
        self._probe_wait = probe_seconds
        self._probe_at = 0.0
        self._on_pool = 0  # calls handed to the pool and not yet returned
        self._pool_idle = asyncio.Event()
        self._pool_idle.set()

    @property
    def on_loop(self) -> bool:
        """Whether calls are now made on the event loop's thread."""
        return self._loop_chosen

    async def call(self, function: Callable[[], T]) -> T:
        """``function()``, on the loop's thread or a pool thread; its exception propagates."""
        if self.pool is None:
            self.calls_on_loop += 1
            return function()
        if not self.adaptive:
            return await self._on_pool_thread(function)
        if not self._loop_chosen and self._clock() >= self._probe_at:
            # probe: is run() quick again? From a mean halfway to the limit one call decides
            # unless it is a little slow: then a few more on the loop do
            self._loop_chosen = self._probing = True
            self.typical_seconds = self.quick_seconds / 2
        while self._loop_chosen and self._on_pool:
            await self._pool_idle.wait()  # one run() at a time: the pool's calls finish first
        if not self._loop_chosen:
            return await self._on_pool_thread(function)
        self.calls_on_loop += 1
        started = self._clock()
        try:
            return function()
        finally:
            self._observe(self._clock() - started)

    async def _on_pool_thread(self, function: Callable[[], T]) -> T:
        assert self.pool is not None
        self.calls_on_pool += 1
        self._on_pool += 1
        self._pool_idle.clear()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, function)
        finally:
            self._on_pool -= 1
            if not self._on_pool:
                self._pool_idle.set()

    def _observe(self, seconds: float) -> None:
        # from zero at start: one slow first call (a cold start) moves the mean a tenth
        self.typical_seconds += (seconds - self.typical_seconds) * _WEIGHT
        probing, self._probing = self._probing, False
        if self.typical_seconds < self.quick_seconds:
            if probing:
                self._probe_wait = self.probe_seconds  # a probe found run() quick
            return
        self._loop_chosen = False
        self._probe_at = self._clock() + self._probe_wait
        self._probe_wait = min(self._probe_wait * 2, _MAX_PROBE_SECONDS)

    def shutdown(self) -> None:
        """Stop the pool (calls in flight finish on their own)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False)
