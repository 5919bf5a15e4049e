"""The whole job in about a minute: serve a model, send traffic, show what was captured, stop.

    python examples/server/demo.py        # or: make demo

With mlflow installed (``pip install "modeltap[mlflow]"``, or ``mlflow-skinny scikit-learn``)
the demo trains the example credit model on the spot, saves it as an MLflow model and serves it
with ``modeltap serve -f examples/mlflow/deployment.yaml`` (no scoring script, every collection
on). Without mlflow it serves the platform how-to's scoring script (``examples/score.py``)
instead. Either way it sends a few hundred requests, the second half with shifted inputs, stops
the server with SIGTERM (which flushes everything) and shows what landed on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import modeltap
from modeltap.catalog import list_assets

EXAMPLES = Path(__file__).resolve().parent.parent
ANNOUNCE = re.compile(r"server on (http://\S+) with")
MAIN = "import sys; from modeltap.cli import main; sys.exit(main())"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
COLLECTIONS = ("model_inputs", "model_outputs", "request", "response")

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@dataclass
class Demo:
    """Which model is served and how its requests are shaped."""

    mlflow: bool
    command: list[str]
    endpoint: str = "credit-endpoint"
    deployment: str = "blue"

    def asset(self, collection: str) -> str:
        return f"{self.endpoint}-{self.deployment}-{collection}"


def have_mlflow() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("mlflow", "sklearn"))


def prepare(work: Path, data_dir: Path, force_script: bool) -> Demo:
    common = ["--port", "0", "--data-dir", str(data_dir)]
    if have_mlflow() and not force_script:
        sys.path.insert(0, str(EXAMPLES / "mlflow"))
        import train  # examples/mlflow/train.py

        with console.status("training the example credit model and saving it with MLflow"):
            model_dir = train.train(work / "model")
        console.print(f"[bold]1.[/] trained a scikit-learn model, saved as an MLflow model in "
                      f"{model_dir}")
        deployment = EXAMPLES / "mlflow" / "deployment.yaml"
        return Demo(True, ["serve", "-f", str(deployment), "--model-dir", str(model_dir),
                           *common])
    console.print("[bold]1.[/] mlflow is not installed (pip install \"modeltap\\[mlflow]\"): "
                  "serving the how-to scoring script examples/score.py instead")
    return Demo(False, ["serve", "-f", str(EXAMPLES / "server" / "deployment.yaml"), *common])


def start(demo: Demo, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    console.print(f"[bold]2.[/] modeltap {' '.join(demo.command)}")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", MAIN, *demo.command],
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    with console.status("starting the server"):
        while time.monotonic() < deadline:
            match = ANNOUNCE.search(log_path.read_text(errors="replace"))
            if match:
                return process, match.group(1)
            if process.poll() is not None:
                break
            time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    sys.exit(f"the server did not start:\n{log_path.read_text(errors='replace')}")


def applicants(rng: random.Random, rows: int, shift: float) -> dict[str, list[float]]:
    """Loan applicants; the second half of the traffic is younger, poorer, more indebted."""
    return {
        "age": [round(min(90.0, max(18.0, rng.gauss(45 - 10 * shift, 12)))) for _ in range(rows)],
        "income": [round(rng.lognormvariate(4.09 - 0.43 * shift, 0.4), 1) for _ in range(rows)],
        "debt_ratio": [round(rng.betavariate(2 + 2 * shift, 5), 3) for _ in range(rows)],
    }


def body(demo: Demo, columns: dict[str, list[float]], i: int) -> dict[str, Any]:
    if not demo.mlflow:
        return {"data": columns}
    names = list(columns)
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(),
                                                                       strict=True)]
    form = FORMATS[i % len(FORMATS)]
    if form == "dataframe_split":
        return {form: {"columns": names, "data": [list(r.values()) for r in records]}}
    if form == "inputs":
        return {form: columns}
    return {form: records}


def post(url: str, payload: dict[str, Any], request_id: str) -> int:
    request = urllib.request.Request(
        f"{url}/score",
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json", "x-request-id": request_id,
                 "x-tenant": "contoso"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            reply.read()
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def send(demo: Demo, url: str, requests: int) -> dict[int, int]:
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    with console.status(f"sending {requests} requests"):
        for i in range(requests):
            shift = 0.0 if i < requests // 2 else 0.6
            columns = applicants(rng, rng.randint(1, 4), shift)
            status = post(url, body(demo, columns, i), f"demo-{i:03d}")
            statuses[status] = statuses.get(status, 0) + 1
        if demo.mlflow:  # one request the signature refuses: captured as request/response only
            bad = {"dataframe_records": [{"age": 30, "income": 50.0}]}
            status = post(url, bad, "demo-bad")
            statuses[status] = statuses.get(status, 0) + 1
    shown = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    console.print(f"[bold]3.[/] sent {sum(statuses.values())} requests to {url}/score "
                  f"(the second half with shifted inputs): {shown}")
    return statuses


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    console.print(f"[bold]4.[/] stopped the server with SIGTERM (flushes everything): exit {code}")
    return code


def data_files(data_dir: Path, collection: str) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix in
                  (".jsonl", ".parquet") and collection in p.relative_to(data_dir).parts
                  and not p.relative_to(data_dir).parts[0].startswith(("_", ".")))


def show(demo: Demo, data_dir: Path, requests: int) -> bool:
    store = str(data_dir)
    frames = {name: modeltap.read(demo.asset(name), destination=store) for name in COLLECTIONS}

    captured = Table(title="What was captured, per collection", title_justify="left")
    for column in ("collection", "data asset", "records", "rows", "files", "bytes"):
        captured.add_column(column, justify="left" if column in ("collection", "data asset")
                            else "right", no_wrap=True)
    for name, frame in frames.items():
        files = data_files(data_dir, name)
        records = sum(len(p.read_bytes().splitlines()) for p in files if p.suffix == ".jsonl")
        captured.add_row(name, demo.asset(name), str(records), str(len(frame)), str(len(files)),
                         f"{sum(p.stat().st_size for p in files):,}")
    console.print(captured)

    joined = modeltap.join(frames["model_inputs"], frames["model_outputs"])
    joined["half"] = [
        "second (shifted)" if cid.startswith("demo-") and int(cid[5:]) >= requests // 2
        else "first" for cid in joined["correlationid"]
    ]
    features = [c for c in ("age", "income", "debt_ratio") if c in joined.columns]
    drift = Table(title="The shift is visible in the captured inputs and outputs",
                  title_justify="left")
    drift.add_column("traffic")
    drift.add_column("requests", justify="right")
    drift.add_column("rows", justify="right")
    for column in features:
        drift.add_column(f"mean {column}", justify="right")
    drift.add_column("mean prediction", justify="right")
    for half, group in joined.groupby("half", sort=True):
        drift.add_row(str(half), str(group["correlationid"].nunique()), str(len(group)),
                      *(f"{group[c].mean():.2f}" for c in features),
                      f"{group['prediction'].mean():.3f}")
    console.print(drift)

    response = frames["response"][["correlationid", "statuscode", "latencyms"]]
    sample_ids = sorted(joined["correlationid"].unique())[:3]
    sample = joined[joined["correlationid"].isin(sample_ids)].merge(
        response, on="correlationid", how="left"
    ).sort_values(["correlationid", "row_index"])
    rows = Table(title="A few correlated rows: inputs and outputs of one request, joined on "
                 "correlationid + row_index", title_justify="left")
    for column in ("correlationid", "row", *features, "prediction", "status", "ms"):
        rows.add_column(column, justify="left" if column == "correlationid" else "right")
    for _, row in sample.iterrows():
        rows.add_row(str(row["correlationid"]), str(row["row_index"]),
                     *(str(row[c]) for c in features), str(row["prediction"]),
                     str(row["statuscode"]), f"{row['latencyms']:.1f}")
    console.print(rows)
    if demo.mlflow and "demo-bad" in set(frames["response"]["correlationid"]):
        refused = frames["response"].set_index("correlationid").loc["demo-bad"]
        console.print(f"refused request demo-bad: status {refused['statuscode']}, captured in "
                      f"request/response only: {json.dumps(refused['data'])}\n")

    assets = Table(title=f"Registered data assets (modeltap data list -d {store})",
                   title_justify="left")
    for column in ("name", "version", "columns", "first event", "last event"):
        assets.add_column(column, no_wrap=column != "columns",
                          min_width=22 if column == "columns" else None)
    for asset in list_assets(store):
        first, last = (str(t or "").replace("T", " ")[:19] for t in (asset.first_event_time,
                                                                    asset.last_event_time))
        columns = ", ".join(asset.columns) if asset.columns else ""
        assets.add_row(asset.name, asset.version, columns, first, last)
    console.print(assets)

    files = Table(title=f"Files under {store}", title_justify="left")
    files.add_column("path", overflow="fold")
    files.add_column("bytes", justify="right")
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()
                       and not p.relative_to(data_dir).parts[0].startswith(".")):
        files.add_row(str(path.relative_to(data_dir)), f"{path.stat().st_size:,}")
    console.print(files)

    complete = set(frames["model_inputs"]["correlationid"]) == set(
        frames["model_outputs"]["correlationid"]
    ) and len(frames["request"]) == len(frames["response"]) >= requests
    return complete and len(joined) == len(frames["model_inputs"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--scoring-script", action="store_true",
                        help="serve examples/score.py even when mlflow is installed")
    args = parser.parse_args()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="modeltap-demo-"))
    data_dir = work / "data"
    demo = prepare(work, data_dir, args.scoring_script)
    process, url = start(demo, work / "server.log")
    try:
        send(demo, url, args.requests)
    finally:
        code = stop(process)
    console.print()
    ok = show(demo, data_dir, args.requests) and code == 0
    console.print(
        f"[bold]5.[/] read it yourself: modeltap data read {demo.asset('model_inputs')} "
        f"-d {data_dir} --limit 5\n   server log: {work / 'server.log'}\n"
        f"done in {time.monotonic() - started:.0f} s: "
        + ("[green]every request's records are there[/]" if ok else "[red]records missing[/]")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
