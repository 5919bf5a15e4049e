"""Page latency of ``modeltap ui`` over a generated store: ``--assets`` data assets and ``--runs``
monitor runs (spread over ``--monitors`` monitors, ``--features`` features each).

Each asset is registered in the catalog and holds one small Parquet file per hour for
``--hours`` hours, in modeltap's layout; the runs are written straight into the results store in
the shape ``modeltap.monitor.run`` writes (histograms included). The UI runs as a real server
(``modeltap ui`` in a process of its own, on loopback). Each page is first fetched from a server
started for it alone (cold: the first visit once it answers ``/healthz``, with nothing cached by
another page), then ``--repeat`` more times (warm). The table gives the cold time, the median
and worst warm time, and the page size; its last line is what a browser showing the asset list
fetches next: every asset's rows-per-hour chart, over 6 connections as a browser does, cold then
warm. Beside the cold time, the server process's CPU time for that request (from ``/proc``, in
10 ms ticks): on a loaded machine the wall time is that CPU time stretched by waiting for a
core. ``--rounds`` runs the whole table again and gives, per page, the median of the rounds'
cold times and the worst of everything. The target: every page under 300 ms on a store of 100
assets and 1,000 runs.

``--against REV`` (repeatable) also serves the same store with another git revision's modeltap
(its ``src/``, exported with ``git archive``), taking turns with this tree page by page in every
round, so that versions compared see the same load on a shared machine.

    python bench/ui.py --assets 100 --runs 1000 --rounds 3     # the issue's size
    python bench/ui.py --assets 10 --runs 50 --repeat 3        # a quick look
    python bench/ui.py --rounds 3 --against HEAD~1             # this tree against a revision
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


def export_revision(revision: str, folder: Path) -> Path:
    """``src/`` of git ``revision`` under ``folder``; returns the folder holding ``modeltap``."""
    target = folder / re.sub(r"[^A-Za-z0-9._-]", "_", revision)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def start_ui(destination: Path, source: Path) -> tuple[subprocess.Popen[str], str, int]:
    """``modeltap ui`` (from the ``modeltap`` in ``source``) on a free loopback port;
    (process, host, port)."""
    environment = dict(os.environ, PYTHONPATH=str(source))
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, its ended threads included (Linux's
    ``/proc``, in clock ticks of usually 10 ms); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    destination: Path, source: Path, path: str, repeat: int
) -> tuple[float, float, list[float], int]:
    """(cold seconds, the server's CPU seconds for the cold fetch, warm seconds, bytes) of one
    page, on a server started for it alone."""
    process, host, port = start_ui(destination, source)
    try:
        connection = http.client.HTTPConnection(host, port, timeout=120)
        fetch(connection, "/healthz")  # the server has accepted connections
        before = cpu_seconds(process.pid)
        cold, size = fetch(connection, path)
        cpu = cpu_seconds(process.pid) - before
        warm = [fetch(connection, path)[0] for _ in range(repeat)]
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return cold, cpu, warm, size


def measure_list_charts(destination: Path, source: Path, paths: list[str]) -> tuple[float, float]:
    """(cold, warm) seconds to fetch every chart of the asset list, as a browser does."""
    process, host, port = start_ui(destination, source)
    try:
        fetch(http.client.HTTPConnection(host, port, timeout=120), "/assets")
        cold = fetch_all(host, port, paths, BROWSER_CONNECTIONS)
        warm = fetch_all(host, port, paths, BROWSER_CONNECTIONS)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return cold, warm


class Timings:
    """What one version measured over the rounds."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.colds: dict[str, list[float]] = {label: [] for label in pages}
        self.cpus: dict[str, list[float]] = {label: [] for label in pages}
        self.warms: dict[str, list[float]] = {label: [] for label in pages}
        self.sizes: dict[str, int] = {}
        self.list_colds: list[float] = []
        self.list_warms: list[float] = []

    def print_table(self, charts: int) -> None:
        """The Markdown table: cold (median of the rounds), warm median, worst, size."""
        print("| page | cold ms | cold server CPU ms | warm median ms | worst ms | KiB |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, colds in self.colds.items():
            worst = max(colds + self.warms[label])
            print(
                f"| {label} | {statistics.median(colds) * 1000:.0f} "
                f"| {statistics.median(self.cpus[label]) * 1000:.0f} "
                f"| {statistics.median(self.warms[label]) * 1000:.0f} | {worst * 1000:.0f} "
                f"| {self.sizes[label] / 1024:.0f} |"
            )
        print(
            f"| all {charts} list charts, {BROWSER_CONNECTIONS} connections "
            f"| {statistics.median(self.list_colds) * 1000:.0f} | "
            f"| {statistics.median(self.list_warms) * 1000:.0f} "
            f"| {max(self.list_colds + self.list_warms) * 1000:.0f} | |"
        )
        if len(self.list_colds) > 1:
            print()
            print(
                "cold ms per round: "
                + "; ".join(
                    f"{label} " + ", ".join(f"{c * 1000:.0f}" for c in colds)
                    for label, colds in self.colds.items()
                )
            )


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
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="REV",
        help="also measure this git revision's modeltap, taking turns with this tree",
    )
    parser.add_argument("--save", action="store_true", help="keep the table in bench/results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modeltap-bench-ui-") as folder:
        sources = {"this tree": ROOT / "src"}
        for revision in args.against:
            sources[revision] = export_revision(revision, Path(folder) / "revisions")
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
        timings = {name: Timings(pages) for name in sources}
        load_before = os.getloadavg()[0]
        for round_index in range(args.rounds):
            for label, path in pages.items():
                order = list(sources)
                order = order[round_index % len(order) :] + order[: round_index % len(order)]
                for name in order:
                    found = timings[name]
                    cold, cpu, warm, found.sizes[label] = measure(
                        destination, sources[name], path, args.repeat
                    )
                    found.colds[label].append(cold)
                    found.cpus[label].append(cpu)
                    found.warms[label].extend(warm)
            for name in sources:
                cold, warm = measure_list_charts(destination, sources[name], charts)
                timings[name].list_colds.append(cold)
                timings[name].list_warms.append(warm)
        load_after = os.getloadavg()[0]

    recording = start_recording("ui", enabled=args.save)
    print()
    print(
        f"{args.assets} assets x {args.hours} hourly files, {per_monitor * args.monitors} runs "
        f"({args.monitors} monitors x {per_monitor}, {args.features} features); "
        f"generated in {generated:.1f} s; {args.rounds} round(s), each page cold on a fresh "
        f"server then {args.repeat} warm fetches; load average {load_before:.1f} before the "
        f"rounds, {load_after:.1f} after"
    )
    for name, found in timings.items():
        print()
        if len(timings) > 1:
            print(f"{name}:")
            print()
        found.print_table(len(charts))
    recording.save()


if __name__ == "__main__":
    main()
