"""A custom signal's ``component: "package.module:function"``: parsed, imported and checked.

The module is imported when the definition is loaded, so a misspelled module or function, or a
module that fails to import, is an error at load time naming it (not halfway through a run).
Importing runs the module's top-level code once per process, as any import does; since a
definition is loaded to be run, loading it later would not save that. The module is looked up
on ``sys.path``, then in the folder of the definition file, then in the working directory.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["parse_component", "resolve_component"]

_COMPONENT_RE = re.compile(
    r"^(?P<module>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r":(?P<function>[A-Za-z_][A-Za-z0-9_]*)$"
)


def parse_component(text: str) -> tuple[str, str]:
    """``(module, function)`` of ``"package.module:function"``; raises ValueError."""
    match = _COMPONENT_RE.match(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a component: use 'package.module:function' (a Python module "
            "importable here and the function in it)"
        )
    return match["module"], match["function"]


def _import(module: str, folders: Sequence[Path]) -> Any:
    extra = [str(f) for f in folders if str(f) not in sys.path]
    sys.path.extend(extra)  # after sys.path: an installed module of the same name wins
    try:
        return importlib.import_module(module)
    finally:
        for folder in extra:
            sys.path.remove(folder)


def resolve_component(text: str, folders: Sequence[Path] = ()) -> Callable[..., Any]:
    """Import the component's module (looked up on ``sys.path``, then in ``folders``) and
    return its function. Raises ValueError naming the module or function that is wrong."""
    module_name, function_name = parse_component(text)
    try:
        module = _import(module_name, [*folders, Path.cwd()])
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        where = "".join(f", in {f}" for f in folders)
        raise ValueError(
            f"cannot import module {module_name!r} of component {text!r}: no module named "
            f"{missing!r} (looked on sys.path{where} and in the working directory)"
        ) from None
    except Exception as exc:  # the user's module raised while being imported
        raise ValueError(
            f"importing module {module_name!r} of component {text!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        public = sorted(
            name
            for name, value in vars(module).items()
            if callable(value) and not name.startswith("_") and inspect.isfunction(value)
        )
        hint = f"; its functions: {', '.join(public)}" if public else ""
        raise ValueError(f"module {module_name!r} has no function {function_name!r}{hint}")
    if not callable(function):
        raise ValueError(
            f"{text!r} is not callable (a {type(function).__name__}): name a function "
            "taking (production, reference, **params)"
        )
    return function  # type: ignore[no-any-return]
