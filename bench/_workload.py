"""Workloads shared by both sides of the collector benchmark.

Imported by the modeltap worker and by the reference worker (which runs in its own venv), so it
uses only the standard library, numpy and pandas. Every loop is bounded in count and in time.
Both sides get the same garbage-collector treatment from here: ``FullGcWatch`` records the full
collections during a timed burst, ``freeze_heap`` freezes the worker's heap when the spec asks.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLLECTION",
    "WARMUP_COLLECTION",
    "FullGcWatch",
    "burst",
    "freeze_heap",
    "lead_in",
    "make_frame",
    "paced",
    "summarize_ns",
    "tight_loop",
    "write_result",
]

COLLECTION = "model_inputs"
WARMUP_COLLECTION = "warmup"

Collect = Callable[[pd.DataFrame], Any]


def make_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """A deterministic scoring frame: 4 float, 3 int and 3 str columns."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(4):
        data[f"f{i}"] = rng.normal(size=rows)
    for i in range(3):
        data[f"i{i}"] = rng.integers(0, 1_000_000, size=rows, dtype=np.int64)
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    for i in range(3):
        picks = rng.integers(0, len(words), size=rows)
        data[f"s{i}"] = [f"{words[p]}-{n}" for p, n in zip(picks, range(rows), strict=True)]
    return pd.DataFrame(data)


def summarize_ns(samples: list[int]) -> dict[str, float]:
    """Median, p99 and max of nanosecond samples, in microseconds."""
    if not samples:
        return {"median_us": float("nan"), "p99_us": float("nan"), "max_us": float("nan")}
    ordered = sorted(samples)
    n = len(ordered)
    p99_index = min(n - 1, max(0, int(np.ceil(0.99 * n)) - 1))
    return {
        "median_us": float(np.median(ordered)) / 1_000,
        "p99_us": ordered[p99_index] / 1_000,
        "max_us": ordered[-1] / 1_000,
    }


def lead_in(
    collect: Collect, frame: pd.DataFrame, calls: int, busy: Callable[[], bool], timeout: float
) -> bool:
    """Untimed calls that give the writer a backlog, then wait (bounded) until ``busy()`` says
    it has started on it. Returns whether it did."""
    for _ in range(calls):
        collect(frame)
    deadline = time.monotonic() + timeout
    while not busy():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


def burst(collect: Collect, frame: pd.DataFrame, count: int) -> list[int]:
    """``count`` back-to-back calls, each timed with perf_counter_ns; the nanoseconds of each."""
    clock = time.perf_counter_ns
    samples = [0] * count
    for i in range(count):
        start = clock()
        collect(frame)
        samples[i] = clock() - start
    return samples


class FullGcWatch:
    """Records the full (generation 2) collections of this process while installed, from any
    thread: their count, the longest and the total, timed from gc's "start" to its "stop"
    callback. Install it around the timed part only: ``with FullGcWatch() as gcs: ...``."""

    def __init__(self) -> None:
        self.count = 0
        self.longest_ns = 0
        self.total_ns = 0
        self._started: int | None = None
        self._callback = self._on_gc  # one bound method, so remove() finds what append() added

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter_ns()
        elif phase == "stop" and self._started is not None:
            took = time.perf_counter_ns() - self._started
            self._started = None
            self.count += 1
            self.total_ns += took
            self.longest_ns = max(self.longest_ns, took)

    def __enter__(self) -> FullGcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def result(self) -> dict[str, Any]:
        """``full_gcs``, ``longest_gc_ms`` and ``total_gc_ms`` for a worker's result."""
        return {
            "full_gcs": self.count,
            "longest_gc_ms": self.longest_ns / 1e6,
            "total_gc_ms": self.total_ns / 1e6,
        }


def freeze_heap(spec: dict[str, Any]) -> int:
    """If ``spec["freeze"]``: ``gc.collect(); gc.freeze()``, as a latency-tuned server does after
    start-up (``modeltap serve`` does), so later collections skip everything alive now. Returns
    how many objects are frozen (0 when not asked)."""
    if not spec.get("freeze"):
        return 0
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def tight_loop(
    collect: Collect, frame: pd.DataFrame, max_frames: int, max_seconds: float
) -> tuple[int, float, float]:
    """Call collect() back to back until ``max_frames`` or ``max_seconds``.
    Returns (calls, monotonic start, monotonic end)."""
    start = time.monotonic()
    deadline = start + max_seconds
    sent = 0
    while sent < max_frames:
        collect(frame)
        sent += 1
        if sent % 64 == 0 and time.monotonic() >= deadline:
            break
    return sent, start, time.monotonic()


def paced(
    collect: Collect, frame: pd.DataFrame, rate: float, seconds: float, grace: float = 0.5
) -> tuple[int, float, float]:
    """Call collect() at ``rate`` calls/s from this thread for ``seconds``: each call is issued
    once its slot is due, sleeping in between. Gives up ``grace`` × ``seconds`` past the end if
    the caller cannot keep up. Returns (calls, monotonic start, monotonic end of the last call)."""
    total = round(rate * seconds)
    start = time.monotonic()
    give_up = start + seconds * (1.0 + grace)
    sent = 0
    while sent < total:
        now = time.monotonic()
        if now >= give_up:
            break
        due = start + sent / rate
        if now < due:
            time.sleep(due - now)
        collect(frame)
        sent += 1
    end = max(time.monotonic(), start + sent / rate)
    return sent, start, end


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write a worker's result as JSON (stdout is left to the libraries' own logging)."""
    Path(path).write_text(json.dumps(result), encoding="utf-8")
