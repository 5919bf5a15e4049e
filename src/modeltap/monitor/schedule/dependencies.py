"""Optional packages of the scheduler, imported on use with the extra's install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from modeltap.errors import MissingDependencyError

__all__ = ["optional_module"]

_EXTRAS = {
    "croniter": "monitor",
    "tzlocal": "monitor",
    "prometheus_client": "schedule",
}


def optional_module(name: str) -> ModuleType:
    """Import ``name`` or raise MissingDependencyError naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        from modeltap.cli.extras import require_extra

        package = name.split(".")[0]
        extra = _EXTRAS.get(package, "schedule")
        require_extra(extra, f"monitor schedules ({package})")
        raise MissingDependencyError(
            f"monitor schedules need {package}: pip install 'modeltap[{extra}]'"
        ) from None
