"""Signals over in-memory sides: histograms cut to the top 100, the alert message, breaches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.monitor.aggregates import ColumnCounts
from modeltap.monitor.definition import DataDriftSignal, DataQualitySignal
from modeltap.monitor.engines.base import Side
from modeltap.monitor.signals import OTHER, drift_signal, quality_signal


class TableSide(Side):
    """A side over an in-memory Arrow table (value counts with pyarrow compute)."""

    def __init__(self, table: pa.Table) -> None:
        self.label = "table"
        self._table = table

    @property
    def rows(self) -> int:
        """Rows of the table."""
        return len(self._table)

    @property
    def schema(self) -> dict[str, pa.DataType]:
        """The table's columns."""
        return {f.name: f.type for f in self._table.schema}

    def counts(self, column: str) -> ColumnCounts:
        """Sorted value counts, NaN as null."""
        if column not in self._table.column_names:
            return ColumnCounts.empty(pa.null(), self.rows)
        values = self._table.column(column)
        if pa.types.is_floating(values.type):
            values = pc.if_else(pc.is_nan(values), None, values)
        counted = pc.value_counts(pc.drop_null(values)).flatten()
        order = pc.sort_indices(counted[0])
        distinct, counts = counted[0].take(order), counted[1].take(order)
        n = np.asarray(counts.to_numpy(), dtype=np.int64)
        return ColumnCounts(distinct, n, self.rows - int(n.sum()), values.type)


def test_category_histogram_keeps_top_100_and_other() -> None:
    """Beyond 100 categories the histogram keeps the top 100 and counts the rest as __other__;
    the metric uses every category."""
    reference = TableSide(pa.table({"c": [f"k{i:03d}" for i in range(150)] * 2}))
    production = TableSide(pa.table({"c": [f"k{i:03d}" for i in range(150)] + ["k000"] * 50}))
    signal = DataDriftSignal(type="data_drift")
    result = drift_signal("drift", signal, reference, production)
    histogram = result.histograms
    assert len(histogram) == 101
    assert histogram[0]["category"] == "k000" and histogram[0]["production_count"] == 51
    other = histogram[-1]
    assert other["category"] == OTHER
    assert other["reference_count"] == 2 * 50 and other["production_count"] == 50
    assert sum(h["reference_count"] for h in histogram) == 300
    (js,) = [r for r in result.rows if r["metric_name"] == "jensen_shannon_distance"]
    assert js["data_type"] == "categorical" and js["metric_value"] > 0


def test_alert_message_lists_violations() -> None:
    """A breached signal's message is the platform's sentence followed by the violating rows."""
    reference = TableSide(pa.table({"x": [1.0, 2.0, 3.0, 4.0] * 10}))
    production = TableSide(pa.table({"x": [10.0, 20.0, 30.0, 40.0] * 10}))
    result = drift_signal("d", DataDriftSignal(type="data_drift"), reference, production)
    assert result.status == "breached"
    message = result.message()
    assert message is not None
    first, second = message.split("\n")
    assert first == (
        "The signal 'd' has failed due to one or more features violating metric thresholds."
    )
    assert second.startswith("feature: x, metric: normalized_wasserstein_distance, value: ")
    assert second.endswith("threshold: 0.1")


def test_quality_thresholds_are_relative() -> None:
    """threshold_value is the reference rate plus the threshold; baseline_value the rate."""
    reference = TableSide(pa.table({"x": [1.0, None, 3.0, 4.0]}))
    production = TableSide(pa.table({"x": [1.0, None, None, 4.0]}))
    signal = DataQualitySignal.model_validate(
        {"type": "data_quality", "metric_thresholds": {"numerical": {"null_value_rate": 0.2}}}
    )
    result = quality_signal("q", signal, reference, production)
    (row,) = [r for r in result.rows if r["metric_name"] == "null_value_rate"]
    assert (row["metric_value"], row["baseline_value"]) == (0.5, 0.25)
    assert row["threshold_value"] == 0.45 and row["breached"] is True
    assert result.status == "breached"
