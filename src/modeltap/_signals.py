"""A graceful stop of a uvicorn server exits 0."""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["quiet_stop_signals"]


def quiet_stop_signals() -> None:
    """Make SIGTERM and SIGINT no-ops until uvicorn installs its own handlers.

    uvicorn re-raises the stop signal after its graceful shutdown, with the handlers it found at
    start restored: with these no-ops a graceful stop exits 0, not "killed by SIGTERM"."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The stop signal, seen again after uvicorn's graceful shutdown: nothing left to do."""
