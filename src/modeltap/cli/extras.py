"""modeltap's optional extras: which are installed, and the install hint for a missing one.

The table names, for each extra of ``pyproject.toml`` (except ``dev``), the modules it must
make importable; nothing is imported to find out.
"""

from __future__ import annotations

import importlib.util

from modeltap.errors import MissingDependencyError

__all__ = [
    "EXTRAS",
    "extras_epilog",
    "install_hint",
    "installed_extras",
    "missing_modules",
    "require_extra",
]

EXTRAS: dict[str, tuple[str, ...]] = {
    "attribution": ("lightgbm", "sklearn"),
    "azure": ("adlfs",),
    "gcs": ("gcsfs",),
    "mlflow": ("mlflow", "sklearn", "skops"),
    "monitor": ("scipy", "croniter", "tzlocal"),
    "s3": ("s3fs",),
    "schedule": ("scipy", "croniter", "tzlocal", "prometheus_client"),
    "server": ("starlette", "uvicorn", "prometheus_client"),  # httptools, uvloop: speed-ups
    "spark": ("pyspark",),
    "ui": ("jinja2", "starlette", "uvicorn"),
}
"""extra -> the modules it installs that modeltap needs (accelerators such as httptools and
uvloop, which uvicorn uses when present, are left out)."""

_PURPOSE = {
    "attribution": "feature attribution drift, top-N features",
    "azure": "az://, abfs:// destinations",
    "gcs": "gs:// destinations",
    "mlflow": "serving MLflow models",
    "monitor": "modeltap monitor (drift statistics, triggers)",
    "schedule": "modeltap monitor schedule (Prometheus metrics)",
    "s3": "s3:// destinations",
    "server": "modeltap serve and modeltap ingest",
    "spark": "modeltap monitor --engine spark",
    "ui": "modeltap ui and monitor reports",
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken __spec__
        return False


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty: the extra is installed)."""
    return [module for module in EXTRAS[extra] if not _importable(module)]


def installed_extras() -> dict[str, bool]:
    """Every extra, in name order, and whether it is installed."""
    return {extra: not missing_modules(extra) for extra in sorted(EXTRAS)}


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f'pip install "modeltap[{extra}]"'


def require_extra(extra: str, what: str) -> None:
    """Raise MissingDependencyError naming ``what`` needs ``extra`` and how to install it."""
    missing = missing_modules(extra)
    if missing:
        raise MissingDependencyError(
            f"{what} needs the {extra} extra ({', '.join(missing)} not installed): "
            f"{install_hint(extra)}"
        )


def extras_epilog() -> str:
    """The extras paragraph of ``modeltap --help``."""
    lines = ["extras:"]
    present = installed_extras()
    name_width = max(map(len, present))
    purpose_width = max(len(_PURPOSE.get(extra, "")) for extra in present)
    for extra, installed in present.items():
        state = "installed" if installed else f"not installed ({install_hint(extra)})"
        purpose = _PURPOSE.get(extra, "")
        lines.append(f"  {extra:<{name_width}}  {purpose:<{purpose_width}}  {state}")
    return "\n".join(lines)
