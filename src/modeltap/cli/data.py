"""``modeltap data list|show|read``: the data assets of a store, and what they hold.

Tables for people (rich) by default; ``--format csv|jsonl|parquet`` for machines. Every failure
(unknown asset, bad time, unreadable store) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modeltap.catalog import DataAsset

__all__ = ["register"]

_FORMATS = ("table", "csv", "jsonl", "parquet")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``data`` command group."""
    data = subparsers.add_parser(
        "data",
        help="list, show and read the data assets of a store",
        description="List, show and read the data assets (collections) of a store.",
    )
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(handler=lambda args: _usage(data))

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--destination",
            "-d",
            metavar="URL",
            help="the store (a folder or fsspec URL); default: the configured destination "
            "(MODELTAP_DEPLOYMENT, MODELTAP_DATA_DIR or ./modeltap-data)",
        )

    listing = commands.add_parser("list", help="list the data assets")
    common(listing)
    listing.add_argument("--format", choices=("table", "jsonl"), default="table")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show one data asset and its columns")
    show.add_argument("asset", metavar="NAME[:VERSION]")
    common(show)
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(handler=_show)

    read = commands.add_parser("read", help="read rows of a data asset (or a collection folder)")
    read.add_argument("asset", metavar="NAME[:VERSION]|PATH")
    common(read)
    read.add_argument("--start", metavar="ISO", help="first event time (inclusive, UTC if naive)")
    read.add_argument("--end", metavar="ISO", help="end of the window (exclusive)")
    read.add_argument("--columns", metavar="A,B,...", help="columns to return, in order")
    read.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    read.add_argument("--format", choices=_FORMATS, default="table")
    read.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    read.set_defaults(handler=_read)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _fail(message: str) -> int:
    print(f"modeltap data: error: {message}", file=sys.stderr)
    return 1


def _destination(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if args.destination:
        return str(args.destination), {}
    from modeltap.config import load_settings

    settings = load_settings(None)
    return settings.destination, dict(settings.collector.storage_options)


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(width=width, highlight=False, soft_wrap=False)


def _run(args: argparse.Namespace, action: Any) -> int:
    """Run ``action(args)``, turning every expected failure into a one-line message."""
    from modeltap.errors import ModelTapError

    try:
        return int(action(args))
    except ModelTapError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read the store: {exc}")
    except ValueError as exc:
        return _fail(str(exc))


def _check_store(url: str, options: dict[str, Any]) -> None:
    from modeltap.errors import StoreError
    from modeltap.store.tree import open_tree

    tree = open_tree(url, options)
    if not tree.is_dir(""):
        what = "a file, not a folder" if tree.is_file("") else "not found"
        raise StoreError(f"cannot read the store {url}: {what}")


def _list(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.catalog import Catalog

        url, options = _destination(args)
        _check_store(url, options)
        assets = Catalog(url, options).list()
        if args.format == "jsonl":
            for asset in assets:
                sys.stdout.write(asset.to_json().decode().replace("\n", "").replace("  ", ""))
                sys.stdout.write("\n")
            return 0
        if not assets:
            print(f"no data assets in {url} (they appear once a collection commits data)")
            return 0
        from rich.table import Table

        table = Table(title=f"data assets in {url}")
        for column in ("name", "version", "format", "columns", "first event", "last event"):
            table.add_column(column)
        table.add_column("root", overflow="fold")
        for asset in assets:
            table.add_row(
                asset.name,
                asset.version,
                asset.format,
                str(len(asset.columns)),
                asset.first_event_time or "-",
                asset.last_event_time or "-",
                asset.root,
            )
        _console().print(table)
        return 0

    return _run(args, action)


def _show(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.catalog import Catalog

        url, options = _destination(args)
        _check_store(url, options)
        asset = Catalog(url, options).resolve(args.asset)
        if args.format == "json":
            sys.stdout.write(asset.to_json().decode())
            return 0
        _print_asset(asset)
        return 0

    return _run(args, action)


def _print_asset(asset: DataAsset) -> None:
    from rich.table import Table

    console = _console()
    about = Table(title=f"data asset {asset.ref}", show_header=False)
    about.add_column("key", style="bold")
    about.add_column("value", overflow="fold")
    for key, value in (
        ("name", asset.name),
        ("version", asset.version),
        ("root", asset.root),
        ("format", asset.format),
        ("collection", asset.collection),
        ("endpoint", asset.endpoint),
        ("deployment", asset.deployment),
        ("first event", asset.first_event_time or "-"),
        ("last event", asset.last_event_time or "-"),
        ("created", asset.created or "-"),
        ("updated", asset.updated or "-"),
    ):
        about.add_row(key, value)
    console.print(about)
    columns = Table(title="columns")
    columns.add_column("column")
    columns.add_column("type")
    for name, kind in asset.columns.items():
        columns.add_row(name, kind)
    console.print(columns)


def _read(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.catalog.model import parse_asset_ref
        from modeltap.errors import SkippedRecordsWarning
        from modeltap.reading import read_arrow

        if args.limit is not None and args.limit < 0:
            raise ValueError(f"--limit must be 0 or more, got {args.limit}")
        if args.format == "parquet" and not args.output:
            raise ValueError("--format parquet writes binary: give an output file with -o FILE")
        url, options = _destination(args)
        text = str(args.asset)
        is_path = "/" in text or "://" in text or os.path.exists(text)
        if not is_path:
            parse_asset_ref(text)
            _check_store(url, options)
        columns = None
        if args.columns:
            columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedRecordsWarning)
            table = read_arrow(
                text,
                args.start,
                args.end,
                columns,
                destination=None if is_path else url,
                storage_options=options,
            )
        for warning in caught:
            if isinstance(warning.message, SkippedRecordsWarning):
                print(f"warning: {warning.message}", file=sys.stderr)
        if args.limit is not None:
            table = table.slice(0, args.limit)
        _write(table, args)
        return 0

    return _run(args, action)


def _write(table: Any, args: argparse.Namespace) -> None:
    fmt = args.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, args.output)
        return
    frame = table.to_pandas()
    if fmt == "table":
        text = _render_table(frame, len(table))
    elif fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        text = frame.to_json(orient="records", lines=True, date_format="iso", date_unit="ms")
        text = text if text.endswith("\n") or not text else text + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _render_table(frame: pd.DataFrame, total: int) -> str:
    from rich.table import Table

    console = _console()
    table = Table(caption=f"{total} row(s)")
    for name in frame.columns:
        table.add_column(str(name), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if _is_null(v) else str(v) for v in row))
    with console.capture() as captured:
        console.print(table)
    return str(captured.get())


def _is_null(value: Any) -> bool:
    try:
        return bool(value is None or value != value)
    except (TypeError, ValueError):
        return False
