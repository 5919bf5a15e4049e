"""Runner: run() on the event loop while it is quick, on a pool thread once it is slow."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from modeltap.server.runner import Runner


class FakeClock:
    """A clock that moves only when a call says it took time: a loaded machine cannot make a
    quick call look slow."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        """The current time, in seconds."""
        return self.now


def _work(
    seconds: float, seen: list[str], running: list[int], clock: FakeClock | None = None
) -> Callable[[], str]:
    """A call that takes ``seconds`` (of ``clock``'s time, else of wall time), notes its thread
    and how many ran at once."""

    def function() -> str:
        running[0] += 1
        running[1] = max(running[1], running[0])
        if clock is None:
            time.sleep(seconds)
        else:
            clock.now += seconds
        running[0] -= 1
        seen.append(threading.current_thread().name)
        return threading.current_thread().name

    return function


def test_quick_calls_run_on_the_event_loop_thread() -> None:
    """A quick run() is called on the loop's own thread, one call at a time."""
    seen: list[str] = []
    running = [0, 0]
    runner = Runner(None, quick_seconds=0.05)

    async def main() -> str:
        await asyncio.gather(*(runner.call(_work(0.0, seen, running)) for _ in range(20)))
        return threading.current_thread().name

    loop_thread = asyncio.run(main())
    runner.shutdown()
    assert seen == [loop_thread] * 20
    assert (runner.calls_on_loop, runner.calls_on_pool, running[1]) == (20, 0, 1)


def test_slow_calls_move_to_the_pool_and_a_probe_brings_quick_ones_back() -> None:
    """Once run()'s mean on the loop passes the limit calls go to the pool thread, one at a
    time; when run() is quick again, a probe on the loop (after probe_seconds) brings them back."""
    seen: list[str] = []
    running = [0, 0]
    clock = FakeClock()
    runner = Runner(None, quick_seconds=0.004, probe_seconds=0.2, clock=clock)

    async def main() -> None:
        for _ in range(3):  # sequential slow calls: the first on the loop, then the pool
            await runner.call(_work(0.05, seen, running, clock))
        slow = [runner.call(_work(0.02, seen, running, clock)) for _ in range(4)]
        await asyncio.gather(*slow)  # concurrent while on the pool: still one at a time
        deadline = clock.now + 0.5
        while clock.now < deadline:
            quick = (runner.call(_work(0.001, seen, running, clock)) for _ in range(3))
            await asyncio.gather(*quick)

    asyncio.run(main())
    runner.shutdown()
    assert seen[0] == "MainThread"
    assert all(name.startswith("modeltap-run") for name in seen[1:7])
    quick = seen[7:]
    assert quick[0].startswith("modeltap-run")  # before the probe: still on the pool
    assert quick[-30:] == ["MainThread"] * 30  # after it: back on the loop
    assert running[1] == 1
    assert runner.on_loop and runner.typical_seconds < 0.004


def test_one_slow_first_call_does_not_move_run_off_the_loop() -> None:
    """A cold first call ten times the limit leaves calls on the loop; later slow ones move them."""
    seen: list[str] = []
    running = [0, 0]
    clock = FakeClock()
    runner = Runner(None, quick_seconds=0.004, clock=clock)

    async def main() -> None:
        await runner.call(_work(0.03, seen, running, clock))
        for _ in range(3):
            await runner.call(_work(0.0, seen, running, clock))
        for _ in range(3):
            await runner.call(_work(0.03, seen, running, clock))

    asyncio.run(main())
    runner.shutdown()
    assert seen[:5] == ["MainThread"] * 5
    assert seen[5].startswith("modeltap-run")


def test_a_probe_that_finds_run_still_slow_waits_twice_as_long() -> None:
    """A probe that finds run() still slow sends calls back to the pool and doubles the wait
    before the next probe."""
    seen: list[str] = []
    running = [0, 0]
    clock = FakeClock()
    runner = Runner(None, quick_seconds=0.004, probe_seconds=0.1, clock=clock)

    async def main() -> None:
        while clock.now < 0.65:
            await runner.call(_work(0.05, seen, running, clock))

    asyncio.run(main())
    runner.shutdown()
    on_loop = [i for i, name in enumerate(seen) if name == "MainThread"]
    # the first call, then probes after 0.1 s and 0.2 s more (0.4 s more would pass the end)
    assert len(on_loop) == 3, seen
    assert on_loop[0] == 0 and not runner.on_loop


def test_fixed_placements_do_not_adapt() -> None:
    """threads=0 always calls on the loop, threads=2 always on the pool (two at once)."""
    seen: list[str] = []
    running = [0, 0]
    on_loop, pooled = Runner(0), Runner(2)

    async def main() -> None:
        await asyncio.gather(*(on_loop.call(_work(0.01, seen, running)) for _ in range(3)))
        await asyncio.gather(*(pooled.call(_work(0.05, seen, running)) for _ in range(4)))

    asyncio.run(main())
    pooled.shutdown()
    assert seen[:3] == ["MainThread"] * 3
    assert all(name.startswith("modeltap-run") for name in seen[3:])
    assert (on_loop.adaptive, pooled.adaptive, on_loop.calls_on_loop, pooled.calls_on_pool) == (
        False, False, 3, 4
    )
    assert running[1] == 2


def test_a_failing_call_raises_and_still_counts_its_time() -> None:
    """run()'s exception reaches the caller, on the loop and on the pool, and the call's time
    still moves the mean."""
    clock = FakeClock()
    runner = Runner(None, quick_seconds=0.004, clock=clock)

    def fail() -> None:
        clock.now += 0.05
        raise ValueError("bad input")

    async def main() -> None:
        with pytest.raises(ValueError, match="bad input"):
            await runner.call(fail)  # on the loop
        with pytest.raises(ValueError, match="bad input"):
            await runner.call(fail)  # now slow: on the pool

    asyncio.run(main())
    runner.shutdown()
    assert (runner.calls_on_loop, runner.calls_on_pool) == (1, 1)
    assert runner.typical_seconds > 0.004
