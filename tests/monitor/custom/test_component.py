"""A custom signal's component is parsed and imported when the definition loads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from modeltap.errors import MonitorDefinitionError
from modeltap.monitor import load
from modeltap.monitor.custom.component import parse_component, resolve_component
from modeltap.monitor.definition import CustomSignal


def _definition(component: str, **extra: Any) -> dict[str, Any]:
    """A monitor with one custom signal naming ``component``."""
    signal = {
        "type": "custom",
        "component": component,
        "production_data": {"input_data": {"path": "./inputs.parquet"}},
        **extra,
    }
    return {"name": "m", "create_monitor": {"monitoring_signals": {"c": signal}}}


def test_parse_component() -> None:
    """``package.module:function`` splits; anything else is refused with the expected form."""
    assert parse_component("a.b_c:fn") == ("a.b_c", "fn")
    for bad in ("a.b", "a:b:c", "a-b:fn", ":fn", "a:"):
        with pytest.raises(ValueError, match=r"use 'package\.module:function'"):
            parse_component(bad)


@pytest.mark.parametrize(
    ("component", "message"),
    [
        (
            "no_such_module_xyz:f",
            "create_monitor.monitoring_signals.c.component: cannot import module "
            "'no_such_module_xyz' of component 'no_such_module_xyz:f': no module named "
            "'no_such_module_xyz'",
        ),
        (
            "tests.monitor.custom.functions:nope",
            "c.component: module 'tests.monitor.custom.functions' has no function 'nope'; its "
            "functions: as_pandas, as_polars,",
        ),
        (
            "tests.monitor.custom.functions:CALLS",
            "c.component: 'tests.monitor.custom.functions:CALLS' is not callable (a list)",
        ),
        ("functions", "c.component: 'functions' is not a component"),
    ],
)
def test_load_time_errors(component: str, message: str) -> None:
    """A wrong module or function fails at load time, naming it."""
    with pytest.raises(MonitorDefinitionError) as info:
        load(_definition(component))
    assert message in str(info.value)


def test_bad_params_and_thresholds() -> None:
    """params must be keyword names; a metric listed twice in metric_thresholds is refused."""
    component = "tests.monitor.custom.functions:as_polars"
    with pytest.raises(MonitorDefinitionError, match="'production' is the name of the data"):
        load(_definition(component, params={"production": 1}))
    twice = [{"metric_name": "a", "threshold": 1}, {"metric_name": "a", "threshold": 2}]
    with pytest.raises(MonitorDefinitionError, match="metric_name 'a' is listed twice"):
        load(_definition(component, metric_thresholds=twice))
    with pytest.raises(MonitorDefinitionError, match="threshold: 'x' is not a number"):
        load(_definition(component, metric_thresholds=[{"metric_name": "a", "threshold": "x"}]))


def test_module_beside_the_definition_and_import_errors(tmp_path: Path) -> None:
    """A module in the definition's folder is found; one that raises on import is a load
    error naming the module and the exception."""
    (tmp_path / "beside_signal_mod.py").write_text(
        "def share(production, reference):\n    return None\n", encoding="utf-8"
    )
    (tmp_path / "broken_signal_mod.py").write_text("raise RuntimeError('no config')\n")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "name: m\ncreate_monitor:\n  monitoring_signals:\n    c:\n      type: custom\n"
        "      component: beside_signal_mod:share\n"
        "      production_data: {input_data: {path: ./inputs.parquet}}\n",
        encoding="utf-8",
    )
    try:
        signal = load(path).signals["c"]
        assert isinstance(signal, CustomSignal)
        assert signal.function.__name__ == "share"
        assert str(tmp_path) not in sys.path  # the folder is searched, not left on the path
        with pytest.raises(
            ValueError,
            match=r"importing module 'broken_signal_mod' .* raised RuntimeError: no config",
        ):
            resolve_component("broken_signal_mod:f", [tmp_path])
    finally:
        sys.modules.pop("beside_signal_mod", None)
        sys.modules.pop("broken_signal_mod", None)
