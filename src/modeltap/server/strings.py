"""pandas' storage for the string columns a scoring script builds: Python objects by default.

pandas 3 stores string columns in Arrow whenever pyarrow is installed, and modeltap installs
it. For the few-row frames a scoring request builds, Arrow strings cost more than Python ones:
the how-to's ``run()`` takes about a fifth longer (docs/operations.md, "pandas' string
storage", from bench/server.py). So each worker sets
pandas' ``mode.string_storage`` to ``python`` before it loads the script, as pandas has it
without pyarrow, unless ``MODELTAP_PANDAS_STRING_STORAGE`` (in the deployment's
``environment_variables`` or the environment) says ``pyarrow``, or ``auto`` (or ``off``) to
leave pandas' own choice alone. Each worker logs the choice at start-up. A script may still set
the option itself in ``init()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from modeltap.errors import ConfigError

__all__ = ["STRING_STORAGE_VARIABLE", "use_string_storage"]

logger = logging.getLogger("modeltap.server")

STRING_STORAGE_VARIABLE = "MODELTAP_PANDAS_STRING_STORAGE"
_CHOICES = ("auto", "pyarrow", "python")
_OFF = "off"  # the same as auto: the switch that leaves pandas alone


def use_string_storage(environment: Mapping[str, str]) -> str:
    """Set pandas' string storage as ``environment`` asks (``python`` when it does not say)
    and log what was chosen; returns the choice (``off`` is returned as ``auto``). Raises
    ConfigError for a value pandas has no storage for."""
    value = environment.get(STRING_STORAGE_VARIABLE, "python")
    choice = value.strip().lower()
    if choice == _OFF:
        choice = "auto"
    if choice not in _CHOICES:
        raise ConfigError(
            f"{STRING_STORAGE_VARIABLE}={value!r} is not a string storage: use python "
            "(the default), pyarrow, or auto / off (pandas' own choice)"
        )
    if choice == "auto":
        logger.info(
            "pandas string storage left to pandas (%s=%s)", STRING_STORAGE_VARIABLE, value.strip()
        )
        return choice
    pd.set_option("mode.string_storage", choice)
    logger.info(
        "pandas string storage set to %r for the scoring script (%s; %s=off leaves pandas' own "
        "choice)",
        choice,
        "the default" if STRING_STORAGE_VARIABLE not in environment else "as asked",
        STRING_STORAGE_VARIABLE,
    )
    return choice
