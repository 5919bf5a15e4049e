"""Number formats of the report's tables."""

from __future__ import annotations

import math

from modeltap.report.templating import environment, format_number, format_percent


def test_numbers() -> None:
    """Integers stay whole, others keep four significant digits; None and NaN are empty."""
    assert format_number(200.0) == "200"
    assert format_number(0.825655) == "0.8257"
    assert format_number(1.23456e-7) == "1.235e-07"
    assert format_number(None) == "" and format_number(math.nan) == ""
    assert format_number(3) == "3"


def test_percent() -> None:
    """Shares as percentages with one decimal."""
    assert format_percent(0.6) == "60.0%"
    assert format_percent(None) == ""


def test_templates_autoescape() -> None:
    """Values put in a page are escaped."""
    template = environment().from_string("<p>{{ value }}</p>")
    assert template.render(value="<b>") == "<p>&lt;b&gt;</p>"
