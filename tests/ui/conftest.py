"""Shared by the UI tests: screenshots of the browser tests, kept in a fixed folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
"""Where the browser tests' screenshots go (git-ignored; overwritten on every run)."""

_taken: list[Path] = []


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)``: a full-page screenshot to ``SCREENSHOTS/name.png``, its path
    printed and listed at the end of the test session."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        _taken.append(path)
        return path

    return take


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots taken in this session."""
    if _taken:
        terminalreporter.write_sep("-", f"{len(_taken)} screenshots in {SCREENSHOTS}")
        for path in _taken:
            terminalreporter.write_line(str(path))
