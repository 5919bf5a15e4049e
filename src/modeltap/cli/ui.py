"""``modeltap ui``: the read-only web UI over a store's data assets and monitor results."""

from __future__ import annotations

import argparse
import sys

from modeltap._signals import quiet_stop_signals
from modeltap.cli.common import EXIT_CONFIG

__all__ = ["register"]



def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ui`` command."""
    ui = subparsers.add_parser(
        "ui",
        help="browse data assets and monitor results in a read-only web UI",
        description="Serve a read-only web UI over the store: data assets (schema, volume, "
        "last rows), monitors, their runs and reports. Needs modeltap[ui].",
    )
    ui.add_argument(
        "--destination",
        "-d",
        metavar="URL",
        help="the store to show (default: the configured modeltap destination)",
    )
    ui.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    ui.add_argument(
        "--auth-key-file",
        metavar="FILE",
        help="file holding the key; browsers send it as the password, clients as 'Bearer <key>'",
    )
    ui.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default warning)",
    )
    ui.set_defaults(handler=_ui)


def _say(message: str) -> None:
    print(f"modeltap ui: {message}", file=sys.stderr, flush=True)


def _ui(args: argparse.Namespace) -> int:
    from modeltap.cli.common import destination_of
    from modeltap.cli.extras import require_extra
    from modeltap.errors import ConfigError, MissingDependencyError

    try:
        require_extra("ui", "modeltap ui")
        from modeltap.server.auth import is_loopback, read_key_file

        key = read_key_file(args.auth_key_file) if args.auth_key_file else None
        destination, options = destination_of(args.destination)
        from modeltap.ui.app import create_app

        app = create_app(destination, storage_options=options, auth_key=key)
    except (ConfigError, MissingDependencyError) as exc:
        _say(str(exc))
        return EXIT_CONFIG
    if key is None and not is_loopback(args.host):
        _say(
            f"WARNING: listening on {args.host} without a key: anyone who can reach this port "
            "can read the store's data; use --auth-key-file"
        )
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host.strip("[]"), args.port))
        listener.listen(2048)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        listener.close()
        _say(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level=args.log_level)
    _say(f"showing {destination} on http://{args.host}:{port}/ (read-only)")
    quiet_stop_signals()
    uvicorn.Server(config).run(sockets=[listener])
    return 0
