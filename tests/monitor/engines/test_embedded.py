"""The embedded (DuckDB) engine passes the engine conformance suite, and cleans up after itself."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from modeltap.monitor.engines import EmbeddedEngine, Engine
from tests.monitor.engines.conformance import EngineConformance


class TestEmbeddedEngine(EngineConformance):
    """The conformance suite on the embedded engine."""

    @pytest.fixture
    def engine(self) -> Iterator[Engine]:
        """An embedded engine with a small memory limit, closed after the test."""
        with EmbeddedEngine(memory_limit="256MB", threads=1) as opened:
            yield opened


def test_close_removes_the_spill_folder() -> None:
    """Closing the engine removes its temporary folder."""
    engine = EmbeddedEngine()
    folder = engine._folder
    assert os.path.isdir(folder)
    engine.close()
    assert not os.path.exists(folder)
