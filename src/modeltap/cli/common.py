"""What the command modules share: the destination a command works on, and failing with one
line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["EXIT_CONFIG", "configured_destination", "destination_of", "fail", "guarded"]

EXIT_CONFIG = 2
"""Exit status of a configuration or installation problem (as ``modeltap.server.process``'s,
which needs the server extra to import)."""


def configured_destination() -> tuple[str, dict[str, Any]]:
    """The configured modeltap destination and its storage options."""
    from modeltap.config import load_settings

    settings = load_settings(None)
    return settings.destination, dict(settings.collector.storage_options)


def destination_of(given: str | None) -> tuple[str, dict[str, Any]]:
    """``--destination`` when given (without storage options), else the configured destination
    and its storage options."""
    if given:
        return str(given), {}
    return configured_destination()


def fail(command: str, message: str) -> int:
    """Print ``modeltap COMMAND: error: MESSAGE`` on stderr; the exit status 1."""
    print(f"modeltap {command}: error: {message}", file=sys.stderr)
    return 1


def guarded(
    command: str,
    action: Callable[[argparse.Namespace], Any],
    args: argparse.Namespace,
    *,
    os_error: str = "cannot read the store: ",
) -> int:
    """``action(args)`` as an exit status; a modeltap error (its lines joined by ``; ``) or an
    OSError (after ``os_error``) becomes one line on stderr and exit status 1."""
    from modeltap.errors import ModelTapError

    try:
        return int(action(args))
    except ModelTapError as exc:
        return fail(command, str(exc).replace("\n", "; "))
    except OSError as exc:
        return fail(command, f"{os_error}{exc}")
