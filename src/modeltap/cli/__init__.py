"""The ``modeltap`` command line: one module per command group, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from modeltap._version import __version__

__all__ = ["build_parser", "main"]

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _command_groups() -> list[Register]:
    """Each command group module exposes ``register(subparsers)``; imports stay lazy inside
    the command handlers so ``modeltap --help`` is fast."""
    from modeltap.cli.serve import register as serve_commands

    groups: list[Register] = []
    groups.append(serve_commands)
    groups.append(__import__("modeltap.cli.data", fromlist=["register"]).register)
    groups.append(__import__("modeltap.cli.monitor", fromlist=["register"]).register)
    return groups


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="modeltap", description="Capture production inference data durably."
    )
    parser.add_argument("--version", action="version", version=f"modeltap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _command_groups():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code. A subcommand sets ``handler`` (args -> int)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
