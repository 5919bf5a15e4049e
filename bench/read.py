"""Read a one-hour window out of a day of collected data: modeltap.read vs. a pandas loop.

The issue's workload, scaled by ``--scale`` (1.0 = the full size): in the window hour,
1,000,000 events of 1x10 rows and 100 events of 10,000x10 rows; each of the other
``--outside-hours`` hours of the day holds the same amount again, outside the window. Files are
written directly in the committed layout (not through collect(), which is benchmarked
elsewhere), as JSON lines and as Parquet.

Compared, in the same run:
- baseline: ``pandas.read_json(path, lines=True)`` over every file of the collection (the day),
- the same pandas loop over only the window's files (what pruning alone buys),
- ``modeltap.read(root, start, end)`` on the JSON-lines tree and on the Parquet tree.

    python bench/read.py --scale 0.1
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import modeltap
from _results import start_recording

DAY = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
WINDOW_HOUR = 12
EVENTS_PER_FILE = 10_000
BIG_PER_FILE = 10
COLUMNS = [f"f{i}" for i in range(10)]


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _rows(n: int, seed: int) -> list[dict[str, float | int | str]]:
    rng = np.random.default_rng(seed)
    floats = rng.random((n, 6)).round(6)
    ints = rng.integers(0, 1_000, (n, 3))
    rows: list[dict[str, float | int | str]] = []
    for i in range(n):
        row: dict[str, float | int | str] = {}
        for j in range(6):
            row[COLUMNS[j]] = float(floats[i, j])
        for j in range(3):
            row[COLUMNS[6 + j]] = int(ints[i, j])
        row[COLUMNS[9]] = "abcdefgh"[i % 8] * 4
        return_row = row
        rows.append(return_row)
    return rows


def _envelope(hour: int, n: int, when: dt.datetime) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"e{hour:02d}-{n:09d}-0000-4000-8000-000000000000",
            "source": "/endpoints/bench/deployments/blue",
            "type": "modeltap.inference.model_inputs",
            "datacontenttype": "application/json",
            "time": _stamp(when),
        }
    )


def _tail(n: int) -> bytes:
    cid = f"c{n:011d}-aaaa-4bbb-8ccc-dddddddddddd"
    return orjson.dumps(
        {
            "correlationid": cid,
            "xrequestid": cid,
            "modelversion": "default",
            "collectdatatype": "pandas.core.frame.DataFrame",
            "agent": "modeltap/bench",
        }
    )


def _record(hour: int, n: int, when: dt.datetime, data: bytes) -> bytes:
    return b"".join(
        (_envelope(hour, n, when)[:-1], b',"data":', data, b",", _tail(n)[1:], b"\n")
    )


def write_hour_jsonl(root: Path, hour: int, small: int, big: int, big_rows: int) -> int:
    """One hour of JSON-lines files; returns the bytes written."""
    folder = root / (DAY + dt.timedelta(hours=hour)).strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    start = DAY + dt.timedelta(hours=hour)
    pool = [orjson.dumps([row]) for row in _rows(1_000, hour)]
    written = 0
    n = 0
    for f in range(0, small, EVENTS_PER_FILE):
        lines = []
        for _ in range(min(EVENTS_PER_FILE, small - f)):
            when = start + dt.timedelta(microseconds=int(n * 3.6e9 / max(small, 1)))
            lines.append(_record(hour, n, when, pool[n % len(pool)]))
            n += 1
        blob = b"".join(lines)
        (folder / f"bench-{f:06d}.jsonl").write_bytes(blob)
        written += len(blob)
    big_rows_blob = orjson.dumps(_rows(big_rows, 1_000 + hour))
    for f in range(0, big, BIG_PER_FILE):
        lines = []
        for _ in range(min(BIG_PER_FILE, big - f)):
            when = start + dt.timedelta(microseconds=int(n * 3.6e9 / max(small + big, 1)))
            lines.append(_record(hour, n, when, big_rows_blob))
            n += 1
        blob = b"".join(lines)
        (folder / f"bench-big-{f:06d}.jsonl").write_bytes(blob)
        written += len(blob)
    return written


def _parquet_events(
    hour: int, first: int, count: int, rows_each: int, table_rows: pa.Table
) -> pa.Table:
    start = DAY + dt.timedelta(hours=hour)
    total = count * rows_each
    events = np.arange(first, first + count)
    event_of_row = np.repeat(events, rows_each)
    ids = pa.array([f"e{hour:02d}-{n:09d}-0000-4000-8000-000000000000" for n in events])
    cids = pa.array([f"c{n:011d}-aaaa-4bbb-8ccc-dddddddddddd" for n in events])
    take = pa.array(np.repeat(np.arange(count), rows_each))
    micros = (event_of_row * (3.6e9 / max(first + count, 1))).astype(np.int64)
    base = int(start.timestamp() * 1_000_000)
    data = table_rows.take(pa.array(np.arange(total) % table_rows.num_rows))
    columns = {
        "correlationid": cids.take(take),
        "xrequestid": cids.take(take),
        "time": pa.array(base + micros, pa.timestamp("us", tz="UTC")),
        "id": ids.take(take),
        "row_index": pa.array(np.tile(np.arange(rows_each), count)),
        "modelversion": pa.repeat(pa.scalar("default"), total),
    }
    for name in data.column_names:
        columns[name] = data.column(name)
    return pa.table(columns)


def write_hour_parquet(root: Path, hour: int, small: int, big: int, big_rows: int) -> int:
    """The same hour as Parquet files (envelope columns + data columns); returns bytes."""
    folder = root / (DAY + dt.timedelta(hours=hour)).strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    pool = pa.Table.from_pylist(_rows(1_000, hour))
    bigs = pa.Table.from_pylist(_rows(big_rows, 1_000 + hour))
    written = 0
    n = 0
    for f in range(0, small, EVENTS_PER_FILE):
        count = min(EVENTS_PER_FILE, small - f)
        table = _parquet_events(hour, n, count, 1, pool)
        n += count
        path = folder / f"bench-{f:06d}.parquet"
        pq.write_table(table, path, compression="zstd")
        written += path.stat().st_size
    for f in range(0, big, BIG_PER_FILE):
        count = min(BIG_PER_FILE, big - f)
        table = _parquet_events(hour, n, count, big_rows, bigs)
        n += count
        path = folder / f"bench-big-{f:06d}.parquet"
        pq.write_table(table, path, compression="zstd")
        written += path.stat().st_size
    return written


def copy_hour(root: Path, source_hour: int, hour: int, rewrite: bool) -> int:
    """Another hour's files from the window hour's: JSON lines with the hour of every time and
    id rewritten; Parquet as hard links (never opened: the window prunes them away)."""
    source = root / (DAY + dt.timedelta(hours=source_hour)).strftime("%Y/%m/%d/%H")
    target = root / (DAY + dt.timedelta(hours=hour)).strftime("%Y/%m/%d/%H")
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    old_time = f'"time":"{DAY:%Y-%m-%d}T{source_hour:02d}:'.encode()
    new_time = f'"time":"{DAY:%Y-%m-%d}T{hour:02d}:'.encode()
    for path in sorted(source.iterdir()):
        if rewrite:
            blob = path.read_bytes().replace(old_time, new_time)
            old_id, new_id = f'"id":"e{source_hour:02d}-', f'"id":"e{hour:02d}-'
            blob = blob.replace(old_id.encode(), new_id.encode())
            (target / path.name).write_bytes(blob)
            written += len(blob)
        else:
            os.link(path, target / path.name)
            written += path.stat().st_size
    return written


def best_of(repeat: int, action: Callable[[], int]) -> tuple[float, int]:
    """(median seconds, rows) over ``repeat`` runs (one warm-up run first when repeating)."""
    if repeat > 1:
        action()
    times = []
    rows = 0
    for _ in range(repeat):
        began = time.perf_counter()
        rows = action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def pandas_loop(files: list[Path]) -> int:
    """The baseline: pandas.read_json(lines=True) on every file, concatenated."""
    frames = [pd.read_json(path, lines=True) for path in files]
    return len(pd.concat(frames, ignore_index=True)) if frames else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = the issue's full size")
    parser.add_argument("--outside-hours", type=int, default=23)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/modeltap-bench-read")
    parser.add_argument("--keep", action="store_true", help="reuse data of the same scale")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    small = int(1_000_000 * args.scale)
    big = max(1, int(100 * args.scale))
    big_rows = 10_000
    base = Path(args.dir) / f"scale-{args.scale}-out-{args.outside_hours}"
    jroot = base / "jsonl" / "bench" / "blue" / "model_inputs"
    proot = base / "parquet" / "bench" / "blue" / "model_inputs"
    hours = [WINDOW_HOUR, *[h for h in range(24) if h != WINDOW_HOUR][: args.outside_hours]]
    if not (args.keep and (base / "done").exists()):
        shutil.rmtree(base, ignore_errors=True)
        began = time.perf_counter()
        jbytes = pbytes = 0
        jbytes += write_hour_jsonl(jroot, WINDOW_HOUR, small, big, big_rows)
        pbytes += write_hour_parquet(proot, WINDOW_HOUR, small, big, big_rows)
        for hour in hours[1:]:
            jbytes += copy_hour(jroot, WINDOW_HOUR, hour, rewrite=True)
            pbytes += copy_hour(proot, WINDOW_HOUR, hour, rewrite=False)
        (base / "done").write_text(f"{jbytes} {pbytes}")
        print(f"generated {len(hours)} hours in {time.perf_counter() - began:.1f} s")
    jbytes, pbytes = (int(x) for x in (base / "done").read_text().split())

    start = DAY + dt.timedelta(hours=WINDOW_HOUR)
    end = start + dt.timedelta(hours=1)
    window_rows = small + big * big_rows
    all_files = sorted(jroot.rglob("*.jsonl"))
    window_files = sorted((jroot / start.strftime("%Y/%m/%d/%H")).glob("*.jsonl"))

    def window_jsonl() -> int:
        return len(modeltap.read(jroot, start, end))

    def window_parquet() -> int:
        return len(modeltap.read(proot, start, end))

    def window_parquet_arrow() -> int:
        return len(modeltap.read_arrow(proot, start, end))

    runs: list[tuple[str, int, Callable[[], int]]] = [
        ("pandas.read_json loop, every file of the day", 1, lambda: pandas_loop(all_files)),
        ("pandas.read_json loop, the window's files only", args.repeat,
         lambda: pandas_loop(window_files)),
        ("modeltap.read, jsonl, window", args.repeat, window_jsonl),
        ("modeltap.read, parquet, window", args.repeat, window_parquet),
        ("modeltap.read_arrow, parquet, window", args.repeat, window_parquet_arrow),
    ]  # fmt: skip
    if args.skip_baseline:
        runs = runs[1:]
    results = [(name, *best_of(repeat, action)) for name, repeat, action in runs]

    recording = start_recording("read")
    mib = 1024 * 1024
    print()
    print(
        f"scale {args.scale}: window {small:,} events of 1x10 + {big} of {big_rows:,}x10 "
        f"= {window_rows:,} rows; {len(hours) - 1} more hours of the same outside the window"
    )
    print(
        f"jsonl {jbytes / mib:,.0f} MiB in {len(all_files)} files ({len(window_files)} in the "
        f"window); parquet {pbytes / mib:,.0f} MiB; {os.cpu_count()} CPUs"
    )
    print()
    baseline = results[0][1]
    jsonl = next(r[1] for r in results if r[0] == "modeltap.read, jsonl, window")
    header = (
        f"| {'reader':<48} | {'seconds':>8} | {'rows':>11} | {'rows/s':>11} "
        f"| {'vs first':>11} | {'vs jsonl':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, seconds, rows in results:
        print(
            f"| {name:<48} | {seconds:8.2f} | {rows:11,} | {rows / seconds:11,.0f} | "
            f"{baseline / seconds:10.1f}x | {jsonl / seconds:7.1f}x |"
        )
    recording.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
