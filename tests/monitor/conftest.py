"""Monitor test fixtures: the one SparkSession the Spark tests share (``local[2]``, started once
per test run).

Spark tests are ``integration`` tests (a JVM); they are skipped, saying why, only when pyspark
or a Java runtime is missing."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from modeltap.errors import MissingDependencyError

SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}

DRIFT_THRESHOLDS: dict[str, dict[str, float]] = {
    "numerical": {
        "jensen_shannon_distance": 0.1,
        "normalized_wasserstein_distance": 0.1,
        "population_stability_index": 0.1,
        "two_sample_kolmogorov_smirnov_test": 0.05,
        "chebyshev_distance": 0.1,
    },
    "categorical": {
        "jensen_shannon_distance": 0.1,
        "pearsons_chi_squared_test": 0.05,
        "population_stability_index": 0.1,
        "chebyshev_distance": 0.1,
    },
}
"""Every drift metric with a threshold: 0.1 for the distances and PSI, 0.05 for the tests."""


def spark_skip_reason() -> str | None:
    """Why the Spark tests cannot run here (None: they can)."""
    from modeltap.monitor.engines.spark import find_java

    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install "modeltap[spark]")'
    try:
        find_java()
    except MissingDependencyError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """A ``local[2]`` pyspark SparkSession for the whole test run, stopped at the end."""
    reason = spark_skip_reason()
    if reason is not None:
        pytest.skip(f"Spark tests skipped: {reason}")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("modeltap-tests")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
