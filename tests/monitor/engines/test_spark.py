"""The Spark engine passes the engine conformance suite on a shared ``local[2]`` session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modeltap.monitor.engines import Engine
from modeltap.monitor.engines.spark import SparkEngine
from tests.monitor.engines.conformance import EngineConformance

pytestmark = pytest.mark.integration  # a JVM (pyspark)


class TestSparkEngine(EngineConformance):
    """The conformance suite on the Spark engine."""

    @pytest.fixture
    def engine(self, spark_session: Any) -> Iterator[Engine]:
        """A Spark engine on the shared session (left running after the test)."""
        with SparkEngine(session=spark_session) as opened:
            yield opened
