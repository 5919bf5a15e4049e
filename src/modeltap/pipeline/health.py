"""Whether the writer can write to its spool: failures and recovery, logged once each.

Any ``OSError`` of a spool file operation (no space, no inodes, too many open files, file too
large, an I/O error) puts the writer in the *failing* state: the events it could not write are
dropped and counted (``write_error``), the state shows in ``stats()`` and ``/metrics``
(``spool_write_failing``) and makes the scoring server not ready. The writer keeps running: every
later event is tried again, and while it fails, a probe file as large as the write that failed
(at most 1 MiB) is written on every tick, so the state clears once the condition does, with or
without traffic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["SpoolHealth"]

logger = logging.getLogger("modeltap.writer")

_REMIND_EVERY = 60.0  # seconds between two log lines while writing keeps failing
_PROBE_MAX_BYTES = 1 << 20  # the probe writes what failed last, up to this much


class SpoolHealth:
    """The failing / working state of one writer's spool (the writer's thread only)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failing_since: float | None = None
        self.dropped = 0  # events lost while failing, for the recovery's log line
        self.failed_bytes = 0  # the size of the last write that failed, for the probe
        self._reminded = 0.0

    @property
    def failing(self) -> bool:
        """Whether the last spool operation failed."""
        return self.failing_since is not None

    def failed(self, error: OSError, what: str, dropped: int, size: int = 1) -> None:
        """A spool operation (``what``, writing ``size`` bytes) failed, losing ``dropped``
        events."""
        now = self._clock()
        self.failed_bytes = min(size, _PROBE_MAX_BYTES)
        if self.failing_since is None:
            self.failing_since = self._reminded = now
            self.dropped = dropped
            logger.error(
                "cannot write to the spool (%s): %s; events are dropped and counted as "
                "write_error, and the server is not ready, until it works again (retried "
                "with every event and every tick)",
                what,
                error,
            )
            return
        self.dropped += dropped
        if now - self._reminded >= _REMIND_EVERY:
            self._reminded = now
            logger.error(
                "the spool still cannot be written after %.0f s (%s: %s); %d event(s) dropped "
                "so far",
                now - self.failing_since,
                what,
                error,
                self.dropped,
            )

    def worked(self) -> None:
        """A spool operation succeeded: leave the failing state (logged once)."""
        if self.failing_since is None:
            return
        logger.warning(
            "writing to the spool works again after %.1f s; %d event(s) were dropped "
            "meanwhile (write_error)",
            self._clock() - self.failing_since,
            self.dropped,
        )
        self.failing_since = None
        self.dropped = 0
