"""Monitor engines: the interface and the embedded (DuckDB) engine."""

from __future__ import annotations

from modeltap.monitor.engines.base import Engine, JoinSpec, Side
from modeltap.monitor.engines.embedded import EmbeddedEngine

__all__ = ["EmbeddedEngine", "Engine", "JoinSpec", "Side"]
