"""The API reference page documents every public error."""

from __future__ import annotations

import re
from pathlib import Path

from modeltap import errors

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_every_error_has_a_reference_entry() -> None:
    """Each name of modeltap.errors.__all__ has a ``::: modeltap.NAME`` entry."""
    documented = set(re.findall(r"^::: modeltap\.(\w+)$", PAGE.read_text(encoding="utf-8"), re.M))
    missing = sorted(set(errors.__all__) - documented)
    assert not missing, f"add '::: modeltap.NAME' to docs/reference.md for {missing}"
