"""The ``modeltap`` command line: one module per command group, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from modeltap._version import __version__

__all__ = ["EXIT_USAGE", "build_parser", "main"]

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EXIT_USAGE = 2
"""The exit code of a command line that names no command (argparse's, for usage errors)."""


def _command_groups() -> list[Register]:
    """Each command group module exposes ``register(subparsers)``; imports stay lazy inside
    the command handlers so ``modeltap --help`` is fast."""
    from modeltap.cli.serve import register as serve_commands

    groups: list[Register] = []
    groups.append(serve_commands)
    groups.append(__import__("modeltap.cli.data", fromlist=["register"]).register)
    groups.append(__import__("modeltap.cli.monitor", fromlist=["register"]).register)
    groups.append(__import__("modeltap.cli.ui", fromlist=["register"]).register)
    return groups


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand; its help ends with the installed extras."""
    from modeltap.cli.extras import extras_epilog

    parser = argparse.ArgumentParser(
        prog="modeltap",
        description="Capture production inference data durably.",
        epilog=extras_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modeltap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _command_groups():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code. A subcommand sets ``handler`` (args -> int).
    Without a command the help goes to stderr and the exit code is 2, as for any usage error."""
    from modeltap.cli.data import join_dash_values

    parser = build_parser()
    args = parser.parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
