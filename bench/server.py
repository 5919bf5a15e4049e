"""Benchmark: ``modeltap serve`` against the reference inference server, over loopback with wrk.

Three servers (four with ``--thread-writer``) run the platform how-to scoring script
(``examples/score.py``, a trivial model), one worker each, each started fresh for every
concurrency level:

* ``modeltap on``: ``modeltap serve`` with model_inputs, model_outputs, request and response on
  (4 records per request), encoded and written by its writer process (serve's default);
* ``modeltap off``: the same with every collection off;
* ``modeltap on, thread writer`` (with ``--thread-writer``): ``modeltap on`` with
  ``MODELTAP_WRITER=thread``: the records encoded and written by a thread of the serving process
  instead;
* ``reference``: ``azureml-inference-server-http==1.5.1`` running the same script with its
  import line switched back to ``azureml.ai.monitoring`` (2 records per request: that server has
  no payload logging of its own), the SDK sending to a ``modeltap ingest`` sink on loopback. It
  runs from a venv this script creates once (``bench/.venv-ref-server``).

The modeltap servers run with ``--log-level warning``: with its collections off, the how-to
script's ``on_error`` handler logs one INFO line per request (the collector reports a disabled
collection to it), which would slow the capture-off baseline down. The reference server runs
with its defaults.

Load comes from ``wrk`` (Debian package ``wrk``) at concurrency 1 and 16. The servers take
turns, ``--rounds`` times per concurrency (these machines are noisy: interleaving spreads a slow
spell over all of them); each row is the round with the median requests/s, with its p50/p99
latency, and the records captured after a graceful stop (SIGTERM) against the records expected
for the requests served (warm-up included), summed over all rounds. Captured records are
counted once per collection and correlation id (a record stored twice cannot hide a missing
one); a modeltap server's requests served are those its own /metrics counted as answered 200
(wrk leaves out the requests in flight when its run ends), the reference's those wrk counted.
'CPU µs/req' is the CPU time (user + system, from /proc) the server's processes used during the
wrk run per request served, the modeltap writer process apart in 'writer µs/req', each the
median over the rounds: a figure the machine's noise moves far less than requests/s, and the one
that says what capture costs the process that serves.

The throughput ratios (capture on / off, modeltap / reference) are given twice: as the ratio of
the median rows, and paired by round: the median over the rounds of each round's own ratio, its
servers measured back to back. The machine's speed drifts by more than the effect between
rounds (one server's rounds have spread from 222 to 467 req/s), and a pair shares its round's
speed, so the targets are judged on the paired ratio; the lowest and highest round are printed
beside it.

The last lines measure what bounds one worker: the CPU time of run() itself, called in a loop
in one process with the same collections on (no HTTP), and the requests/s that allows; once with
pandas' string columns in Python objects (what ``modeltap serve`` sets up for scripts, and what
the reference's venv, without pyarrow, has) and once in Arrow (pandas' choice when pyarrow is
installed). ``--string-storage`` sets ``MODELTAP_PANDAS_STRING_STORAGE`` for the modeltap
servers.

``--threads N`` passes ``--threads N`` to both modeltap servers. Without it they place run()
themselves (the event loop's thread while run() is quick); ``1`` fixes a pool thread, ``0`` the
event loop's thread.

Usage: ``python bench/server.py [--duration S] [--rounds N] [--skip-reference] [--threads N]
[--thread-writer] [--string-storage python|pyarrow|auto]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _results import start_recording
from modeltap.config import WRITER_VARIABLE
from modeltap.server.strings import STRING_STORAGE_VARIABLE

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPT = ROOT / "examples" / "score.py"
REF_VENV = BENCH / ".venv-ref-server"
REF_REQUIREMENTS = ["azureml-inference-server-http==1.5.1", "azureml-ai-monitoring==1.0.0",
                    "pandas"]
MAIN = "import sys; from modeltap.cli import main; sys.exit(main())"
BODY = '{"data": {"age": [31, 45, 52], "income": [52.1, 48.3, 61.0], "segment": ["a", "b", "c"]}}'
WARMUP = 20
COLLECTIONS = ("model_inputs", "model_outputs", "request", "response")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def post(url: str) -> None:
    request = urllib.request.Request(url, data=BODY.encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()


def stop(process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def count_records(data_dir: Path) -> int:
    """Distinct records stored: one per collection and correlation id (the bench sends one row
    per request), so a record written twice cannot hide one that is missing."""
    seen: set[tuple[str, str]] = set()
    unkeyed = 0
    for path in data_dir.rglob("*.jsonl"):
        if ".modeltap" in path.parts:
            continue
        collection = path.relative_to(data_dir).parts[2]  # {endpoint}/{deployment}/{collection}
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                correlation = json.loads(line).get("correlationid")
                if correlation is None:
                    unkeyed += 1
                else:
                    seen.add((collection, str(correlation)))
    return len(seen) + unkeyed


def answered(port: int) -> int:
    """The /score requests a modeltap server answered 200, by its own /metrics (wrk does not
    count the requests still in flight when its run ends, which were answered and captured)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
        text = reply.read().decode()
    return int(sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "modeltap_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels.get("route") == "/score" and sample.labels.get("status") == "200"
    ))


@dataclass
class Row:
    server: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    served: int
    errors: int
    expected: int
    captured: int
    cpu_us: float = float("nan")  # CPU of the server's processes but its writer, per request
    writer_us: float = float("nan")  # CPU of its writer process, per request


def tree_cpu(root: int) -> tuple[float, float]:
    """CPU seconds (user + system) so far of ``root`` and the processes under it: (all but
    modeltap writer processes, modeltap writer processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    writers: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields from the 3rd (state) on
        pid = int(entry)
        parents[pid] = int(fields[1])
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
        if b"modeltap.pipeline.writer_process.child" in command:
            writers.add(pid)
    serving = writing = 0.0
    for pid, used in seconds.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            if pid in writers:
                writing += used
            else:
                serving += used
    return serving, writing


def run_measured(process: subprocess.Popen[bytes], url: str, concurrency: int,
                 duration: float, lua: Path) -> dict[str, float]:
    """wrk against ``url``, with the CPU the server's processes used per request meanwhile."""
    serving, writing = tree_cpu(process.pid)
    rps, p50, p99, served, errors = run_wrk(url, concurrency, duration, lua)
    serving_after, writing_after = tree_cpu(process.pid)
    requests = max(served, 1)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "served": served, "errors": errors,
            "cpu_us": (serving_after - serving) / requests * 1e6,
            "writer_us": (writing_after - writing) / requests * 1e6}


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        log(f"wrk printed a latency as {text!r}: not a number of us, ms or s")
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, concurrency: int, duration: float, lua: Path) -> tuple[float, float, float,
                                                                            int, int]:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency",
         "-s", str(lua), url],
        capture_output=True, text=True, check=True,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # the distribution's own lines ("    50%    1.16ms"), not a stdev share such as "87.50%"
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    served = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    return rps, p50, p99, served, errors


def deployment(folder: Path, enabled: bool) -> Path:
    collections = "\n".join(
        f"    {name}:\n      enabled: '{enabled}'" for name in COLLECTIONS
    )
    path = folder / "deployment.yaml"
    path.write_text(
        "endpoint_name: bench\nname: blue\n"
        f"code_configuration:\n  code: {SCRIPT.parent}\n  scoring_script: {SCRIPT.name}\n"
        f"data_collector:\n  collections:\n{collections}\n",
        encoding="utf-8",
    )
    return path


def measure_modeltap(enabled: bool, concurrency: int, duration: float, lua: Path,
                     work: Path, threads: int | None = None, writer: str | None = None,
                     ack: str | None = None) -> Row:
    folder = Path(tempfile.mkdtemp(dir=work))
    data = folder / "data"
    port = free_port()
    environment = dict(os.environ)
    environment.pop(WRITER_VARIABLE, None)  # serve's own default unless ``writer`` says
    if writer is not None:
        environment[WRITER_VARIABLE] = writer
    with open(folder / "server.log", "wb") as server_log:
        process = subprocess.Popen(
            [sys.executable, "-c", MAIN, "serve", "-f", str(deployment(folder, enabled)),
             "--log-level", "warning",
             *(["--threads", str(threads)] if threads is not None else []),
             *(["--ack", ack] if ack is not None else []),
             "--port", str(port), "--data-dir", str(data)],
            stdout=server_log, stderr=subprocess.STDOUT, env=environment,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ready", process)
        for _ in range(WARMUP):
            post(f"http://127.0.0.1:{port}/score")
        run = run_measured(process, f"http://127.0.0.1:{port}/score", concurrency, duration,
                           lua)
        total = answered(port)
    finally:
        stop(process)
    return Row(
        server=(f"modeltap {'on' if enabled else 'off'}"
                + (f", {writer} writer" if writer is not None else "")
                + (f", ack: {ack}" if ack is not None else "")),
        concurrency=concurrency, rps=run["rps"], p50_ms=run["p50_ms"], p99_ms=run["p99_ms"],
        served=total, errors=int(run["errors"]), expected=4 * total if enabled else 0,
        captured=count_records(data), cpu_us=run["cpu_us"], writer_us=run["writer_us"],
    )


def ensure_reference_env() -> Path | None:
    python = REF_VENV / "bin" / "python"
    check = "import azureml_inference_server_http, azureml.ai.monitoring, pandas"
    if python.exists() and subprocess.run([python, "-c", check],
                                          capture_output=True).returncode == 0:
        return python
    log(f"creating {REF_VENV} with {' '.join(REF_REQUIREMENTS)} (once)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(REF_VENV)], check=True,
                       timeout=300)
        subprocess.run([python, "-m", "pip", "install", "-q", *REF_REQUIREMENTS], check=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"cannot create the reference venv ({exc}); skipping the reference server")
        return None
    return python


def measure_reference(python: Path, concurrency: int, duration: float, lua: Path,
                      work: Path) -> Row:
    folder = Path(tempfile.mkdtemp(dir=work))
    script = folder / "score.py"
    script.write_text(
        SCRIPT.read_text(encoding="utf-8").replace(
            "from modeltap import Collector  # was: from azureml.ai.monitoring import Collector",
            "from azureml.ai.monitoring import Collector",
        ),
        encoding="utf-8",
    )
    data = folder / "data"
    sink_port, port, health_port = free_port(), free_port(), free_port()
    with open(folder / "sink.log", "wb") as sink_log:
        sink = subprocess.Popen(
            [sys.executable, "-c", MAIN, "ingest", "--port", str(sink_port), "--data-dir",
             str(data)],
            stdout=sink_log, stderr=subprocess.STDOUT,
        )
    environment = dict(os.environ)
    environment.update(AZUREML_MDC_ENABLED="true", AZUREML_MDC_HOST="127.0.0.1",
                       AZUREML_MDC_PORT=str(sink_port))
    try:
        wait_http(f"http://127.0.0.1:{sink_port}/ready", sink)
        with open(folder / "server.log", "wb") as server_log:
            process = subprocess.Popen(
                [str(python.parent / "azmlinfsrv"), "--entry_script", str(script), "--port",
                 str(port), "--health_port", str(health_port), "--worker_count", "1"],
                stdout=server_log, stderr=subprocess.STDOUT, env=environment, cwd=folder,
            )
        try:
            wait_http(f"http://127.0.0.1:{port}/", process)
            for _ in range(WARMUP):
                post(f"http://127.0.0.1:{port}/score")
            run = run_measured(process, f"http://127.0.0.1:{port}/score", concurrency,
                               duration, lua)
        finally:
            stop(process)
    finally:
        stop(sink)
    total = int(run["served"]) + WARMUP
    return Row(
        server="reference", concurrency=concurrency, rps=run["rps"], p50_ms=run["p50_ms"],
        p99_ms=run["p99_ms"], served=total, errors=int(run["errors"]), expected=2 * total,
        captured=count_records(data), cpu_us=run["cpu_us"], writer_us=run["writer_us"],
    )


def print_table(rows: list[Row]) -> None:
    header = (f"| {'server':<27} | {'conc.':>5} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} "
              f"| {'served':>7} | {'records expected':>16} | {'captured':>8} | {'missing':>7} "
              f"| {'CPU µs/req':>10} | {'writer µs/req':>13} |")
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for row in rows:
        missing = max(0, row.expected - row.captured)
        print(f"| {row.server:<27} | {row.concurrency:>5} | {row.rps:>8.1f} | {row.p50_ms:>7.2f} "
              f"| {row.p99_ms:>7.2f} | {row.served:>7} | {row.expected:>16} | {row.captured:>8} "
              f"| {missing:>7} | {row.cpu_us:>10.0f} | {row.writer_us:>13.0f} |")


Rounds = dict[tuple[str, int], list[Row]]
"""Every round's row, by (server, concurrency), in round order."""


def paired(rounds: Rounds, server: str, baseline: str, concurrency: int) -> list[float]:
    """Each round's requests/s of ``server`` over that of ``baseline`` (same round)."""
    ours, theirs = rounds.get((server, concurrency), []), rounds.get((baseline, concurrency), [])
    return [a.rps / b.rps for a, b in zip(ours, theirs, strict=False) if b.rps > 0]


def ratio_line(name: str, medians: float, pairs: list[float], target: float,
               percent: bool) -> str:
    """A throughput ratio: of the median rows, and paired by round (which the target judges)."""
    def shown(value: float) -> str:
        return f"{value:.0%}" if percent else f"{value:.2f}x"

    median = statistics.median(pairs)
    verdict = "PASS" if median >= target else "FAIL"
    return (f"{name}: paired by round {shown(median)} (rounds {shown(min(pairs))}-"
            f"{shown(max(pairs))}; medians {shown(medians)}) (target >= {shown(target)}) "
            f"{verdict}")


def print_targets(rows: list[Row], rounds: Rounds) -> None:
    by = {(r.server, r.concurrency): r for r in rows}
    print()
    for concurrency in (1, 16):
        on, off = by.get(("modeltap on", concurrency)), by.get(("modeltap off", concurrency))
        ref = by.get(("reference", concurrency))
        if on and off:
            pairs = paired(rounds, "modeltap on", "modeltap off", concurrency)
            print(ratio_line(f"c={concurrency}: capture on / off throughput", on.rps / off.rps,
                             pairs, 0.85, percent=True))
            print(f"c={concurrency}: CPU per request of the serving process, capture on / off "
                  f"{on.cpu_us / off.cpu_us:.0%} ({on.cpu_us:.0f} / {off.cpu_us:.0f} µs)")
            print(f"c={concurrency}: the writer process's CPU per request, capture on: "
                  f"{on.writer_us:.0f} µs")
        thread_on = by.get(("modeltap on, thread writer", concurrency))
        if thread_on and off:
            print(f"c={concurrency}: the same with the thread writer "
                  f"{thread_on.cpu_us / off.cpu_us:.0%} ({thread_on.cpu_us:.0f} µs)")
        if on and ref:
            pairs = paired(rounds, "modeltap on", "reference", concurrency)
            print(ratio_line(f"c={concurrency}: modeltap on / reference throughput",
                             on.rps / ref.rps, pairs, 3.0, percent=False))
        if on and thread_on:
            pairs = paired(rounds, "modeltap on", "modeltap on, thread writer", concurrency)
            print(f"c={concurrency}: capture on, writer process / thread writer throughput "
                  f"{statistics.median(pairs):.2f}x paired by round")
        acked = by.get(("modeltap on, ack: spool", concurrency))
        if on and acked:
            pairs = paired(rounds, "modeltap on, ack: spool", "modeltap on", concurrency)
            print(f"c={concurrency}: capture on, ack: spool / ack: queue throughput "
                  f"{statistics.median(pairs):.2f}x paired by round; p99 {acked.p99_ms:.2f} / "
                  f"{on.p99_ms:.2f} ms")
        if on:
            missing = max(0, on.expected - on.captured)
            print(f"c={concurrency}: modeltap records missing after shutdown: {missing} "
                  f"{'PASS' if missing == 0 else 'FAIL'}")
        if ref:
            lost = max(0, ref.expected - ref.captured) / max(ref.expected, 1)
            print(f"c={concurrency}: reference records lost: {lost:.0%}")


RUN_ALONE = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import modeltap
from modeltap.server.strings import use_string_storage
use_string_storage(os.environ)  # as serve's workers do
modeltap.configure({"destination": sys.argv[2]})
import score
score.init()
body = sys.argv[3]
for _ in range(300):
    score.run(body)
costs = []
deadline = time.monotonic() + float(sys.argv[4])
while time.monotonic() < deadline:
    started = time.thread_time()
    score.run(body)
    costs.append(time.thread_time() - started)
modeltap.flush()
costs.sort()
print(json.dumps({"calls": len(costs), "median_us": costs[len(costs) // 2] * 1e6}))
"""


def measure_run_alone(work: Path, seconds: float, storage: str) -> dict[str, float]:
    """CPU time of the script's run() called in a loop in one process, collections on, with
    pandas' string ``storage`` set as serve's workers set it."""
    out = subprocess.run(
        [sys.executable, "-c", RUN_ALONE, str(SCRIPT.parent), str(work / f"alone-{storage}"),
         BODY, str(seconds)],
        capture_output=True, text=True, check=True,
        env={**os.environ, STRING_STORAGE_VARIABLE: storage},
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def median_row(rounds: list[Row]) -> Row:
    """The round with the median requests/s, with served/expected/captured of all rounds."""
    ordered = sorted(rounds, key=lambda r: r.rps)
    middle = ordered[(len(ordered) - 1) // 2]
    return Row(
        server=middle.server, concurrency=middle.concurrency, rps=middle.rps,
        p50_ms=middle.p50_ms, p99_ms=middle.p99_ms, served=sum(r.served for r in rounds),
        errors=sum(r.errors for r in rounds), expected=sum(r.expected for r in rounds),
        captured=sum(r.captured for r in rounds),
        cpu_us=statistics.median(r.cpu_us for r in rounds),
        writer_us=statistics.median(r.writer_us for r in rounds),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=7, help="turns per server and concurrency")
    parser.add_argument("--skip-reference", action="store_true", help="modeltap rows only")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--threads", type=int,
                        help="modeltap serve --threads (1: always a pool thread; 0: always the "
                             "event loop's thread; default: modeltap chooses)")
    parser.add_argument("--thread-writer", action="store_true",
                        help="also measure capture on with the thread writer")
    parser.add_argument("--ack-spool", action="store_true",
                        help="also measure capture on with --ack spool (answered once the "
                             "records are in the spool, group commit)")
    parser.add_argument("--string-storage", choices=("python", "pyarrow", "auto"),
                        help=f"{STRING_STORAGE_VARIABLE} for the modeltap servers (default: "
                             "serve's own, python)")
    args = parser.parse_args(argv)
    if args.string_storage is not None:
        os.environ[STRING_STORAGE_VARIABLE] = args.string_storage  # the reference ignores it
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    python = None if args.skip_reference else ensure_reference_env()
    work = Path(tempfile.mkdtemp(prefix="modeltap-bench-server-"))
    lua = work / "post.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n',
        encoding="utf-8",
    )
    rows: list[Row] = []
    every: Rounds = {}
    servers: list[tuple[bool, str | None, str | None]] = [(True, None, None), (False, None, None)]
    if args.thread_writer:
        servers.append((True, "thread", None))
    if args.ack_spool:
        servers.append((True, None, "spool"))
    try:
        for concurrency in (1, 16):
            rounds: dict[str, list[Row]] = {}
            for turn in range(args.rounds):
                for enabled, writer, ack in servers:
                    row = measure_modeltap(enabled, concurrency, args.duration, lua, work,
                                           args.threads, writer, ack)
                    log(f"{row.server}, concurrency {concurrency}, round {turn + 1}/"
                        f"{args.rounds}: {row.rps:.1f} req/s")
                    rounds.setdefault(row.server, []).append(row)
                if python is not None:
                    log(f"reference, concurrency {concurrency}, round {turn + 1}/{args.rounds}")
                    rounds.setdefault("reference", []).append(
                        measure_reference(python, concurrency, args.duration, lua, work)
                    )
            rows.extend(median_row(r) for r in rounds.values())
            every.update(((server, concurrency), r) for server, r in rounds.items())
        log("run() alone, in one process")
        alone = {storage: measure_run_alone(work, args.duration, storage)
                 for storage in ("python", "pyarrow")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    recording = start_recording("server")
    threads = "" if args.threads is None else f", modeltap --threads {args.threads}"
    print(f"\nscoring servers, 1 worker each{threads}, loopback, wrk {args.duration:g}s per run, "
          f"median of {args.rounds} interleaved rounds, {os.cpu_count()} CPUs\n")
    print_table(rows)
    print_targets(rows, every)
    print()
    for storage, label in (("python", "Python strings, serve's default"),
                           ("pyarrow", "Arrow strings")):
        one = alone[storage]
        ceiling = 1e6 / one["median_us"]
        print(f"run() alone ({label}; no HTTP, collections on, {one['calls']:.0f} calls): "
              f"median {one['median_us']:.0f} µs of CPU -> at most {ceiling:.0f} req/s for one "
              "worker")
    recording.save()
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
