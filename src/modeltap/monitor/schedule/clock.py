"""The scheduler's clock: the system clock, or one a test drives."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the scheduler asks of time."""

    def now(self) -> dt.datetime:
        """The current time, aware, UTC."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; True when stopped."""


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        """``datetime.now(UTC)``."""
        return dt.datetime.now(dt.UTC)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """``stop.wait(seconds)``."""
        return stop.wait(max(seconds, 0.0))
