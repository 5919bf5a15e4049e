"""The Spark engine passes the engine conformance suite on a shared ``local[2]`` session, and
the driver receives only aggregates."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from modeltap.cli import main
from modeltap.monitor.engines import Engine
from modeltap.monitor.engines.spark import SparkEngine
from tests.monitor.engines.conformance import EngineConformance

pytestmark = pytest.mark.integration  # a JVM (pyspark)
pyspark_sql = pytest.importorskip(
    "pyspark.sql", reason='pyspark is not installed: "modeltap[spark]"'
)
DataFrame, Row = pyspark_sql.DataFrame, pyspark_sql.Row
AT = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)


class TestSparkEngine(EngineConformance):
    """The conformance suite on the Spark engine."""

    @pytest.fixture
    def engine(self, spark_session: Any) -> Iterator[Engine]:
        """A Spark engine on the shared session (left running after the test)."""
        with SparkEngine(session=spark_session) as opened:
            yield opened


def _plan_root(frame: DataFrame) -> str:
    """The operators at the top of a DataFrame's optimized plan (Sort, Aggregate, ...)."""
    plan = frame._jdf.queryExecution().optimizedPlan()
    names = [str(plan.nodeName())]
    while names[-1] in ("Sort", "Project", "Filter") and plan.children().size() == 1:
        plan = plan.children().apply(0)
        names.append(str(plan.nodeName()))
    return "/".join(names)


def test_the_driver_only_receives_aggregates(
    spark_session: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A monitor run through the CLI (--engine spark) brings to the driver only aggregate
    results (every collected plan ends in an Aggregate), far fewer rows than the window holds."""
    rows = 60_000
    rng = np.random.default_rng(7)
    for name, shift in (("reference", 0.0), ("production", 0.5)):
        table = pa.table(
            {
                "x": rng.normal(shift, 1.0, rows).round(1),  # ~100 distinct values
                "city": rng.choice(["a", "b", "c"], rows),
                "time": pa.array([AT - dt.timedelta(minutes=30)] * rows, pa.timestamp("us", "UTC")),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet")
    definition = {
        "name": "driver",
        "create_monitor": {
            "monitoring_signals": {
                kind: {
                    "type": kind,
                    "production_data": {
                        "input_data": {"path": str(tmp_path / "production.parquet")},
                        "data_window": {"lookback_window_size": "PT1H"},
                    },
                    "reference_data": {"input_data": {"path": str(tmp_path / "reference.parquet")}},
                }
                for kind in ("data_drift", "data_quality")
            }
        },
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(definition))
    collected: list[tuple[str, int]] = []
    frames = type(spark_session.range(1))  # the DataFrame class of the session (classic)
    to_arrow, collect = frames.toArrow, frames.collect

    def recording_to_arrow(self: DataFrame) -> pa.Table:
        table = to_arrow(self)
        collected.append((_plan_root(self), table.num_rows))
        return table

    def recording_collect(self: DataFrame) -> list[Row]:
        found = collect(self)
        collected.append((_plan_root(self), len(found)))
        return found

    monkeypatch.setattr(frames, "toArrow", recording_to_arrow)
    monkeypatch.setattr(frames, "collect", recording_collect)
    for method in ("toPandas", "toLocalIterator", "take", "head", "tail"):
        monkeypatch.setattr(frames, method, lambda self, *a, **k: pytest.fail("raw rows"))
    code = main(
        ["monitor", "run", "-f", str(path), "--at", AT.isoformat(), "-d", str(tmp_path),
         "--engine", "spark", "--format", "json"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 3, out  # x drifted
    assert json.loads(out)["engine"] == "spark"
    assert collected, "nothing was collected"
    for root, _ in collected:
        assert "Aggregate" in root, root
    assert sum(n for _, n in collected) < rows // 50
