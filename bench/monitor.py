"""Data-drift signal: modeltap's monitor vs. a plain pandas/scipy pass (and Evidently, optional).

Generated data, ``--rows`` rows on each side x 20 features (14 float, 2 low-cardinality int,
4 string categoricals; some shifted in production). The reference is a Parquet file (training
data); the production side is collected by modeltap (``Collector.collect``) into its Parquet
layout. Each contender runs in a process of its own, so its peak RSS is its own:

- modeltap: ``modeltap.monitor.run`` with one data-drift signal (numerical normalized
  Wasserstein, Jensen-Shannon, PSI; categorical Jensen-Shannon, chi-squared);
- pandas/scipy: the same formulas on the raw values (``modeltap.read`` + ``pd.read_parquet``,
  numpy histograms, ``scipy.stats``);
- with ``--spark``, modeltap on the Spark engine (``local[2]``, or ``MODELTAP_SPARK_MASTER``):
  seconds with the session's start-up, the start-up alone, the JVM's CPU seconds and peak RSS
  (in ``local`` mode the JVM runs the executors too);
- Evidently's ``DataDriftPreset`` when ``--evidently-python`` names a Python with Evidently 0.7
  installed (it needs pandas < 3, so an environment of its own).

The table gives seconds, CPU seconds over the same span (the contender's processes: for Spark,
the Python driver and the JVM; steadier than seconds on a shared machine), feature values per
second, the Python process's peak RSS, and the largest absolute difference between modeltap's
metric values and the pandas/scipy ones.

    python bench/monitor.py --rows 20000
    python bench/monitor.py --rows 1000000 --production-rows 10000000   # the memory target
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _results import start_recording

FLOATS = [f"f{i}" for i in range(14)]
INTS = ["i0", "i1"]
STRINGS = [f"s{i}" for i in range(4)]
SHIFTED = {"f0", "f1", "i0", "s0"}
NUMERICAL_METRICS = {
    "normalized_wasserstein_distance": 0.1,
    "jensen_shannon_distance": 0.1,
    "population_stability_index": 0.2,
}
CATEGORICAL_METRICS = {"jensen_shannon_distance": 0.1, "pearsons_chi_squared_test": 0.05}
CHUNK = 10_000


def frame(rows: int, seed: int, shift: bool) -> pd.DataFrame:
    """One side's data."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for name in FLOATS:
        delta = 0.5 if shift and name in SHIFTED else 0.0
        columns[name] = rng.normal(delta, 1.0, rows).round(4)
    for name in INTS:
        high = 8 if shift and name in SHIFTED else 5
        columns[name] = rng.integers(0, high, rows)
    letters = np.array(list("abcdefghij"))
    for name in STRINGS:
        p = np.full(10, 0.1)
        if shift and name in SHIFTED:
            p = np.linspace(2, 0.2, 10)
            p /= p.sum()
        columns[name] = letters[rng.choice(10, rows, p=p)]
    return pd.DataFrame(columns)


def prepare(folder: Path, rows: int, production_rows: int) -> None:
    """The reference Parquet file and the production collection."""
    import modeltap

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    frame(rows, 1, shift=False).to_parquet(folder / "reference.parquet", index=False)
    modeltap.configure(
        {
            "endpoint_name": "bench",
            "name": "blue",
            "data_collector": {
                "destination": str(folder / "store"),
                "format": "parquet",
                "fsync": "never",
            },
        }
    )
    inputs = modeltap.Collector(name="model_inputs")
    for first in range(0, production_rows, 1_000_000):  # a million rows in memory at a time
        size = min(1_000_000, production_rows - first)
        production = frame(size, 2 + first, shift=True)
        for start in range(0, size, CHUNK):
            inputs.collect(production.iloc[start : start + CHUNK].reset_index(drop=True))
    if not modeltap.flush(timeout=600):
        raise SystemExit("collect did not flush in 10 minutes")
    modeltap.shutdown(timeout=60)


def definition(folder: Path) -> dict[str, Any]:
    """The monitor: one data-drift signal, production over the whole collection."""
    return {
        "name": "bench",
        "create_monitor": {
            "monitoring_signals": {
                "drift": {
                    "type": "data_drift",
                    "production_data": {
                        "input_data": {"path": "bench-blue-model_inputs"},
                        "data_window": {"lookback_window_size": "P1D"},
                    },
                    "reference_data": {"input_data": {"path": str(folder / "reference.parquet")}},
                    "feature_type_override": {"categorical": INTS},
                    "metric_thresholds": {
                        "numerical": NUMERICAL_METRICS,
                        "categorical": CATEGORICAL_METRICS,
                    },
                }
            }
        },
    }


def run_modeltap(folder: Path) -> dict[str, Any]:
    """modeltap.monitor.run; metric values by (feature, metric)."""
    import modeltap.monitor

    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    result = modeltap.monitor.run(definition(folder), at=at, destination=str(folder / "store"))
    rows = result.metrics[result.metrics.feature_name != ""]
    return {f"{r.feature_name}/{r.metric_name}": r.metric_value for r in rows.itertuples()}


SPARK_EXTRA: dict[str, float] = {}
"""The Spark contender's start-up seconds and the JVM's peak RSS (the driver's, in local mode)."""


def peak_rss(pid: int | str = "self") -> int:
    """A process's peak RSS in bytes: ``VmHWM`` of its own memory map. (``ru_maxrss`` also
    counts the memory of the parent a process was started from, which holds the generated
    data when the data was just prepared.)"""
    status = Path(f"/proc/{pid}/status").read_text()
    return 1024 * next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:")


def run_spark(folder: Path) -> dict[str, Any]:
    """modeltap.monitor.run on the Spark engine (``MODELTAP_SPARK_MASTER``, default
    ``local[2]``), the session's start-up timed apart."""
    from pyspark.sql import SparkSession

    import modeltap.monitor

    started = time.perf_counter()
    master = os.environ.get("MODELTAP_SPARK_MASTER", "local[2]")
    spark = (
        SparkSession.builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    SPARK_EXTRA["startup_seconds"] = time.perf_counter() - started
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    result = modeltap.monitor.run(
        definition(folder), at=at, destination=str(folder / "store"), spark_session=spark
    )
    jvm = spark.sparkContext._gateway.proc.pid
    SPARK_EXTRA["jvm_peak_rss"] = float(peak_rss(jvm))
    ticks = Path(f"/proc/{jvm}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
    SPARK_EXTRA["jvm_cpu_seconds"] = sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
    spark.stop()
    rows = result.metrics[result.metrics.feature_name != ""]
    return {f"{r.feature_name}/{r.metric_name}": r.metric_value for r in rows.itertuples()}


def run_scipy(folder: Path) -> dict[str, Any]:
    """The same formulas on the raw values with pandas, numpy and scipy."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    import modeltap

    reference = pd.read_parquet(folder / "reference.parquet")
    production = modeltap.read("bench-blue-model_inputs", destination=str(folder / "store"))
    values: dict[str, float] = {}
    for name in FLOATS:
        b = reference[name].dropna().to_numpy(float)
        p = production[name].dropna().to_numpy(float)
        k = math.ceil(math.log2(min(len(b), len(p))) + 1)
        edges = np.linspace(min(b.min(), p.min()), max(b.max(), p.max()), k + 1)
        cb = np.histogram(b, edges)[0]
        cp = np.histogram(p, edges)[0]
        values[f"{name}/jensen_shannon_distance"] = float(
            jensenshannon(cb / cb.sum(), cp / cp.sum(), base=2)
        )
        q_, p_ = (cb + 1) / (cb.sum() + k), (cp + 1) / (cp.sum() + k)
        values[f"{name}/population_stability_index"] = float(np.sum((p_ - q_) * np.log(p_ / q_)))
        values[f"{name}/normalized_wasserstein_distance"] = float(
            stats.wasserstein_distance(b, p) / max(np.std(b, ddof=1), 0.001)
        )
    for name in INTS + STRINGS:
        cb_s = reference[name].dropna().astype(str).value_counts()
        cp_s = production[name].dropna().astype(str).value_counts()
        names = list(cb_s.index) + [c for c in cp_s.index if c not in cb_s.index]
        cb = cb_s.reindex(names, fill_value=0).to_numpy()
        cp = cp_s.reindex(names, fill_value=0).to_numpy()
        values[f"{name}/jensen_shannon_distance"] = float(
            jensenshannon(cb / cb.sum(), cp / cp.sum(), base=2)
        )
        expected = cb / cb.sum() * cp.sum()
        if np.any((expected == 0) & (cp > 0)):
            pvalue = 0.0
        else:
            pvalue = float(stats.chisquare(cp, expected).pvalue)
        values[f"{name}/pearsons_chi_squared_test"] = pvalue
    return values


def run_evidently(folder: Path) -> dict[str, Any]:
    """Evidently's DataDriftPreset (in its own environment)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    production = pd.concat(
        pd.read_parquet(p)
        for p in sorted((folder / "store").rglob("*.parquet"))
        if not p.relative_to(folder / "store").parts[0].startswith("_")  # _assets, _monitoring
    )[reference.columns]
    Report([DataDriftPreset()]).run(production, reference)
    return {}


def child(which: str, folder: Path) -> None:
    """Run one contender and print its seconds, values and peak RSS as JSON."""
    action = {
        "modeltap": run_modeltap,
        "scipy": run_scipy,
        "evidently": run_evidently,
        "spark": run_spark,
    }[which]
    if which != "evidently":  # imports are not what is measured
        import duckdb  # noqa: F401
        import fsspec  # noqa: F401  (modeltap's reading imports these on first use)
        import polars  # noqa: F401
        import pyarrow.dataset  # noqa: F401
        import scipy.spatial.distance
        import scipy.stats  # noqa: F401

        import modeltap.monitor  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    values = action(folder)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    print(
        json.dumps(
            {
                "seconds": seconds,
                "values": values,
                "peak_rss": peak_rss(),
                "cpu_seconds": cpu,
                **SPARK_EXTRA,
            }
        )
    )


def spawn(python: str, which: str, folder: Path) -> dict[str, Any]:
    """A contender in a process of its own."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [python, __file__, "--child", which, "--dir", str(folder)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per side (issue: 1M)")
    parser.add_argument("--quick", action="store_true", help="a smoke run (5,000 rows, not kept)")
    parser.add_argument(
        "--production-rows", type=int, help="production rows if not --rows (issue: 10M)"
    )
    parser.add_argument("--dir", default="/tmp/modeltap-bench-monitor")
    parser.add_argument("--keep", action="store_true", help="reuse the data of a previous run")
    parser.add_argument("--evidently-python", metavar="PYTHON")
    parser.add_argument(
        "--child", choices=("modeltap", "scipy", "evidently", "spark"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--spark", action="store_true", help="add the Spark engine (needs modeltap[spark], Java)"
    )
    args = parser.parse_args()
    folder = Path(args.dir)
    if args.quick:
        args.rows, args.production_rows = 5_000, None
    if args.child:
        child(args.child, folder)
        return 0
    if not args.keep or not (folder / "reference.parquet").exists():
        started = time.perf_counter()
        production_rows = args.production_rows or args.rows
        prepare(folder, args.rows, production_rows)
        took = time.perf_counter() - started
        print(
            f"data: {args.rows:,} reference and {production_rows:,} production rows x 20 "
            f"features ({took:.1f} s)"
        )
    results = {
        "modeltap (embedded engine)": spawn(sys.executable, "modeltap", folder),
        "pandas + scipy": spawn(sys.executable, "scipy", folder),
    }
    if args.evidently_python:
        results["Evidently DataDriftPreset"] = spawn(args.evidently_python, "evidently", folder)
    if args.spark:
        results["modeltap (Spark engine)"] = spawn(sys.executable, "spark", folder)
    recording = start_recording("monitor", enabled=not args.quick)
    print(
        f"{args.rows:,} reference rows (Parquet file), {args.production_rows or args.rows:,} "
        "production rows (collected, Parquet) x 20 features; each contender in its own process"
    )
    reference_values = results["pandas + scipy"]["values"]
    mine = results["modeltap (embedded engine)"]["values"]
    missing = sorted(set(reference_values) - set(mine))
    if missing:
        raise SystemExit(f"modeltap lacks values for {missing}")
    worst = max(abs(mine[k] - reference_values[k]) for k in reference_values)
    cells = (args.rows + (args.production_rows or args.rows)) * 20
    scipy_seconds = results["pandas + scipy"]["seconds"]
    print(
        f"{'contender':<28} {'seconds':>8} {'CPU s':>7} {'values/s':>12} {'peak RSS':>10} "
        f"{'vs scipy':>9}"
    )
    for name, result in results.items():
        seconds = result["seconds"]
        cpu = result["cpu_seconds"] + result.get("jvm_cpu_seconds", 0.0)
        print(
            f"{name:<28} {seconds:>8.2f} {cpu:>7.1f} {cells / seconds:>12,.0f} "
            f"{result['peak_rss'] / 2**20:>8.0f} MB {scipy_seconds / seconds:>8.1f}x"
        )
    print(f"largest |modeltap - scipy| over {len(reference_values)} metric values: {worst:.2e}")
    evidently = results.get("Evidently DataDriftPreset")
    if evidently is not None:
        seconds = results["modeltap (embedded engine)"]["seconds"]
        print(f"modeltap (embedded engine) vs Evidently: {evidently['seconds'] / seconds:.1f}x")
    spark = results.get("modeltap (Spark engine)")
    if spark is not None:
        apart = max(abs(spark["values"][k] - mine[k]) for k in mine)
        print(
            f"Spark engine: start-up {spark['startup_seconds']:.1f} s of its "
            f"{spark['seconds']:.1f} s; CPU: Python driver {spark['cpu_seconds']:.1f} s, JVM "
            f"{spark['jvm_cpu_seconds']:.1f} s; peak RSS: Python driver "
            f"{spark['peak_rss'] / 2**20:.0f} MB, JVM {spark['jvm_peak_rss'] / 2**20:.0f} MB; "
            f"largest |spark - embedded| {apart:.2e}"
        )
        worst = max(worst, apart)
    recording.save()
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
