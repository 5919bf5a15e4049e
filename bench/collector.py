"""Benchmark: modeltap's Collector against the reference SDK azureml-ai-monitoring==1.0.0.

One run measures both sides, each measurement in its own process so they share no GIL or state:

* modeltap runs with this project's python (``_tapside.py``) and writes to a fresh local
  destination; what it reports is checked against the committed files;
* the reference SDK runs with the python of a venv this script creates (``bench/.venv-ref``,
  ``azureml-ai-monitoring==1.0.0`` with pandas and requests; ``_refside.py``) and posts to a
  minimal local HTTP sink standing in for its sidecar (``_refsink.py``, in this process,
  127.0.0.1 on a free port).

Frames are 1×10, 100×10 and 10,000×10 (4 float, 3 int, 3 str columns). Printed tables: the caller
cost of collect() during a burst while the writer is busy; committed events and rows per second
in a tight loop (modeltap with full_policy block); a zero-drop check for 1-row frames paced from
one thread; and the targets with PASS/FAIL. Ratios are modeltap / reference from the same run.

Caller stalls over ~10 ms are full (generation 2) collections of the worker's whole heap, which
holds the events queued while the writer is behind; each burst therefore also records, via
gc.callbacks during the timed calls only, how many full collections ran and the longest. Every
burst is also run "host heap frozen": the worker calls gc.collect(); gc.freeze() after its
imports and warm-up (as a latency-tuned server does after start-up; ``modeltap serve`` does), so
collections skip what was alive then. Both sides get the same accounting and the same freeze.

Usage: ``python bench/collector.py [--quick] [--repeats N] [--skip-reference]
[--writer thread|process]`` (where modeltap encodes and writes; the library default is thread).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _refsink import Sink
from _results import start_recording
from _workload import COLLECTION, WARMUP_COLLECTION, summarize_ns

BENCH = Path(__file__).resolve().parent
REF_VENV = BENCH / ".venv-ref"
REF_REQUIREMENTS = ("azureml-ai-monitoring==1.0.0", "pandas", "requests")
REF_VERSION = "1.0.0"
SIZES = (1, 100, 10_000)
COLUMNS = 10
PACED_RATE = 10_000.0
FROZEN_SUFFIX = "-frozen"  # results of workers that froze their heap: scenario "burst-frozen"

TARGET_MEDIAN_US = 40.0
TARGET_P99_US = 250.0
TARGET_MAX_US = 10_000.0
TARGET_PACED_RATE = 10_000.0
TARGET_ROWS_PER_S = 500_000.0
PACING_TOLERANCE = 0.01


@dataclass(frozen=True)
class Plan:
    """What one run measures, and its bounds."""

    name: str
    repeats: int
    burst: dict[int, tuple[int, int]]  # rows -> (untimed lead-in calls, timed calls)
    tight: dict[int, tuple[int, float]]  # rows -> (max frames, max seconds)
    tight_queue_events: int
    paced_seconds: float
    max_flush: float


FULL = Plan(
    name="full",
    repeats=2,
    burst={1: (3_000, 20_000), 100: (500, 5_000), 10_000: (20, 300)},
    tight={1: (40_000, 3.0), 100: (5_000, 3.0), 10_000: (60, 8.0)},
    tight_queue_events=5_000,
    paced_seconds=10.0,
    max_flush=30.0,
)
QUICK = Plan(
    name="quick",
    repeats=1,
    burst={1: (1_000, 3_000), 100: (200, 1_000), 10_000: (10, 40)},
    tight={1: (5_000, 1.0), 100: (1_500, 1.0), 10_000: (20, 3.0)},
    tight_queue_events=5_000,
    paced_seconds=2.0,
    max_flush=15.0,
)


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the tables."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the reference environment ---------------------------------------------------------------


def ensure_reference_env(venv: Path = REF_VENV) -> Path:
    """The python of a venv holding the reference SDK, created (once) if missing or wrong."""
    python = venv / "bin" / "python"
    check = (
        "import importlib.metadata as m, pandas, requests; "
        f"assert m.version('azureml-ai-monitoring') == {REF_VERSION!r}"
    )
    if python.exists() and _ok([str(python), "-c", check]):
        return python
    log(f"creating {venv} with {' '.join(REF_REQUIREMENTS)} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *REF_REQUIREMENTS],
        check=True,
        timeout=900,
    )
    if not _ok([str(python), "-c", check]):
        raise SystemExit(f"{venv}: the reference SDK {REF_VERSION} is not importable")
    return python


def _ok(command: Sequence[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=120).returncode == 0


# -- running one measurement -----------------------------------------------------------------


@dataclass
class Results:
    """Raw results of every measurement, by (side, scenario, rows)."""

    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, side: str, scenario: str, rows: int, result: dict[str, Any]) -> None:
        """Keep one measurement."""
        self.runs.setdefault((side, scenario, rows), []).append(result)

    def get(self, side: str, scenario: str, rows: int) -> list[dict[str, Any]]:
        """Every repeat of one measurement (empty if it was not run)."""
        return self.runs.get((side, scenario, rows), [])


class Bench:
    """Runs the workers of both sides against one sink and a scratch folder."""

    def __init__(
        self, plan: Plan, ref_python: Path | None, scratch: Path, sink: Sink, writer: str
    ) -> None:
        self.plan = plan
        self.writer = writer
        self.ref_python = ref_python
        self.scratch = scratch
        self.sink = sink
        self.results = Results()
        self._serial = 0
        self._ref_config = scratch / "mdc-config.json"
        collections = {name: {"enabled": True} for name in (COLLECTION, WARMUP_COLLECTION)}
        self._ref_config.write_text(json.dumps({"collections": collections}), encoding="utf-8")

    def _worker(
        self, python: Path | str, script: str, spec: dict[str, Any], env: dict[str, str]
    ) -> dict[str, Any]:
        self._serial += 1
        out = self.scratch / f"result-{self._serial}.json"
        limit = 120.0 + 2 * self.plan.max_flush + self.plan.paced_seconds * 2
        done = subprocess.run(
            [str(python), str(BENCH / script), "--spec", json.dumps(spec), "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=self.scratch,
        )
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise RuntimeError(f"{script} {spec} failed ({done.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        out.unlink()
        return result

    def modeltap(
        self, scenario: str, rows: int, *, freeze: bool = False, **spec: Any
    ) -> dict[str, Any]:
        """One modeltap measurement in a fresh process and a fresh destination. ``freeze``: the
        worker freezes its heap before the workload; kept as scenario ``<scenario>-frozen``."""
        destination = Path(tempfile.mkdtemp(prefix="modeltap-", dir=self.scratch))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELTAP_")}
        env["MODELTAP_WRITER"] = self.writer
        full = {"scenario": scenario, "rows": rows, "destination": str(destination), **spec}
        if freeze:
            full["freeze"] = True
        try:
            result = self._worker(sys.executable, "_tapside.py", full, env)
        finally:
            shutil.rmtree(destination, ignore_errors=True)
        self.results.add("modeltap", scenario + FROZEN_SUFFIX * freeze, rows, result)
        return result

    def reference(
        self, scenario: str, rows: int, *, legacy_queue: int | None = None, freeze: bool = False,
        **spec: Any,
    ) -> dict[str, Any] | None:
        """One reference measurement in a fresh process. By default the SDK reads a collections
        config file (as a deployment does: queue of 1500); ``legacy_queue`` switches to its
        environment-only mode, whose queue capacity can be set. ``freeze`` as for modeltap."""
        if self.ref_python is None:
            return None
        env = {k: v for k, v in os.environ.items() if not k.startswith("AZUREML_MDC_")}
        env.update(
            AZUREML_MDC_ENABLED="true",
            AZUREML_MDC_HOST=self.sink.host,
            AZUREML_MDC_PORT=str(self.sink.port),
        )
        if legacy_queue is None:
            env["AZUREML_MDC_CONFIG_PATH"] = str(self._ref_config)
        else:
            env["AZUREML_MDC_QUEUE_CAPACITY"] = str(legacy_queue)
        full = {"scenario": scenario, "rows": rows, **spec}
        if freeze:
            full["freeze"] = True
        result = self._worker(self.ref_python, "_refside.py", full, env)
        self.results.add("reference", scenario + FROZEN_SUFFIX * freeze, rows, result)
        return result

    def run(self) -> Results:
        """Every measurement: bursts (default, then host heap frozen) and tight loops ``repeats``
        times, the paced check once."""
        plan = self.plan
        for repeat in range(1, plan.repeats + 1):
            for rows in SIZES:
                lead_in, count = plan.burst[rows]
                for freeze in (False, True):
                    log(f"run {repeat}/{plan.repeats}: burst {frame_label(rows)} ({count} calls)"
                        f"{', host heap frozen' if freeze else ''}")
                    self.modeltap("burst", rows, freeze=freeze, lead_in=lead_in, count=count)
                    self.reference(
                        "burst", rows, freeze=freeze, lead_in=lead_in, count=count,
                        legacy_queue=10_000_000,
                    )
            for rows in SIZES:
                max_frames, max_seconds = plan.tight[rows]
                log(f"run {repeat}/{plan.repeats}: tight loop {frame_label(rows)}")
                common: dict[str, Any] = {
                    "max_frames": max_frames,
                    "max_seconds": max_seconds,
                    "max_flush": plan.max_flush,
                }
                self.modeltap("tight", rows, queue_max_events=plan.tight_queue_events, **common)
                self.reference("tight", rows, **common)
        log(f"paced 1×{COLUMNS} at {PACED_RATE:,.0f}/s for {plan.paced_seconds:g} s")
        paced: dict[str, Any] = {
            "rate": PACED_RATE,
            "seconds": plan.paced_seconds,
            "max_flush": plan.max_flush,
        }
        self.modeltap("paced", 1, **paced)
        self.reference("paced", 1, **paced)
        return self.results


# -- tables ----------------------------------------------------------------------------------


def frame_label(rows: int) -> str:
    """``10,000×10``."""
    return f"{rows:,}×{COLUMNS}"


def num(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or ``-``."""
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    """modeltap / reference, or ``-``."""
    if ours is None or theirs is None or theirs == 0 or ours != ours or theirs != theirs:
        return "-"
    return f"{ours / theirs:.2f}"


def render(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], note: str = ""
) -> str:
    """A plain-text table: text columns left-aligned, numeric ones right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    numeric = [
        all(_looks_numeric(row[i]) for row in rows) and any(row[i] for row in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title, rule, line(headers), rule, *(line(row) for row in rows), rule]
    if note:
        out.append(note)
    return "\n".join(out)


def _looks_numeric(cell: str) -> bool:
    if cell == "":
        return True
    stripped = cell.replace(",", "").replace(".", "").replace("%", "").replace("-", "")
    return cell == "-" or stripped.isdigit()


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def pooled_latency(
    results: Results, side: str, rows: int, frozen: bool = False
) -> dict[str, Any] | None:
    """Latency summary over the samples of every repeat, with drop and writer counts and the
    full collections during the timed calls; ``frozen``: the host-heap-frozen bursts."""
    runs = results.get(side, "burst" + FROZEN_SUFFIX * frozen, rows)
    if not runs:
        return None
    samples: list[int] = []
    for run in runs:
        samples.extend(run["samples_ns"])
    summary: dict[str, Any] = summarize_ns(samples)
    summary["calls"] = len(samples)
    summary["dropped"] = sum(run["dropped"] for run in runs)
    written = [run["written_during_burst"] for run in runs if "written_during_burst" in run]
    summary["written"] = sum(written) if written else None
    summary["busy"] = all(run["writer_busy_at_start"] for run in runs)
    summary["full_gcs"] = sum(run["full_gcs"] for run in runs)
    summary["longest_gc_ms"] = max(run["longest_gc_ms"] for run in runs)
    summary["total_gc_ms"] = sum(run["total_gc_ms"] for run in runs)
    summary["frozen_objects"] = _median([run["frozen_objects"] for run in runs])
    return summary


def burst_table(results: Results, plan: Plan) -> str:
    """Caller cost of collect() per frame size and side."""
    rows: list[list[str]] = []
    frozen_counts: dict[str, list[float]] = {}
    for frozen in (False, True):
        suffix = ", heap frozen" if frozen else ""
        for size in SIZES:
            ours = pooled_latency(results, "modeltap", size, frozen)
            theirs = pooled_latency(results, "reference", size, frozen)
            for side, s in (("modeltap", ours), ("reference", theirs)):
                if s is None:
                    continue
                if frozen:
                    frozen_counts.setdefault(side, []).append(s["frozen_objects"])
                rows.append([
                    frame_label(size), side + suffix, num(s["calls"]), num(s["median_us"], 1),
                    num(s["p99_us"], 1), num(s["max_us"], 1), num(s["dropped"]),
                    "yes" if s["busy"] else "no",
                    num(s["written"]) if s["written"] is not None else "-",
                    num(s["full_gcs"]), num(s["longest_gc_ms"], 1),
                ])
            if ours and theirs:
                rows.append([
                    frame_label(size), "ratio mt/ref" + suffix, "",
                    ratio(ours["median_us"], theirs["median_us"]),
                    ratio(ours["p99_us"], theirs["p99_us"]),
                    ratio(ours["max_us"], theirs["max_us"]), "", "", "", "", "",
                ])
    frozen_note = ", ".join(
        f"{side} {min(n):,.0f}" + (f"-{max(n):,.0f}" if max(n) != min(n) else "")
        for side, n in frozen_counts.items()
    )
    note = (
        f"Timed calls follow an untimed lead-in "
        f"({', '.join(f'{frame_label(k)}: {v[0]:,}' for k, v in plan.burst.items())} calls); "
        "'writer busy' = the writer (reference: its worker, seen by the sink) had started on that "
        "backlog before timing began. 'writer events' = events modeltap's writer wrote while the "
        f"timed calls ran. Samples pooled over {plan.repeats} run(s). modeltap: default "
        "drop_newest, big queue; reference: queue capacity 10,000,000 (legacy env mode).\n"
        "'full GCs' = generation-2 collections of the worker process (any thread) while the "
        "timed calls ran, summed over runs; 'longest GC ms' = the longest of them (gc.callbacks, "
        "start to stop). 'heap frozen' rows: same bursts, but the worker ran gc.collect(); "
        "gc.freeze() after its imports and warm-up, before the lead-in"
        + (f" (objects frozen: {frozen_note})" if frozen_note else "") + "."
    )
    return render(
        "Caller cost of collect() during a burst (µs per call)",
        ["frame", "side", "calls", "median", "p99", "max", "dropped", "writer busy",
         "writer events", "full GCs", "longest GC ms"],
        rows,
        note,
    )


def tight_summary(results: Results, side: str, size: int) -> dict[str, Any] | None:
    """Medians over the repeats of one tight-loop measurement."""
    runs = results.get(side, "tight", size)
    if not runs:
        return None
    lost = [100.0 * (r["sent"] - r["committed_events"]) / r["sent"] for r in runs if r["sent"]]
    verified = [_verified(r) for r in runs if side == "modeltap"]
    return {
        "sent": _median([r["sent"] for r in runs]),
        "committed": _median([r["committed_events"] for r in runs]),
        "lost_pct": _median(lost),
        "events_per_s": _median([r["events_per_s"] for r in runs]),
        "rows_per_s": _median([r["rows_per_s"] for r in runs]),
        "elapsed": _median([r["elapsed"] for r in runs]),
        "flushed": all(r["flushed"] for r in runs),
        "verified": "-" if not verified else ("ok" if all(verified) else "MISMATCH"),
    }


def _verified(run: dict[str, Any]) -> bool:
    """Whether modeltap's counters match the files read back (after a completed flush)."""
    files_agree = bool(run["verified_files"] == run["files_committed"])
    if not run["flushed"]:
        return files_agree
    return files_agree and bool(
        run["committed_rows"] == run["rows_written"]
        and run["committed_events"] == run["events_written"] == run["collected"]
    )


def tight_table(results: Results, plan: Plan) -> str:
    """Committed events and rows per second in a tight loop, per frame size and side."""
    rows: list[list[str]] = []
    for size in SIZES:
        ours = tight_summary(results, "modeltap", size)
        theirs = tight_summary(results, "reference", size)
        for side, s in (("modeltap", ours), ("reference", theirs)):
            if s is None:
                continue
            rows.append([
                frame_label(size), side, num(s["sent"]), num(s["committed"]),
                num(s["lost_pct"], 1), num(s["elapsed"], 2), num(s["events_per_s"]),
                num(s["rows_per_s"]), "yes" if s["flushed"] else "TIMEOUT", s["verified"],
            ])
        if ours and theirs:
            rows.append([
                frame_label(size), "ratio mt/ref", "", "", "", "",
                ratio(ours["events_per_s"], theirs["events_per_s"]),
                ratio(ours["rows_per_s"], theirs["rows_per_s"]), "", "",
            ])
    note = (
        f"Medians of {plan.repeats} run(s). Loop bounded per size by frames and seconds "
        f"({', '.join(f'{frame_label(k)}: {v[0]:,}/{v[1]:g}s' for k, v in plan.tight.items())}); "
        f"then flush (bounded {plan.max_flush:g} s). Rate = committed / (first collect -> flush "
        f"return). modeltap: full_policy block, queue_max_events {plan.tight_queue_events:,}; "
        "committed = records read back from committed files, 'verified' = stats agree with them. "
        "reference: config-file mode (queue 1500, drops when full); committed = rows the sink "
        "received (it replies before parsing, so counting is off the SDK's path); flush = "
        "teardown(wait_for_flush=True)."
    )
    return render(
        "Throughput: tight loop of collect(), committed events/s and rows/s",
        ["frame", "side", "sent", "committed", "lost %", "seconds", "events/s", "rows/s",
         "flushed", "verified"],
        rows,
        note,
    )


def paced_table(results: Results, plan: Plan) -> str:
    """The zero-drop check for paced 1-row frames."""
    rows: list[list[str]] = []
    for side in ("modeltap", "reference"):
        runs = results.get(side, "paced", 1)
        if not runs:
            continue
        r = runs[0]
        rows.append([
            side, num(r["sent"]), num(r["send_rate"]), num(r["dropped"]),
            num(r["committed_events"]),
            num(100.0 * r["committed_events"] / r["sent"], 2) if r["sent"] else "-",
            num(r["events_per_s"]), num(r["elapsed"], 2), "yes" if r["flushed"] else "TIMEOUT",
        ])
    note = (
        f"1-row frames issued at {PACED_RATE:,.0f}/s from one thread for {plan.paced_seconds:g} s "
        f"(gives up at 1.5× if the caller cannot keep up), then flush (bounded "
        f"{plan.max_flush:g} s). modeltap: default settings (drop_newest, queue 100,000); "
        "reference: config-file mode (queue 1500). committed/s = committed / (first collect -> "
        "flush return)."
    )
    return render(
        f"Zero-drop check: 1×{COLUMNS} frames paced at {PACED_RATE:,.0f}/s",
        ["side", "sent", "sent/s", "dropped", "committed", "committed %", "committed/s",
         "seconds", "flushed"],
        rows,
        note,
    )


def targets_table(results: Results, plan: Plan) -> str:
    """Each target, the measured modeltap value and PASS/FAIL."""
    rows: list[list[str]] = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    for size in SIZES:
        s = pooled_latency(results, "modeltap", size)
        if s is None:
            continue
        label = frame_label(size)
        rows.append([f"caller median <= {TARGET_MEDIAN_US:g} µs, {label}",
                     f"{s['median_us']:.1f} µs", verdict(s["median_us"] <= TARGET_MEDIAN_US)])
        rows.append([f"caller p99 <= {TARGET_P99_US:g} µs, {label}",
                     f"{s['p99_us']:,.1f} µs", verdict(s["p99_us"] <= TARGET_P99_US)])
        rows.append([f"caller max <= {TARGET_MAX_US / 1000:g} ms, {label}",
                     f"{s['max_us'] / 1000:.2f} ms", verdict(s["max_us"] <= TARGET_MAX_US)])
    for size in SIZES:
        s = pooled_latency(results, "modeltap", size, frozen=True)
        if s is None:
            continue
        rows.append([f"caller max <= {TARGET_MAX_US / 1000:g} ms, {frame_label(size)}, "
                     "host heap frozen",
                     f"{s['max_us'] / 1000:.2f} ms", verdict(s["max_us"] <= TARGET_MAX_US)])
    paced = results.get("modeltap", "paced", 1)
    if paced:
        r = paced[0]
        planned = round(PACED_RATE * plan.paced_seconds)
        kept_pace = r["sent"] == planned and r["send_rate"] >= TARGET_PACED_RATE * (
            1 - PACING_TOLERANCE
        )
        ok = kept_pace and r["dropped"] == 0 and r["committed_events"] == r["sent"] and r["flushed"]
        rows.append([
            f">= {TARGET_PACED_RATE:,.0f} 1-row events/s paced for {plan.paced_seconds:g} s, "
            "0 dropped, all committed",
            f"{r['send_rate']:,.0f}/s, {r['dropped']:,} dropped, "
            f"{r['committed_events']:,}/{r['sent']:,} committed",
            verdict(ok),
        ])
    tight = tight_summary(results, "modeltap", 10_000)
    if tight is not None:
        rows.append([
            f">= {TARGET_ROWS_PER_S:,.0f} committed rows/s, {frame_label(10_000)}",
            f"{tight['rows_per_s']:,.0f} rows/s",
            verdict(tight["rows_per_s"] >= TARGET_ROWS_PER_S and tight["verified"] == "ok"),
        ])
    context = []
    ref_tight = tight_summary(results, "reference", 1)
    if ref_tight is not None:
        context.append(
            f"reference tight loop 1×{COLUMNS}: {ref_tight['lost_pct']:.1f}% lost, "
            f"{ref_tight['events_per_s']:,.0f} events/s delivered"
        )
    ref_big = tight_summary(results, "reference", 10_000)
    if ref_big is not None:
        context.append(
            f"reference {frame_label(10_000)}: {ref_big['rows_per_s']:,.0f} rows/s delivered"
        )
    note = (
        "Caller targets without a qualifier: default bursts; 'host heap frozen': the bursts whose "
        "worker ran gc.collect(); gc.freeze() after warm-up (as modeltap serve does). "
        f"Pacing counts as kept within {PACING_TOLERANCE:.0%}."
    )
    if context:
        note += " Context: " + "; ".join(context) + "."
    if plan.name == "quick":
        note += "\nQuick run: shorter and fewer measurements than the targets assume."
    return render("Targets (modeltap)", ["target", "measured", "result"], rows, note.strip())


def _revision() -> str:
    """The project's git revision, marked when src/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=BENCH.parent, capture_output=True,
            text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted src changes' if dirty else ''}" if head else "unknown"


def header(plan: Plan, ref_python: Path | None, load: tuple[float, float], writer: str) -> str:
    """Where and how the numbers were taken."""
    import modeltap

    reference = (
        f"azureml-ai-monitoring {REF_VERSION} ({ref_python})" if ref_python else "skipped"
    )
    return "\n".join([
        f"modeltap collector benchmark, {plan.name} run, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; load average {load[0]:.1f} at start, {load[1]:.1f} at end",
        f"modeltap {modeltap.__version__} (git {_revision()}, {writer} writer); "
        f"reference: {reference}",
        f"frames: 1, 100 and 10,000 rows × {COLUMNS} columns (4 float, 3 int, 3 str); each "
        "measurement in its own process",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description="modeltap vs azureml-ai-monitoring 1.0.0")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--repeats", type=int, help="repeats of bursts and tight loops")
    parser.add_argument(
        "--skip-reference", action="store_true", help="measure modeltap only (no reference venv)"
    )
    parser.add_argument(
        "--writer", choices=("thread", "process"), default="thread",
        help="where modeltap encodes and writes: a thread (default) or a writer process",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = Plan(**{**plan.__dict__, "repeats": max(1, args.repeats)})
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    ref_python = None if args.skip_reference else ensure_reference_env()
    with tempfile.TemporaryDirectory(prefix="modeltap-bench-") as scratch, Sink() as sink:
        results = Bench(plan, ref_python, Path(scratch), sink, args.writer).run()
        sink_stats = sink.stats()
    tables = [
        header(plan, ref_python, (load_start, os.getloadavg()[0]), args.writer),
        burst_table(results, plan),
        tight_table(results, plan),
        paced_table(results, plan),
        targets_table(results, plan),
    ]
    recording = start_recording("collector", enabled=not args.quick)
    print("\n\n".join(tables))
    if sink_stats["bad"]:
        print(f"\nwarning: the sink refused {sink_stats['bad']} malformed bodies")
    recording.save()
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
