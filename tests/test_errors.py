"""The one exception tree rooted at ModelTapError, and its place in the public API."""

from __future__ import annotations

import importlib.util

import pytest

import modeltap
from modeltap import errors
from modeltap.store import open_destination

ALL_ERRORS = [getattr(errors, name) for name in errors.__all__]


def test_every_error_derives_from_modeltap_error() -> None:
    """Everything modeltap raises can be caught as ModelTapError."""
    assert len(ALL_ERRORS) >= 11
    for error in ALL_ERRORS:
        assert issubclass(error, errors.ModelTapError), error


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (errors.ConfigError, ValueError),
        (errors.InvalidCollectionNameError, ValueError),
        (errors.InvalidDataError, ValueError),
        (errors.UnsupportedDataError, TypeError),
        (errors.MissingDependencyError, ImportError),
    ],
)
def test_errors_are_also_the_matching_builtin(error: type, builtin: type) -> None:
    """Errors are also the built-in exception callers would naturally catch."""
    assert issubclass(error, builtin)


def test_drop_errors_share_a_base() -> None:
    """Queue and spool drops are DataDroppedErrors; a name error is a ConfigError."""
    assert issubclass(errors.QueueFullError, errors.DataDroppedError)
    assert issubclass(errors.SpoolFullError, errors.DataDroppedError)
    assert issubclass(errors.InvalidCollectionNameError, errors.ConfigError)
    assert not issubclass(errors.CollectionDisabledError, errors.DataDroppedError)
    assert not issubclass(errors.StoreError, errors.DataDroppedError)


def test_every_error_is_exported_by_the_package() -> None:
    """The package re-exports every error under the same object, and __all__ is sorted."""
    for name in errors.__all__:
        assert getattr(modeltap, name) is getattr(errors, name)
        assert name in modeltap.__all__
    assert modeltap.__all__ == sorted(modeltap.__all__)
    assert errors.__all__ == sorted(errors.__all__)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """A destination whose optional package is missing raises MissingDependencyError with
    the pip install hint."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(errors.MissingDependencyError) as info:
        open_destination("s3://bucket/prefix")
    assert isinstance(info.value, ImportError)
    assert "s3fs" in str(info.value)
    assert 'pip install "modeltap[s3]"' in str(info.value)
