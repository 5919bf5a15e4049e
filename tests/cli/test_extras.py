"""The extras table: the same extras as pyproject.toml, and what it says when one is missing."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from modeltap.cli.extras import (
    EXTRAS,
    extras_epilog,
    install_hint,
    installed_extras,
    require_extra,
)
from modeltap.errors import MissingDependencyError

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_table_names_every_extra_of_pyproject() -> None:
    """Each extra users install (all but dev) has its modules in the table."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert set(declared) - {"dev"} <= set(EXTRAS)


def test_installed_extras_in_this_environment() -> None:
    """The test environment installs every extra (the dev extra pulls them in)."""
    assert installed_extras() == dict.fromkeys(sorted(EXTRAS), True)


def test_a_missing_module_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module set to None in sys.modules cannot be imported: the extra is missing."""
    monkeypatch.setitem(sys.modules, "s3fs", None)
    assert installed_extras()["s3"] is False
    with pytest.raises(MissingDependencyError) as info:
        require_extra("s3", "reading s3://bucket")
    assert str(info.value) == (
        'reading s3://bucket needs the s3 extra (s3fs not installed): pip install "modeltap[s3]"'
    )
    assert install_hint("server") == 'pip install "modeltap[server]"'


def test_extras_epilog_is_a_table_with_aligned_columns() -> None:
    """Every extra's purpose and state start in the same columns, however long its name."""
    rows = extras_epilog().splitlines()[1:]
    assert len(rows) == len(EXTRAS)
    assert len({row.index("installed") for row in rows}) == 1
    assert len({row.index(" ", 2 + len(max(EXTRAS, key=len))) for row in rows}) == 1
