"""``modeltap data list|show|read|tail``: the data assets of a store, and what they hold.

Tables for people (rich) by default; ``--format csv|jsonl|parquet`` for machines. Every failure
(unknown asset, bad time, unknown column, unreadable store, missing extra) is one line on stderr
and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from modeltap.cli.common import destination_of, fail

if TYPE_CHECKING:
    import pandas as pd

    from modeltap.catalog import DataAsset

__all__ = ["DEFAULT_TABLE_ROWS", "join_dash_values", "register"]

_FORMATS = ("table", "csv", "jsonl", "parquet")
DEFAULT_TABLE_ROWS = 20
"""Rows a table shows unless ``--limit`` says otherwise."""
_TAIL_ROWS = 10
_INTERVAL_BOUNDS = (0.1, 60.0)
_ENVELOPE_COLUMNS = ("correlationid", "xrequestid", "time", "row_index")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``data`` command group."""
    data = subparsers.add_parser(
        "data",
        help="list, show, read and tail the data assets of a store",
        description="List, show, read and tail the data assets (collections) of a store.",
    )
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(handler=lambda args: _usage(data))  # no subcommand: help, exit 2

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
    read.add_argument(
        "--start",
        metavar="TIME",
        help="first event time, inclusive: ISO 8601 (2026-07-12, 2026-07-12T09:30:00Z; UTC "
        "without an offset) or relative to now (-30m, -2h, -7d)",
    )
    read.add_argument("--end", metavar="TIME", help="end of the window, exclusive (as --start)")
    read.add_argument(
        "--since", metavar="DURATION", help="the last DURATION (30m, 2h, 7d): --start -DURATION"
    )
    read.add_argument("--columns", metavar="A,B,...", help="columns to return, in order")
    read.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"at most N rows (a table shows {DEFAULT_TABLE_ROWS} unless told otherwise)",
    )
    read.add_argument("--format", choices=_FORMATS, default="table")
    read.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    read.set_defaults(handler=_read)

    tail = commands.add_parser(
        "tail",
        help="the newest records of a collection, and with --follow those committed next",
        description="Print the newest records of a data asset or collection folder as JSON "
        "lines; with --follow keep printing the records of every file committed after that.",
    )
    tail.add_argument("asset", metavar="NAME[:VERSION]|PATH")
    common(tail)
    tail.add_argument(
        "-n", "--lines", type=int, default=_TAIL_ROWS, metavar="N",
        help=f"how many of the newest records to print first (default {_TAIL_ROWS})",
    )  # fmt: skip
    tail.add_argument("-f", "--follow", action="store_true", help="wait for new files")
    tail.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="with --follow: how often to look for new files (default 1, from 0.1 to 60)",
    )
    tail.add_argument("--columns", metavar="A,B,...", help="columns to print, in order")
    tail.set_defaults(handler=_tail)


_TIME_OPTIONS = frozenset({"--start", "--end"})


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """``--start -2d`` as ``--start=-2d``: argparse would take ``-2d`` for an option."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        item = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if item in _TIME_OPTIONS and following.startswith("-") and not following.startswith("--"):
            joined.append(f"{item}={following}")
            index += 2
            continue
        joined.append(item)
        index += 1
    return joined


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _width() -> int:
    """The terminal's width (``COLUMNS`` wins); 200 when the output is not a terminal."""
    return shutil.get_terminal_size((200, 24)).columns


def _console() -> Any:
    from rich.console import Console

    return Console(width=_width(), highlight=False, soft_wrap=False)


def _run(args: argparse.Namespace, action: Any) -> int:
    """Run ``action(args)``, turning every expected failure into a one-line message."""
    from modeltap.errors import ModelTapError

    try:
        return int(action(args))
    except ModelTapError as exc:
        return fail("data", str(exc))
    except OSError as exc:
        return fail("data", f"cannot read the store: {exc}")
    except ValueError as exc:
        return fail("data", str(exc))


@contextlib.contextmanager
def _reader_warnings() -> Iterator[None]:
    """Print what the reader warns about (records it skipped, and where) as one line each on
    stderr; warnings of other libraries are left out of the command's output. The reader also
    logs what it skipped: that log line is held back here, so the message is printed once."""
    import logging

    reader_log = logging.getLogger("modeltap.reading")  # the logger of reading.collection
    hold_back = logging.Filter("not a logger name: drops every record")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader_log.addFilter(hold_back)
        try:
            yield
        finally:
            reader_log.removeFilter(hold_back)
            for warning in caught:
                if type(warning.message).__module__.split(".")[0] == "modeltap":
                    print(f"modeltap data: warning: {warning.message}", file=sys.stderr)


def _check_backend(url: str) -> None:
    """A store URL whose fsspec backend is missing: modeltap's extra and its pip command."""
    from modeltap.store import check_destination

    check_destination(url)


def _check_store(url: str, options: dict[str, Any]) -> None:
    from modeltap.catalog import Catalog
    from modeltap.errors import StoreError

    _check_backend(url)
    tree = Catalog(url, options).tree
    if not tree.is_dir(""):
        what = "a file, not a folder" if tree.is_file("") else "not found"
        raise StoreError(f"cannot read the store {url}: {what}")


def _is_path(text: str) -> bool:
    return "/" in text or "://" in text or os.sep in text or os.path.exists(text)


def _resolve(
    args: argparse.Namespace, url: str, options: dict[str, Any]
) -> tuple[str | DataAsset, DataAsset | None]:
    """What to read (a path, or the asset) and the asset when one was named."""
    from modeltap.catalog import Catalog, parse_asset_ref

    text = str(args.asset)
    if _is_path(text):
        _check_backend(text)
        _refuse_destination_root(text, options)
        return text, None
    parse_asset_ref(text)
    _check_store(url, options)
    asset = Catalog(url, options).resolve(text)
    _check_backend(asset.root)
    return asset, asset


def _refuse_destination_root(path: str, options: dict[str, Any]) -> None:
    """A destination (it holds ``_assets/``) is not a collection: say so and what to run."""
    from modeltap.catalog import ASSETS_FOLDER, Catalog

    catalog = Catalog(path, options)
    if not catalog.tree.is_dir(ASSETS_FOLDER):
        return
    names = sorted(asset.name for asset in catalog.list())
    example = f"e.g. modeltap data read {names[0]} -d {path}; " if names else ""
    raise ValueError(
        f"{path} is a destination (it holds the catalog, {ASSETS_FOLDER}/), not a collection: "
        f"read one of its data assets by name ({example}modeltap data list -d {path} lists "
        f"them) or give a collection folder inside it"
    )


def _refuse_non_collection(path: str, options: dict[str, Any]) -> None:
    """A folder that holds folders but no partition folders (``2026/``) and no data files is
    above the collections (an endpoint's or a deployment's folder): say so, not '0 rows'."""
    from modeltap.catalog import Catalog
    from modeltap.formats import DATA_EXTENSIONS

    tree = Catalog(path, options).tree
    if not tree.is_dir(""):
        return
    entries = [(name, is_dir) for name, is_dir in tree.ls("") if not name.startswith((".", "_"))]
    folders = sorted(name for name, is_dir in entries if is_dir)
    if not folders or any(name.isdigit() or name.endswith(DATA_EXTENSIONS) for name, _ in entries):
        return
    raise ValueError(
        f"{path} is not a collection folder: it holds {', '.join(folders[:5])}"
        f"{', ...' if len(folders) > 5 else ''} but no partition folders (2026/...) or data "
        f"files; give a collection folder (such as {path.rstrip('/')}/{folders[0]}/...) or a "
        "data asset name"
    )


def _columns(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def _select(data: Any, columns: list[str] | None, asset: DataAsset | None) -> Any:
    """Pick ``columns`` (a pyarrow Table or a DataFrame); an unknown column is an error that
    lists the known ones. A column the asset knows but this window lacks comes back as nulls."""
    if columns is None:
        return data
    present = [
        str(c) for c in (data.column_names if hasattr(data, "column_names") else data.columns)
    ]
    known = present + [c for c in (asset.columns if asset else {}) if c not in present]
    unknown = [c for c in columns if c not in known]
    if unknown and (len(data) or asset is not None):
        raise ValueError(
            f"--columns: no column {', '.join(repr(c) for c in unknown)}; the known columns "
            f"are: {', '.join(known)}"
        )
    if hasattr(data, "column_names"):
        import pyarrow as pa

        arrays = [data.column(c) if c in present else pa.nulls(len(data)) for c in columns]
        return pa.table(arrays, names=columns)
    return data.reindex(columns=columns)


def _list(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.catalog import Catalog

        url, options = destination_of(args.destination)
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
        _print_assets(url, assets)
        return 0

    return _run(args, action)


def _print_assets(url: str, assets: list[DataAsset]) -> None:
    """A table when it fits the terminal, else one block per asset: names are never cut."""
    from rich.table import Table

    console = _console()
    table = Table(title=f"data assets in {url}")
    for column in ("name", "version", "format", "columns", "first event", "last event"):
        table.add_column(column, no_wrap=True)
    table.add_column("root", no_wrap=True)
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
    unbounded = console.options.update(width=1_000_000)
    if console.measure(table, options=unbounded).maximum <= console.width:
        console.print(table)
        return
    lines = [f"data assets in {url}:"]
    for asset in assets:
        lines.append("")
        lines.append(f"{asset.name}:{asset.version}")
        lines.append(f"  format  {asset.format}, {len(asset.columns)} column(s)")
        lines.append(f"  events  {asset.first_event_time or '-'} .. {asset.last_event_time or '-'}")
        lines.append(f"  root    {asset.root}")
    sys.stdout.write("\n".join(lines) + "\n")


def _show(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.catalog import Catalog

        url, options = destination_of(args.destination)
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
        import modeltap
        from modeltap.cli.times import window

        if args.limit is not None and args.limit < 0:
            raise ValueError(f"--limit must be 0 or more, got {args.limit}")
        if args.format == "parquet" and not args.output:
            raise ValueError("--format parquet writes binary: give an output file with -o FILE")
        start, end = window(args.start, args.end, args.since)
        url, options = destination_of(args.destination)
        source, asset = _resolve(args, url, options)
        # JSON lines get payload bodies as JSON (read() parses them), not as JSON text
        reader = modeltap.read if args.format == "jsonl" else modeltap.read_arrow
        wanted = _columns(args.columns)
        # columns the asset is known to have are picked by the reader (Parquet reads only
        # those); others are checked against what is read, so a typo lists the known ones
        known = set(_ENVELOPE_COLUMNS) | set(asset.columns if asset is not None else ())
        pushed = wanted if wanted and asset is not None and set(wanted) <= known else None
        with _reader_warnings():
            data = reader(source, start, end, pushed, storage_options=options)
        if len(data) == 0 and asset is None:
            _refuse_non_collection(str(source), options)
        data = _select(data, wanted, asset)
        limit = args.limit
        if limit is None and args.format == "table":
            limit = DEFAULT_TABLE_ROWS
        _write(data, limit, args)
        return 0

    return _run(args, action)


def _write(data: Any, limit: int | None, args: argparse.Namespace) -> None:
    """Write the first ``limit`` rows (all when None) of a Table or DataFrame as asked."""
    fmt = args.format
    total = len(data)
    shown = data[:limit] if limit is not None else data
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(shown, args.output)
        return
    if fmt == "table":
        text = _render_table(shown.to_pandas(), total)
    elif fmt == "csv":
        text = shown.to_pandas().to_csv(index=False)
    else:
        text = _jsonl(shown)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _jsonl(frame: pd.DataFrame) -> str:
    """One JSON object per row; nested values (payload bodies, lists) as JSON, not as text;
    times as RFC 3339 UTC with milliseconds, as the records store them."""
    import orjson

    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    return "".join(
        orjson.dumps(record, default=_json_value, option=option).decode()
        for record in frame.to_dict(orient="records")
    )


def _json_value(value: Any) -> Any:
    """What orjson cannot write itself: pandas times and missing values, anything else as text."""
    import datetime as dt

    import pandas as pd

    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.timedelta | pd.Timedelta):
        return str(value)
    return str(value)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _render_table(frame: pd.DataFrame, total: int) -> str:
    from rich.table import Table

    console = _console()
    caption = _rows(total)
    if len(frame) < total:
        caption = f"first {len(frame)} of {_rows(total)} (--limit N shows more)"
    table = Table()
    for name in frame.columns:
        table.add_column(str(name), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if _is_null(v) else str(v) for v in row))
    with console.capture() as captured:
        console.print(table)
    return f"{captured.get()}{caption}\n"


def _is_null(value: Any) -> bool:
    try:
        return bool(value is None or value != value)
    except (TypeError, ValueError):
        return False


# -- tail -------------------------------------------------------------------------------------


def _tail(args: argparse.Namespace) -> int:
    def action(args: argparse.Namespace) -> int:
        from modeltap.store import open_destination

        low, high = _INTERVAL_BOUNDS
        if not low <= args.interval <= high:
            raise ValueError(
                f"--interval must be from {low} to {high} seconds, got {args.interval}"
            )
        if args.lines < 0:
            raise ValueError(f"--lines must be 0 or more, got {args.lines}")
        url, options = destination_of(args.destination)
        source, asset = _resolve(args, url, options)
        root = asset.root if asset is not None else str(source)
        store = open_destination(root, options, durable=False)
        columns = _columns(args.columns)
        files = _data_files(store.list_files())
        _print_newest(store, files, args.lines, columns, asset, options)
        if not args.follow:
            return 0
        seen = set(files)
        try:
            while True:
                time.sleep(args.interval)
                new = [f for f in _data_files(store.list_files()) if f not in seen]
                if new:
                    frame = _read_files(store, new, options)
                    _emit(frame, columns, asset)
                    seen.update(new)
        except KeyboardInterrupt:
            return 0

    return _run(args, action)


def _data_files(paths: Sequence[str]) -> list[str]:
    """Committed data files in path order (partition folders oldest first); out-of-line
    payloads (``_payloads/``) and hidden files left out."""
    from modeltap.formats import DATA_EXTENSIONS

    return sorted(
        p for p in paths
        if p.endswith(DATA_EXTENSIONS)
        and not any(part.startswith(("_", ".")) for part in p.split("/"))
    )  # fmt: skip


def _read_files(store: Any, files: Sequence[str], options: dict[str, Any]) -> pd.DataFrame:
    """The records of ``files`` (payload bodies parsed), oldest event first."""
    import pandas as pd

    import modeltap

    with _reader_warnings():
        frames = [modeltap.read(store.join(f), storage_options=options) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.sort_values("time", kind="stable", ignore_index=True)


def _print_newest(
    store: Any,
    files: list[str],
    count: int,
    columns: list[str] | None,
    asset: DataAsset | None,
    options: dict[str, Any],
) -> None:
    """The newest ``count`` records: whole partition folders are read, newest first, until
    they hold enough (files inside one folder are not in time order)."""
    import pandas as pd

    frames: list[pd.DataFrame] = []
    rows = 0
    remaining = list(files)
    while remaining and rows < count:
        folder = remaining[-1].rpartition("/")[0]
        batch = [f for f in remaining if f.rpartition("/")[0] == folder]
        remaining = [f for f in remaining if f.rpartition("/")[0] != folder]
        frame = _read_files(store, batch, options)
        frames.insert(0, frame)
        rows += len(frame)
    frames = [f for f in frames if len(f)]
    if not frames or count == 0:
        _select(pd.DataFrame(), columns, asset)  # an unknown column is still an error
        return
    newest = pd.concat(frames, ignore_index=True).sort_values("time", kind="stable")
    _emit(newest.tail(count), columns, asset)


def _emit(frame: pd.DataFrame, columns: list[str] | None, asset: DataAsset | None) -> None:
    if len(frame) == 0:
        return
    sys.stdout.write(_jsonl(_select(frame, columns, asset)))
    sys.stdout.flush()
