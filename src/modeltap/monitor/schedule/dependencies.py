"""Optional packages of the scheduler, imported on use with an install hint when missing."""

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
        extra = _EXTRAS.get(name.split(".")[0], "schedule")
        raise MissingDependencyError(
            f"monitor schedules need {name.split('.')[0]}: pip install 'modeltap[{extra}]'"
        ) from None
