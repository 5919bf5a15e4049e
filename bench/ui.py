"""Page latency of ``modeltap ui`` over a generated store: ``--assets`` data assets and ``--runs``
monitor runs (spread over ``--monitors`` monitors, ``--features`` features each).

Each asset is registered in the catalog and holds one small Parquet file per hour for
``--hours`` hours, in modeltap's layout; the runs are written straight into the results store
in the shape ``modeltap.monitor.run`` writes (histograms included). The UI runs as a real
server (``modeltap ui`` in a process of its own, on loopback). Each page is first fetched from
a server started for it alone (cold: the first visit after start-up, with nothing cached by
another page), then ``--repeat`` more times (warm). The table gives the cold time, the median
and worst warm time, and the page size; its last line is what a browser showing the asset list
fetches next: every asset's rows-per-hour chart, over 6 connections as a browser does, cold
then warm. ``--rounds`` runs the whole table again and gives, per page, the median of the
rounds' cold times and the worst of everything. The target: every page under 300 ms on a store
of 100 assets and 1,000 runs.

    python bench/ui.py --assets 100 --runs 1000            # the issue's size
    python bench/ui.py --assets 10 --runs 50 --repeat 3    # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.sample_store import write_synthetic_runs  # noqa: E402

import modeltap  # noqa: E402
from _results import start_recording  # noqa: E402
from modeltap.catalog import DataAsset  # noqa: E402

LAST = dt.datetime(2024, 5, 8, 12, tzinfo=dt.UTC)
BROWSER_CONNECTIONS = 6
"""Connections a browser opens to one host (HTTP/1.1), for the asset list's charts."""


def write_assets(destination: Path, count: int, hours: int, rows: int) -> list[str]:
    """``count`` registered assets, each with one Parquet file of ``rows`` rows per hour."""
    rng = np.random.default_rng(5)
    names = []
    for index in range(count):
        name = f"ep{index:03d}-blue-model_inputs"
        root = destination / f"ep{index:03d}" / "blue" / "model_inputs"
        for hour in range(hours):
            start = LAST - dt.timedelta(hours=hours - 1 - hour)
            folder = root / f"{start:%Y/%m/%d/%H}"
            folder.mkdir(parents=True, exist_ok=True)
            times = [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 3600, rows)]
            table = pa.table(
                {
                    "correlationid": [f"c{hour}-{i}" for i in range(rows)],
                    "xrequestid": [f"c{hour}-{i}" for i in range(rows)],
                    "time": pa.array(times, pa.timestamp("us", tz="UTC")),
                    "id": [f"e{hour}-{i}" for i in range(rows)],
                    "row_index": pa.array([0] * rows, pa.int64()),
                    "age": rng.integers(18, 90, rows),
                    "income": rng.normal(50, 10, rows),
                }
            )
            pq.write_table(table, folder / "writer-000001.parquet")
        first = LAST - dt.timedelta(hours=hours - 1)
        modeltap.register_asset(
            DataAsset(
                name=name,
                version="1",
                root=str(root),
                format="parquet",
                collection="model_inputs",
                endpoint=f"ep{index:03d}",
                deployment="blue",
                columns={"age": "int64", "income": "double"},
                first_event_time=first.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                last_event_time=(LAST + dt.timedelta(minutes=59)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"
                ),
            ),
            destination=str(destination),
        )
        names.append(name)
    return names


def start_ui(destination: Path) -> tuple[subprocess.Popen[str], str, int]:
    """``modeltap ui`` on a free loopback port; (process, host, port)."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    process = subprocess.Popen(
        [sys.executable, "-m", "modeltap.cli", "ui", "-d", str(destination), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
        if found:
            return process, found.group(1), int(found.group(2))
    raise RuntimeError("modeltap ui did not start")


def fetch(connection: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    """(seconds, bytes) of one GET, which must answer 200."""
    began = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - began
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed, len(body)


def fetch_all(host: int | str, port: int, paths: list[str], connections: int) -> float:
    """Seconds to fetch every path of ``paths`` over ``connections`` parallel connections."""
    queue = list(reversed(paths))
    lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection(str(host), port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                path = queue.pop()
            fetch(connection, path)
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def measure(destination: Path, path: str, repeat: int) -> tuple[float, list[float], int]:
    """(cold seconds, warm seconds, bytes) of one page, on a server started for it alone."""
    process, host, port = start_ui(destination)
    try:
        connection = http.client.HTTPConnection(host, port, timeout=120)
        cold, size = fetch(connection, path)
        warm = [fetch(connection, path)[0] for _ in range(repeat)]
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return cold, warm, size


def measure_list_charts(destination: Path, paths: list[str]) -> tuple[float, float]:
    """(cold, warm) seconds to fetch every chart of the asset list, as a browser does."""
    process, host, port = start_ui(destination)
    try:
        fetch(http.client.HTTPConnection(host, port, timeout=120), "/assets")
        cold = fetch_all(host, port, paths, BROWSER_CONNECTIONS)
        warm = fetch_all(host, port, paths, BROWSER_CONNECTIONS)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1000, help="monitor runs in all")
    parser.add_argument("--monitors", type=int, default=10)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--hours", type=int, default=48, help="hours of data per asset")
    parser.add_argument("--rows", type=int, default=100, help="rows per asset and hour")
    parser.add_argument("--repeat", type=int, default=10, help="warm fetches per page")
    parser.add_argument("--rounds", type=int, default=1, help="times the table is measured")
    parser.add_argument("--save", action="store_true", help="keep the table in bench/results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modeltap-bench-ui-") as folder:
        destination = Path(folder) / "store"
        began = time.perf_counter()
        assets = write_assets(destination, args.assets, args.hours, args.rows)
        per_monitor = max(1, args.runs // args.monitors)
        monitors = write_synthetic_runs(
            str(destination), monitors=args.monitors, runs=per_monitor, features=args.features
        )
        generated = time.perf_counter() - began
        stamp = (
            dt.datetime(2024, 5, 8, 10, tzinfo=dt.UTC) + dt.timedelta(hours=per_monitor)
        ).strftime("%Y%m%dT%H%M%SZ")
        pages = {
            "data assets": "/assets",
            "rows per hour (one list chart)": f"/assets/{assets[-1]}/1/volume.svg",
            "one asset (24 h, last rows)": f"/assets/{assets[-1]}/1",
            "monitors": "/monitors",
            "one monitor": f"/monitors/{monitors[-1]}",
            "one run": f"/monitors/{monitors[-1]}/runs/{stamp}",
            "run report": f"/monitors/{monitors[-1]}/runs/{stamp}/report.html",
        }
        charts = [f"/assets/{name}/1/volume.svg" for name in assets]
        colds: dict[str, list[float]] = {label: [] for label in pages}
        warms: dict[str, list[float]] = {label: [] for label in pages}
        sizes: dict[str, int] = {}
        list_colds: list[float] = []
        list_warms: list[float] = []
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for label, path in pages.items():
                cold, warm, sizes[label] = measure(destination, path, args.repeat)
                colds[label].append(cold)
                warms[label].extend(warm)
            cold, warm = measure_list_charts(destination, charts)
            list_colds.append(cold)
            list_warms.append(warm)

    recording = start_recording("ui", enabled=args.save)
    print()
    print(
        f"{args.assets} assets x {args.hours} hourly files, {per_monitor * args.monitors} runs "
        f"({args.monitors} monitors x {per_monitor}, {args.features} features); "
        f"generated in {generated:.1f} s; {args.rounds} round(s), each page cold on a fresh "
        f"server then {args.repeat} warm fetches; load average before the rounds "
        f"{load_before:.1f}"
    )
    print()
    print("| page | cold ms | warm median ms | worst ms | KiB |")
    print("|---|---:|---:|---:|---:|")
    for label in pages:
        worst = max(colds[label] + warms[label])
        print(
            f"| {label} | {statistics.median(colds[label]) * 1000:.0f} "
            f"| {statistics.median(warms[label]) * 1000:.0f} | {worst * 1000:.0f} "
            f"| {sizes[label] / 1024:.0f} |"
        )
    print(
        f"| all {len(charts)} list charts, {BROWSER_CONNECTIONS} connections | "
        f"{statistics.median(list_colds) * 1000:.0f} | {statistics.median(list_warms) * 1000:.0f} "
        f"| {max(list_colds + list_warms) * 1000:.0f} | |"
    )
    if args.rounds > 1:
        print()
        print(
            "cold ms per round: "
            + "; ".join(
                f"{label} " + ", ".join(f"{c * 1000:.0f}" for c in colds[label]) for label in pages
            )
        )
    recording.save()


if __name__ == "__main__":
    main()
