"""Control items that travel the queue beside events: a flush and a stop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["FlushRequest", "StopRequest"]


@dataclass
class FlushRequest:
    """Close every open segment and signal once everything before it is committed."""

    done: threading.Event = field(default_factory=threading.Event)
    waits_for: int = -1
    incomplete: bool = False
    """Set before ``done`` when it ended without everything committed (a writer process gave
    up its stop, or was killed)."""


@dataclass
class StopRequest:
    """Flush, then end the writer thread."""

    flush: FlushRequest = field(default_factory=FlushRequest)
