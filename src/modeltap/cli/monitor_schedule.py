"""``modeltap monitor schedule`` and ``modeltap monitor status``: run monitors on their triggers,
and show where each stands.

``schedule`` is a long-running process: it runs each monitor at its due times (catching up what
it missed while down), sends alerts, and serves Prometheus metrics on ``--metrics-port``. The
first SIGTERM (or Ctrl-C) lets the current run finish and exits; a second one abandons the run
(its claim is released for the next scheduler) and exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from modeltap.cli.common import destination_of, guarded

if TYPE_CHECKING:
    from modeltap.monitor.definition import MonitorDefinition

__all__ = ["register"]

DEFAULT_METRICS_PORT = 9465


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``schedule`` and ``status`` to the ``monitor`` command group."""
    schedule = commands.add_parser(
        "schedule",
        help="run monitors on their triggers, with alerts and Prometheus metrics",
        description="Run each monitor at its trigger's due times (catching up missed windows, "
        "each window once even with several schedulers on one store), send alerts, serve "
        "Prometheus metrics. SIGTERM finishes the current run and exits.",
    )
    _definitions(schedule)
    schedule.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        metavar="PORT",
        help=f"serve Prometheus /metrics on this port (default {DEFAULT_METRICS_PORT}; 0: off)",
    )
    schedule.add_argument(
        "--metrics-address",
        default="0.0.0.0",
        metavar="ADDRESS",
        help="the address /metrics listens on (default 0.0.0.0)",
    )
    schedule.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    schedule.set_defaults(handler=_schedule)

    status = commands.add_parser(
        "status",
        help="each scheduled monitor's next due time, last window and last status",
        description="Without -f or folders: every monitor with schedule progress in the "
        "destination (their trigger and next due time need the definitions).",
    )
    _definitions(status)
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(handler=_status)


def _definitions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--file",
        action="append",
        default=[],
        metavar="MONITOR.yaml",
        help="a monitor definition (repeat for more)",
    )
    parser.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="folders of monitor definitions (*.yaml)"
    )
    parser.add_argument(
        "--destination",
        "-d",
        metavar="URL",
        help="the store with the data assets, results and schedule progress (default: the "
        "definitions' destination, else the configured modeltap destination)",
    )


def _load(args: argparse.Namespace) -> tuple[list[MonitorDefinition], str, dict[str, Any]]:
    """The definitions named by -f and the folders, and the one destination they use."""
    from modeltap.errors import MonitorDefinitionError
    from modeltap.monitor import load

    paths = [Path(p) for p in args.file]
    for folder in args.folders:
        found = Path(folder)
        if found.is_file():
            paths.append(found)
            continue
        if not found.is_dir():
            raise MonitorDefinitionError(f"{folder} is neither a monitor definition nor a folder")
        listed = sorted([*found.glob("*.yaml"), *found.glob("*.yml")])
        if not listed:
            raise MonitorDefinitionError(f"no monitor definitions (*.yaml, *.yml) in {folder}")
        paths.extend(listed)
    if not paths:
        raise MonitorDefinitionError(
            "no monitors given: use -f MONITOR.yaml (repeatable) or a folder of definitions"
        )
    definitions = [load(path) for path in paths]
    options: dict[str, Any] = {}
    destination = args.destination
    if destination is None:
        given = sorted({d.destination for d in definitions if d.destination})
        if len(given) > 1:
            raise MonitorDefinitionError(
                f"the monitors name different destinations ({', '.join(given)}): give "
                "--destination, or run one scheduler per destination"
            )
        destination, options = destination_of(given[0] if given else None)
    return definitions, destination, options


def _listeners(args: argparse.Namespace, destination: str, options: dict[str, Any]) -> list[Any]:
    """What hears about runs: the alerts, and the Prometheus metrics when served."""
    listeners: list[Any] = []
    if args.metrics_port:
        from modeltap.monitor.schedule.metrics import SchedulerMetrics

        metrics = SchedulerMetrics()
        metrics.serve(args.metrics_port, args.metrics_address)
        logging.getLogger("modeltap.monitor.schedule").info(
            "Prometheus metrics on http://%s:%d/metrics", args.metrics_address, args.metrics_port
        )
        listeners.append(metrics)
    from modeltap.monitor.alerts import Alerts

    counters = listeners[0] if listeners else None
    listeners.insert(0, Alerts(destination, storage_options=options, counters=counters))
    return listeners


def _schedule(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.monitor.schedule.scheduler import Scheduler

        logging.basicConfig(
            level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        definitions, destination, options = _load(args)
        scheduler = Scheduler(
            definitions,
            destination,
            storage_options=options,
            listeners=_listeners(args, destination, options),
        )

        def on_signal(number: int, frame: FrameType | None) -> None:
            if scheduler.stop.is_set():
                raise KeyboardInterrupt  # a second signal abandons the current run
            logging.getLogger("modeltap.monitor.schedule").info(
                "stopping after the current run (signal %d again to abandon it)", number
            )
            scheduler.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        names = ", ".join(d.name for d in definitions)
        logging.getLogger("modeltap.monitor.schedule").info(
            "scheduling %s on %s", names, destination
        )
        try:
            scheduler.serve()
        except KeyboardInterrupt:
            return 0
        return 0

    return guarded("monitor", action, args, os_error="")


def _status(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.monitor.schedule.status import schedule_status

        if args.file or args.folders:
            definitions, destination, options = _load(args)
            rows = schedule_status(definitions, destination, storage_options=options)
        else:  # every monitor the store holds schedule progress of
            destination, options = args.destination, {}
            if destination is None:
                from modeltap.config import load_settings

                settings = load_settings(None)
                destination = settings.destination
                options = dict(settings.collector.storage_options)
            rows = schedule_status(None, destination, storage_options=options)
        if args.format == "json":
            print(json.dumps(rows, indent=2))
            return 0
        from rich.console import Console
        from rich.table import Table

        columns = ("monitor", "trigger", "next_due", "last_window", "last_status", "attempts")
        table = Table(title=f"scheduled monitors in {destination}")
        shown = (*columns, "error", "held_by")
        for column in shown:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in shown))
        width = None if sys.stdout.isatty() else 200
        Console(width=width, highlight=False).print(table)
        return 0

    return guarded("monitor", action, args, os_error="")
