"""The one exception tree rooted at ModelTapError, and its place in the public API."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil

import pytest

import modeltap
from modeltap import errors
from modeltap.store import open_destination

ALL_ERRORS = [getattr(errors, name) for name in errors.__all__]

# Module-private exceptions that are control flow and never escape their module, so they need
# not be ModelTapErrors. Each entry says why it cannot be one.
CONTROL_FLOW = {
    # pydantic turns a ValueError raised in a validator into a located ValidationError, which
    # the definition loader converts into MonitorDefinitionError: it must stay a ValueError.
    "modeltap.monitor.definition._At",
}


def _modeltap_modules() -> list[str]:
    """Every module of the package that imports here (one whose optional extra is missing is
    left out, as users without the extra never import it)."""
    names: list[str] = []
    for info in pkgutil.walk_packages(modeltap.__path__, "modeltap."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # runs the CLI on import
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or ""
            if isinstance(exc, errors.MissingDependencyError) or not missing.startswith(
                "modeltap"
            ):
                continue
            raise
        names.append(info.name)
    return names


def _defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a modeltap module, by ``module.name``."""
    found: dict[str, type[BaseException]] = {}
    for name in _modeltap_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found[f"{name}.{attribute}"] = value
    return found


def test_every_module_imports() -> None:
    """The walk reaches the whole package (so the tree checks below see every module)."""
    names = _modeltap_modules()
    assert {"modeltap.errors", "modeltap.server.app", "modeltap.reading.collection"} <= set(names)
    assert len(names) > 60


def test_every_exception_defined_in_modeltap_is_a_modeltap_error() -> None:
    """Every exception class in any module derives from ModelTapError, except the listed
    control-flow ones."""
    found = _defined_exceptions()
    strays = sorted(
        name for name, error in found.items()
        if not issubclass(error, errors.ModelTapError) and name not in CONTROL_FLOW
    )
    assert not strays, f"derive these from modeltap.errors.ModelTapError: {strays}"
    assert set(found) >= CONTROL_FLOW, "a listed control-flow exception no longer exists"


def test_every_public_error_lives_in_errors() -> None:
    """Public exception classes are defined in modeltap.errors (one tree, in one module) and
    exported by it; private ones stay private."""
    public = sorted(
        name for name in _defined_exceptions()
        if not name.rsplit(".", 1)[-1].startswith("_") and not name.startswith("modeltap.errors.")
    )
    assert not public, f"define these in modeltap.errors and export them: {public}"
    defined = {
        name for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
        and value.__module__ == "modeltap.errors" and not name.startswith("_")
    }
    assert defined == set(errors.__all__)


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
