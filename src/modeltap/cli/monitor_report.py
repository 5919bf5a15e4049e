"""``modeltap monitor report NAME``: one run's self-contained HTML report."""

from __future__ import annotations

import argparse

from modeltap.cli.common import destination_of, guarded

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``monitor report`` to the ``monitor`` command group."""
    report = commands.add_parser(
        "report",
        help="write a run's HTML report (one self-contained file, opens offline)",
        description="Write the HTML report of one run of monitor NAME: signals, features "
        "against their thresholds, distributions and metric history. Needs modeltap[ui].",
    )
    report.add_argument("name", metavar="NAME")
    which = report.add_mutually_exclusive_group()
    which.add_argument(
        "--run",
        metavar="WINDOW_END",
        help="the run's window end (20240508T130000Z or ISO 8601; default: the latest run)",
    )
    which.add_argument("--latest", action="store_true", help="the latest run (the default)")
    report.add_argument(
        "-o",
        "--output",
        metavar="FILE.html",
        help="where to write the report (default: NAME-WINDOW_END.html here)",
    )
    report.add_argument(
        "--destination",
        "-d",
        metavar="URL",
        help="the store with the results (default: the configured modeltap destination)",
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.monitor.results import ResultsStore
        from modeltap.report import pick_run, write_report

        destination, options = destination_of(args.destination)
        stamp = pick_run(ResultsStore(destination, options), args.name, args.run)
        output = args.output or f"{args.name}-{stamp}.html"
        path = write_report(
            args.name, output, destination=destination, run=stamp, storage_options=options
        )
        print(f"report: {path} ({path.stat().st_size:,} bytes)")
        return 0

    return guarded("monitor", action, args)
