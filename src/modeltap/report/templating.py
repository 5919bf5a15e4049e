"""The Jinja2 environment shared by the report and the web UI (``modeltap[ui]``).

Templates are package files (``report/templates`` and ``ui/templates``), autoescaped; charts are
SVG strings built by :mod:`modeltap.report.charts`, which escapes what it writes.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

from modeltap.errors import MissingDependencyError

if TYPE_CHECKING:
    import jinja2

__all__ = ["environment", "format_number", "format_percent", "require_jinja"]


def format_number(value: Any) -> str:
    """A metric value for a table: ``0.0123``, ``1.23e-05``, ``42``; empty for none or NaN."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def format_percent(value: Any) -> str:
    """A share as a percentage with one decimal; empty for none."""
    if value is None:
        return ""
    return f"{100 * float(value):.1f}%"


def require_jinja() -> None:
    """MissingDependencyError with the install hint when jinja2 is not installed."""
    try:
        import jinja2  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "modeltap's HTML report and web UI need the ui extra (jinja2 not installed): "
            'pip install "modeltap[ui]"'
        ) from None


@cache
def environment() -> jinja2.Environment:
    """The template environment (built once); MissingDependencyError without jinja2."""
    require_jinja()
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("modeltap.report", "templates"),
                jinja2.PackageLoader("modeltap.ui", "templates"),
            ]
        ),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["number"] = format_number
    env.filters["percent"] = format_percent
    return env
