"""``modeltap monitor``: the how-to scoring script collects two windows with a known shift, the
monitor finds it, stores it, and reads it back; delayed ground truth gives model performance."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.cli import main
from tests.conftest import EXAMPLES, ConfigureTap, load_script

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run the CLI; (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _boundary() -> dt.datetime:
    """Now, between two batches of collected data: record times are kept to the millisecond,
    so the 2 ms pause keeps the later batch's times at or after the boundary."""
    time.sleep(0.002)
    now = dt.datetime.now(dt.UTC)
    time.sleep(0.002)
    return now


def _seconds(value: dt.timedelta) -> str:
    """An exact ISO 8601 duration in seconds (microseconds kept)."""
    return f"PT{value.total_seconds():.6f}S"


def _run_time(after: dt.datetime) -> dt.datetime:
    """The whole second after ``after`` (a run's windows end on a whole second)."""
    return after.replace(microsecond=0) + dt.timedelta(seconds=1)


def _score(script: Any, rng: np.random.Generator, shift: float, cities: list[str]) -> None:
    """Five requests of 40 rows through the scoring script's run()."""
    for _ in range(5):
        data = {
            "age": list(range(20, 60)),  # the same in both windows: no drift
            "income": rng.normal(50 + shift, 10, 40).round(2).tolist(),
            "city": rng.choice(cities, 40).tolist(),
        }
        script.run(json.dumps({"data": data}))


def _signal(
    kind: str,
    collection: str,
    start: dt.datetime,
    end: dt.datetime,
    size: dt.timedelta,
    offset: dt.timedelta = dt.timedelta(0),
) -> dict[str, Any]:
    """A signal over a collection: production the ``size`` before the run (``offset`` before
    it), reference [start, end)."""
    window = {"lookback_window_size": _seconds(size), "lookback_window_offset": _seconds(offset)}
    return {
        "type": kind,
        "production_data": {
            "input_data": {"path": f"azureml:ep-dep-{collection}@latest", "type": "uri_folder"},
            "data_context": collection,
            "data_window": window,
        },
        "reference_data": {
            "input_data": {"path": f"ep-dep-{collection}:1", "type": "uri_folder"},
            "data_context": collection,
            "data_window": {"window_start": start.isoformat(), "window_end": end.isoformat()},
        },
    }


@pytest.fixture
def shifted(configure_tap: ConfigureTap, data_dir: Path) -> tuple[dt.datetime, dt.datetime]:
    """A reference window and a production window whose income and city shifted; returns
    (start of the reference, start of production)."""
    configure_tap()
    script = load_script(EXAMPLES / "score.py")
    script.init()
    rng = np.random.default_rng(11)
    start = _boundary()
    _score(script, rng, 0.0, ["paris", "lyon", "nice"])
    assert modeltap.flush(timeout=30)
    middle = _boundary()
    _score(script, rng, 40.0, ["paris", "lille"])
    assert modeltap.flush(timeout=30)
    return start, middle


def test_monitor_run_finds_the_shift(
    shifted: tuple[dt.datetime, dt.datetime],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Drift and quality breach (exit 3), results are stored, history and list read them."""
    start, middle = shifted
    at = _run_time(dt.datetime.now(dt.UTC))
    size = at - middle
    definition = {
        "name": "credit",
        "trigger": {"type": "recurrence", "frequency": "hour", "interval": 1},
        "create_monitor": {
            "monitoring_target": {"ml_task": "regression", "endpoint_deployment_id": "ep:dep"},
            "monitoring_signals": {
                "drift": _signal("data_drift", "model_inputs", start, middle, size),
                "prediction": _signal("prediction_drift", "model_outputs", start, middle, size),
                "quality": _signal("data_quality", "model_inputs", start, middle, size),
            },
        },
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(definition))
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    code, out, err = run(
        capsys, "monitor", "run", "-f", str(path), "--at", at.isoformat(), "-d", str(data_dir)
    )
    assert code == 3, err
    assert err == ""
    assert "drift (data_drift): breached - 200 production rows, 200 reference rows" in out
    assert "prediction (prediction_drift): breached" in out
    assert "quality (data_quality): breached" in out
    assert "BREACHED" in out
    folder = data_dir / "_monitoring" / "credit" / "runs" / stamp
    assert sorted(p.name for p in folder.iterdir()) == [
        "histograms.parquet",
        "metrics.parquet",
        "run.json",
    ]
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "succeeded" and info["breached"] is True
    assert info["engine"] == "embedded"
    assert info["window_end"] == at.isoformat().replace("+00:00", "Z")
    assert info["signals"]["drift"]["message"].startswith("The signal 'drift' has failed")
    assert info["signals"]["drift"]["alert_enabled"] is True
    metrics = pd.read_parquet(folder / "metrics.parquet")
    breached = metrics[metrics.breached]
    assert set(breached[breached.signal_name == "drift"].feature_name) == {"income", "city"}
    assert set(breached[breached.signal_name == "prediction"].feature_name) == {"prediction"}
    wasserstein = metrics[
        (metrics.feature_name == "income")
        & (metrics.metric_name == "normalized_wasserstein_distance")
    ]
    assert float(wasserstein.metric_value.iloc[0]) > 2
    assert (metrics.production_row_count == 200).all()
    histograms = pd.read_parquet(folder / "histograms.parquet")
    city = histograms[(histograms.signal_name == "drift") & (histograms.feature_name == "city")]
    assert set(city.category) == {"paris", "lyon", "nice", "lille"}

    # the same window again replaces the run; json output for machines
    code, out, _ = run(
        capsys, "monitor", "run", "-f", str(path), "--at", at.isoformat(), "-d", str(data_dir),
        "--format", "json",
    )  # fmt: skip
    assert code == 3
    assert json.loads(out)["signals"]["quality"]["status"] == "breached"
    assert [p.name for p in folder.parent.iterdir()] == [stamp]

    code, out, _ = run(
        capsys, "monitor", "history", "credit", "-d", str(data_dir), "--signal", "drift",
        "--feature", "income", "--metric", "normalized_wasserstein_distance", "--format", "csv",
    )  # fmt: skip
    assert code == 0
    history = pd.read_csv(__import__("io").StringIO(out))
    assert len(history) == 1 and bool(history.breached.iloc[0])
    code, out, _ = run(capsys, "monitor", "list", "-d", str(data_dir), "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"monitor": "credit", "runs": 1, "last_run": stamp, "status": "succeeded", "breached": True}
    ]


def test_monitor_run_without_shift_exits_0(
    shifted: tuple[dt.datetime, dt.datetime],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The reference window against itself breaches nothing: exit 0."""
    start, middle = shifted
    at = _run_time(middle)  # production = [at - offset - size, at - offset) = [start, middle)
    signal = _signal("data_drift", "model_inputs", start, middle, middle - start, at - middle)
    definition = {"name": "same", "create_monitor": {"monitoring_signals": {"drift": signal}}}
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(definition))
    code, out, err = run(
        capsys, "monitor", "run", "-f", str(path), "--at", at.isoformat(), "-d", str(data_dir)
    )
    assert (code, err) == (0, "")
    assert "drift (data_drift): ok - 200 production rows, 200 reference rows" in out


def test_monitor_run_errors_exit_1(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad definition and a failed signal: exit 1, one clear line on stderr."""
    path = tmp_path / "monitor.yaml"
    path.write_text("name: m\ncreate_monitor: {monitoring_signal: {}}\n")
    code, out, err = run(capsys, "monitor", "run", "-f", str(path), "-d", str(data_dir))
    assert code == 1 and out == ""
    assert err == (
        f"modeltap monitor: error: invalid monitor definition {path}: create_monitor: unknown "
        "key 'monitoring_signal': did you mean 'monitoring_signals'? allowed: alert_notification, "
        "compute, monitoring_signals, monitoring_target\n"
    )
    definition = {
        "name": "m",
        "create_monitor": {
            "monitoring_signals": {
                "drift": {
                    "type": "data_drift",
                    "production_data": {"input_data": {"path": "missing-asset"}},
                    "reference_data": {"input_data": {"path": "missing-asset"}},
                }
            }
        },
    }
    path.write_text(yaml.safe_dump(definition))
    code, out, err = run(capsys, "monitor", "run", "-f", str(path), "-d", str(data_dir))
    assert code == 1
    assert "drift (data_drift): failed" in out
    assert err.startswith(
        "modeltap monitor: error: signal drift failed: no data asset missing-asset"
    )
    code, _, err = run(capsys, "monitor", "history", "nothing", "-d", str(data_dir))
    assert code == 1 and "no runs of monitor 'nothing'" in err


def test_model_performance_with_delayed_ground_truth(
    configure_tap: ConfigureTap,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Labels collected later under the original request ids join the predictions."""
    configure_tap()
    outputs = Collector(name="model_outputs")
    predicted = [["yes", "no", "yes", "no"], ["yes", "yes", "no", "no"], ["no", "no", "no", "no"]]
    ids = [outputs.collect(pd.DataFrame({"label": rows})).get_id() for rows in predicted]
    assert modeltap.flush(timeout=30)
    # later: the truth for the first two requests only
    truth = Collector(name="ground_truth")
    actual = [["yes", "no", "no", "no"], ["yes", "no", "no", "yes"]]
    for correlation, rows in zip(ids, actual, strict=False):
        truth.collect(pd.DataFrame({"label": rows}), BasicCorrelationContext(id=correlation))
    assert modeltap.flush(timeout=30)
    definition = {
        "name": "performance",
        "create_monitor": {
            "monitoring_signals": {
                "perf": {
                    "type": "model_performance",
                    "production_data": {
                        "input_data": {"path": "ep-dep-model_outputs"},
                        "data_column_names": {"prediction": "label"},
                        "data_window": {"lookback_window_size": "PT1H"},
                    },
                    "reference_data": {
                        "input_data": {"path": "ep-dep-ground_truth"},
                        "data_context": "ground_truth",
                        "data_column_names": {"actual": "label"},
                    },
                    "metric_thresholds": {"classification": {"accuracy": 0.9, "recall": 0.5}},
                }
            }
        },
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(definition))
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    code, out, err = run(
        capsys, "monitor", "run", "-f", str(path), "--at", at.isoformat(), "-d", str(data_dir),
        "--format", "json",
    )  # fmt: skip
    assert code == 3, err
    rows = {r["metric_name"]: r for r in json.loads(out)["metrics"]}
    assert rows["labelled_row_count"]["metric_value"] == 8
    assert rows["labelled_row_count"]["feature_name"] == ""
    assert rows["row_count"]["metric_value"] == 12
    # 8 labelled rows: (actual, predicted) yes/yes x2, no/no x3, no/yes x2, yes/no x1
    assert rows["accuracy"]["metric_value"] == pytest.approx(5 / 8)
    assert rows["accuracy"]["breached"] is True  # below its threshold
    recall = (2 / 3 + 3 / 5) / 2
    assert rows["recall"]["metric_value"] == pytest.approx(recall)
    assert rows["recall"]["breached"] is False  # above its threshold: fine
