"""``modeltap monitor run|history|list``: run a monitor on collected data, and read its results.

``run`` exits 0 when nothing breached, 3 when a threshold is breached, 1 for an error (a bad
definition, unreadable data, a failed signal) with one clear line on stderr per problem.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from modeltap.cli.common import guarded

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BREACHED", "register"]

BREACHED = 3
"""Exit status of ``monitor run`` when a threshold is breached."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``monitor`` command group."""
    monitor = subparsers.add_parser(
        "monitor",
        help="run model monitors (drift, data quality, performance) and read their results",
        description="Run model monitors on collected data and read their results.",
    )
    commands = monitor.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND")
    monitor.set_defaults(handler=lambda args: _usage(monitor))

    def destination(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--destination",
            "-d",
            metavar="URL",
            help="the store with the data assets and results (default: the definition's "
            "destination, else the configured modeltap destination)",
        )

    run = commands.add_parser(
        "run",
        help="compute every signal of a monitor and store the results",
        description="Compute every signal for the windows that end at --at; exit 0 when "
        "nothing breached, 3 when a threshold is breached, 1 on error.",
    )
    run.add_argument("-f", "--file", required=True, metavar="MONITOR.yaml")
    run.add_argument("--at", metavar="ISO", help="end of the windows (default: now, UTC)")
    destination(run)
    run.add_argument("--format", choices=("table", "json"), default="table")
    run.add_argument(
        "--engine",
        choices=("embedded", "spark"),
        help="what computes the aggregates (default: the definition's create_monitor.compute."
        "engine, else embedded; spark needs modeltap[spark] and Java)",
    )
    run.add_argument(
        "--spark-master",
        metavar="URL",
        help="the Spark master for --engine spark (default: compute.master, else "
        "MODELTAP_SPARK_MASTER, else local[*])",
    )
    run.set_defaults(handler=_run)

    history = commands.add_parser("history", help="every run's metric values over time")
    history.add_argument("name", metavar="NAME")
    history.add_argument("--signal", metavar="S")
    history.add_argument("--feature", metavar="F")
    history.add_argument("--metric", metavar="M")
    destination(history)
    history.add_argument("--format", choices=("table", "csv", "json"), default="table")
    history.set_defaults(handler=_history)

    listing = commands.add_parser("list", help="the monitors with results, and their last run")
    destination(listing)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=_list)
    __import__("modeltap.cli.monitor_report", fromlist=["register"]).register(commands)

    from modeltap.cli.monitor_schedule import register as register_schedule

    register_schedule(commands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(width=width, highlight=False, soft_wrap=False)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _run(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        import modeltap.monitor

        definition = modeltap.monitor.load(args.file)
        progress, stop = _progress(len(definition.signals))
        try:
            result = modeltap.monitor.run(
                definition,
                at=args.at,
                destination=args.destination,
                progress=progress,
                engine="spark" if args.spark_master and not args.engine else args.engine,
                spark_master=args.spark_master,
            )
        finally:
            stop()
        if args.format == "json":
            body = dict(result.info)
            body["path"] = result.path
            body["metrics"] = json.loads(
                result.metrics.to_json(orient="records", date_format="iso")
            )
            print(json.dumps(body, indent=2, default=str))
        else:
            _print_run(result)
        for name, signal in result.signals.items():
            if signal["status"] == "failed":
                print(
                    f"modeltap monitor: error: signal {name} failed: {signal.get('error')}",
                    file=sys.stderr,
                )
        if result.failed:
            return 1
        return BREACHED if result.breached else 0

    return guarded("monitor", action, args)


def _progress(total: int) -> tuple[Any, Any]:
    """A rich progress bar on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("signals", total=total)
    bar.start()

    def update(name: str, done: int, count: int) -> None:
        bar.update(task, completed=done, description=name or "done")

    return update, bar.stop


def _print_run(result: Any) -> None:
    from rich.table import Table

    console = _console()
    for name, signal in result.signals.items():
        line = (
            f"{name} ({signal['type']}): {signal['status']} - "
            f"{signal['production_row_count']} production rows, "
            f"{signal['reference_row_count']} reference rows"
        )
        changes = signal.get("schema_changes") or {}
        moved = [f"{k}: {len(v)}" for k, v in changes.items() if v]
        if moved:
            line += f"; schema changes ({', '.join(moved)})"
        console.print(line, markup=False)
    table = Table(title=f"{result.monitor} at {result.info['window_end']}")
    for column in ("signal", "feature", "type", "metric", "value", "threshold", "breached"):
        table.add_column(column, justify="right" if column in ("value", "threshold") else "left")
    for row in result.metrics.itertuples(index=False):
        table.add_row(
            row.signal_name,
            row.feature_name,
            row.data_type,
            row.metric_name,
            _number(row.metric_value),
            _number(row.threshold_value),
            "BREACHED" if row.breached else "",
        )
    console.print(table)
    console.print(f"results: {result.path}", markup=False)


def _history(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        import modeltap.monitor

        frame = modeltap.monitor.history(args.name, args.destination)
        for column, value in (
            ("signal_name", args.signal),
            ("feature_name", args.feature),
            ("metric_name", args.metric),
        ):
            if value is not None:
                frame = frame[frame[column] == value]
        columns = [
            "window_end",
            "signal_name",
            "feature_name",
            "metric_name",
            "metric_value",
            "threshold_value",
            "breached",
        ]
        _print_frame(frame[columns], args.format, f"history of {args.name}")
        return 0

    return guarded("monitor", action, args)


def _print_frame(frame: pd.DataFrame, fmt: str, title: str) -> None:
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
        return
    if fmt == "json":
        print(frame.to_json(orient="records", date_format="iso", indent=2))
        return
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(_number(v) if isinstance(v, float) else str(v) for v in row))
    _console().print(table)


def _list(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        import pandas as pd

        import modeltap.monitor

        monitors = modeltap.monitor.list_monitors(args.destination)
        if args.format == "json":
            print(json.dumps(monitors, indent=2))
            return 0
        frame = pd.DataFrame(
            monitors, columns=["monitor", "runs", "last_run", "status", "breached"]
        )
        _print_frame(frame, "table", "monitors")
        return 0

    return guarded("monitor", action, args)
