"""Custom signals through modeltap.monitor.run: thresholds and breaches added to the user's
rows; bad output and exceptions fail only that signal; the example in examples/monitor runs."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap
import modeltap.monitor
from modeltap.cli import main as cli_main
from tests.conftest import EXAMPLES
from tests.monitor.custom import functions

AT = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)
COMPONENT = "tests.monitor.custom.functions"


def _write(path: Path, values: list[float | None], hours_before: int = 0) -> str:
    """A Parquet file with column ``x`` and times half an hour before AT - hours_before."""
    moment = AT - dt.timedelta(hours=hours_before, minutes=30)
    table = pa.table(
        {
            "x": pa.array(values, pa.float64()),
            "time": pa.array([moment] * len(values), pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    return str(path)


def _signal(tmp_path: Path, function: str, **extra: Any) -> dict[str, Any]:
    """A custom signal over production.parquet (written beforehand)."""
    return {
        "type": "custom",
        "component": f"{COMPONENT}:{function}",
        "production_data": {
            "input_data": {"path": str(tmp_path / "production.parquet")},
            "data_window": {"lookback_window_size": "PT1H"},
        },
        **extra,
    }


def _definition(tmp_path: Path, **signals: dict[str, Any]) -> dict[str, Any]:
    """A monitor with these signals, results under tmp_path/store."""
    _write(tmp_path / "production.parquet", [1.0, 2.0, 3.0, 6.0])
    return {
        "name": "custom",
        "destination": str(tmp_path / "store"),
        "create_monitor": {"monitoring_signals": signals},
    }


def test_rows_thresholds_and_breaches(tmp_path: Path) -> None:
    """The function gets both windows as tables and its params; rows get thresholds (higher is
    worse by default, or lower) and are stored with feature_name = group."""
    reference = _write(tmp_path / "reference.parquet", [1.0, 1.0], hours_before=5)
    signal = _signal(
        tmp_path,
        "mean_and_rows",
        reference_data={
            "input_data": {"path": reference},
            "data_window": {"lookback_window_size": "PT1H", "lookback_window_offset": "PT5H"},
        },
        params={"column": "x"},
        metric_thresholds=[
            {"metric_name": "mean", "threshold": 2.5},
            {"metric_name": "rows", "threshold": 10, "higher_is_worse": False},
        ],
    )
    functions.CALLS.clear()
    run = modeltap.monitor.run(_definition(tmp_path, mean=signal), at=AT)
    call = functions.CALLS[-1]
    assert (call["production"], call["reference"].num_rows, call["column"]) == (4, 2, "x")
    rows = run.metrics.set_index(["group", "metric_name"])
    assert rows.loc[("production", "mean"), "metric_value"] == 3.0
    assert rows.loc[("production", "mean"), "breached"]
    assert not rows.loc[("reference", "mean"), "breached"]
    assert rows.loc[("", "rows"), "breached"]  # 4 rows < 10: lower is worse
    assert rows.loc[("reference", "mean"), "feature_name"] == "reference"
    assert set(run.metrics.signal_type) == {"custom"}
    assert set(run.metrics.group_dimension) == {""}
    assert run.signals["mean"]["status"] == "breached"
    assert run.signals["mean"]["reference_row_count"] == 2
    stored = pq.read_table(Path(run.path) / "metrics.parquet").to_pandas()
    assert sorted(stored.metric_name) == ["mean", "mean", "rows"]


def test_pandas_and_polars_output_without_reference(tmp_path: Path) -> None:
    """pandas and polars results are accepted; group_dimension is kept; a metric without a
    threshold never breaches; reference is None without reference_data."""
    run = modeltap.monitor.run(
        _definition(
            tmp_path,
            pandas=_signal(
                tmp_path, "as_pandas", metric_thresholds=[{"metric_name": "hits", "threshold": 5}]
            ),
            polars=_signal(tmp_path, "as_polars"),
        ),
        at=AT,
    )
    pandas_rows = run.metrics[run.metrics.signal_name == "pandas"]
    assert pandas_rows.group_dimension.tolist() == ["zone", "zone"]
    assert pandas_rows.breached.tolist() == [False, True]
    polars_rows = run.metrics[run.metrics.signal_name == "polars"]
    assert polars_rows.metric_value.tolist() == [0.25]
    assert math.isnan(polars_rows.threshold_value.iloc[0])
    assert run.signals["polars"]["status"] == "ok"
    assert run.signals["pandas"]["reference_row_count"] == 0


@pytest.mark.parametrize("function", ["nan_pandas", "nan_polars", "nan_arrow"])
def test_nan_value_is_kept_and_never_breaches(tmp_path: Path, function: str) -> None:
    """A NaN metric_value from pandas, polars or pyarrow is stored as NaN and does not breach
    (nor fail the signal), while the number beside it is compared with the threshold."""
    signal = _signal(
        tmp_path, function, metric_thresholds=[{"metric_name": "score", "threshold": 0.1}]
    )
    run = modeltap.monitor.run(_definition(tmp_path, nan=signal), at=AT)
    assert run.signals["nan"]["status"] == "breached"
    rows = run.metrics.set_index("group")
    assert rows.loc["x", "metric_value"] == 0.5
    assert rows.loc["x", "breached"]
    assert math.isnan(rows.loc["y", "metric_value"])
    assert not rows.loc["y", "breached"]
    stored = pq.read_table(Path(run.path) / "metrics.parquet")
    assert stored.column("metric_value").null_count == 0


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        ("missing_column", "returned no column 'metric_value' (it has: group, metric_name, value)"),
        ("text_values", "metric_value must be numbers; it holds string (e.g. 'high')"),
        ("duplicate_rows", "(group, metric_name) = ('x', 'score') appears more than once"),
        ("not_a_table", "returned dict: return a pyarrow Table, a pandas or a polars DataFrame"),
        ("raises", "raised KeyError: \"no column 'prompt'\""),
        ("null_value", "metric_value has 1 empty value(s): give a number (NaN for a value"),
        ("null_name", "column 'metric_name' has 1 empty value(s)"),
        ("number_groups", "column 'group' holds double, not text"),
    ],
)
def test_bad_output_fails_only_that_signal(tmp_path: Path, function: str, problem: str) -> None:
    """Bad output or an exception: the signal is failed with an error naming the function and
    the problem; the other signal completes; the run is failed."""
    definition = _definition(
        tmp_path,
        bad=_signal(tmp_path, function),
        good=_signal(tmp_path, "as_polars"),
    )
    run = modeltap.monitor.run(definition, at=AT)
    bad = run.signals["bad"]
    assert bad["status"] == "failed"
    assert bad["error"].startswith(f"custom signal function {COMPONENT}:{function}")
    assert problem in bad["error"]
    assert run.signals["good"]["status"] == "ok"
    assert run.status == "failed"
    info = json.loads((Path(run.path) / "run.json").read_text())
    assert info["signals"]["bad"]["error"] == bad["error"]


def test_failed_custom_signal_exits_1(tmp_path: Path) -> None:
    """``modeltap monitor run`` exits 1 when a custom signal failed."""
    definition = _definition(tmp_path, bad=_signal(tmp_path, "raises"))
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(definition), encoding="utf-8")
    with redirect_stdout(io.StringIO()):
        status = cli_main(["monitor", "run", "-f", str(path), "--at", "2024-05-08T12:00:00Z"])
    assert status == 1


def test_empty_production_is_no_data(tmp_path: Path) -> None:
    """No production rows in the window: no_data, the function is not called."""
    definition = _definition(tmp_path, rows=_signal(tmp_path, "raises"))
    run = modeltap.monitor.run(definition, at=AT + dt.timedelta(days=1))
    assert run.signals["rows"]["status"] == "no_data"


def test_example_empty_inputs_signal(data_dir: Path) -> None:
    """examples/monitor/custom-signal.yaml on collected inputs, half of them empty: the share
    of all-empty requests (0.5) breaches its 0.05 threshold."""
    modeltap.configure(
        {
            "endpoint_name": "credit-endpoint",
            "name": "blue",
            "data_collector": {"destination": str(data_dir), "fsync": "never"},
        }
    )
    try:
        inputs = modeltap.Collector(name="model_inputs")
        inputs.collect(
            pd.DataFrame({"age": [31, None, 44, None], "income": [52.5, None, 61.0, float("nan")]})
        )
        assert modeltap.flush(timeout=30)
    finally:
        modeltap.shutdown(timeout=30)
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    run = modeltap.monitor.run(
        EXAMPLES / "monitor" / "custom-signal.yaml", at=at, destination=str(data_dir)
    )
    rows = run.metrics.set_index("group")
    assert rows.loc["all_inputs", "metric_value"] == 0.5
    assert rows.loc["all_inputs", "group_dimension"] == "row"
    assert rows.loc["age", "metric_value"] == 0.5
    assert run.signals["empty-inputs"]["status"] == "breached"


def test_alert_enabled_is_recorded(tmp_path: Path) -> None:
    """alert_enabled: false reaches run.json for a custom signal and for a built-in beside it."""
    definition = _definition(tmp_path, custom=_signal(tmp_path, "as_polars", alert_enabled=False))
    definition["create_monitor"]["monitoring_signals"]["quality"] = {
        "type": "data_quality",
        "production_data": _signal(tmp_path, "as_polars")["production_data"],
        "reference_data": {"input_data": {"path": str(tmp_path / "production.parquet")}},
        "alert_enabled": False,
    }
    run = modeltap.monitor.run(definition, at=AT)
    info = json.loads((Path(run.path) / "run.json").read_text())
    assert info["signals"]["custom"]["alert_enabled"] is False
    assert info["signals"]["quality"]["alert_enabled"] is False
