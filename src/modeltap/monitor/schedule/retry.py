"""How a failed window is retried: a few attempts with exponential backoff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all; attempt ``n`` waits ``first * factor**(n-1)`` (at most ``longest``)
    after attempt ``n`` failed."""

    attempts: int = 4
    first: dt.timedelta = dt.timedelta(minutes=1)
    factor: float = 2.0
    longest: dt.timedelta = dt.timedelta(hours=1)

    def delay(self, failed_attempt: int) -> dt.timedelta:
        """The wait after attempt ``failed_attempt`` failed."""
        return min(self.first * self.factor ** max(failed_attempt - 1, 0), self.longest)
