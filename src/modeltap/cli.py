"""The ``modeltap`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from modeltap._version import __version__

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="modeltap", description="Capture production inference data durably."
    )
    parser.add_argument("--version", action="version", version=f"modeltap {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
