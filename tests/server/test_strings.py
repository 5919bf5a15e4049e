"""pandas' string storage in serve's workers: Python objects unless the deployment says."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from modeltap.errors import ConfigError
from modeltap.server.strings import STRING_STORAGE_VARIABLE, use_string_storage
from tests.server.conftest import SCRIPTS, launch, running, write_deployment

BODY = {"data": {"age": [31, 45], "segment": ["a", None]}}


def _storage_of_new_strings() -> str:
    """The storage pandas gives a string column built now."""
    return str(pd.DataFrame({"s": ["x"]})["s"].dtype.storage)


@pytest.mark.parametrize(
    ("environment", "storage"),
    [({}, "python"), ({STRING_STORAGE_VARIABLE: "PyArrow"}, "pyarrow"),
     ({STRING_STORAGE_VARIABLE: " python "}, "python")],
)
def test_the_choice_sets_pandas_storage(environment: dict[str, str], storage: str) -> None:
    """No variable means Python storage; a named storage (any case, spaces trimmed) is set."""
    with pd.option_context("mode.string_storage", "auto"):
        assert use_string_storage(environment) == storage
        assert _storage_of_new_strings() == storage


@pytest.mark.parametrize("switch", ["auto", "off", "OFF"])
def test_auto_or_off_leaves_pandas_its_own_choice(switch: str) -> None:
    """``auto`` (or ``off``) changes nothing: pandas picks Arrow, as pyarrow is installed."""
    with pd.option_context("mode.string_storage", "auto"):
        assert use_string_storage({STRING_STORAGE_VARIABLE: switch}) == "auto"
        assert pd.get_option("mode.string_storage") == "auto"
        assert _storage_of_new_strings() == "pyarrow"


def test_the_choice_is_logged_with_its_off_switch(caplog: pytest.LogCaptureFixture) -> None:
    """Start-up logs the storage set for the whole process and how to turn that off."""
    with pd.option_context("mode.string_storage", "auto"), caplog.at_level(
        logging.INFO, logger="modeltap.server"
    ):
        use_string_storage({})
        use_string_storage({STRING_STORAGE_VARIABLE: "off"})
    first, second = (record.getMessage() for record in caplog.records[-2:])
    assert "set to 'python'" in first and "the default" in first
    assert f"{STRING_STORAGE_VARIABLE}=off" in first
    assert "left to pandas" in second


def test_an_unknown_storage_is_refused_with_the_choices() -> None:
    """A value pandas has no storage for is a ConfigError naming the variable and choices."""
    with pytest.raises(ConfigError) as info:
        use_string_storage({STRING_STORAGE_VARIABLE: "arrow"})
    message = str(info.value)
    assert f"{STRING_STORAGE_VARIABLE}='arrow'" in message
    assert "python" in message and "pyarrow" in message and "off" in message


@pytest.mark.parametrize(("variables", "storage"), [({}, "python"),
                                                    ({STRING_STORAGE_VARIABLE: "pyarrow"},
                                                     "pyarrow")])
def test_served_scripts_get_the_storage_and_collect_alike(
    server_dir: Path, variables: dict[str, str], storage: str
) -> None:
    """Over HTTP: the script's strings have the deployment's storage, and the collected rows
    are the same either way (missing strings as null)."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_strings.py"},
        environment_variables=variables,
        data_collector={"collections": {"model_inputs": {"enabled": "True"}}},
    )
    with running(server_dir, "serve", "-f", str(deployment)) as server:
        with server.client() as client:
            reply = client.post("/score", json=BODY)
        assert server.stop() == 0
    assert reply.status_code == 200
    assert reply.json() == {"storage": storage, "rows": 2}
    records = server.records("model_inputs")
    assert [r["data"] for r in records] == [[{"age": 31, "segment": "a"},
                                             {"age": 45, "segment": None}]]


def test_an_unknown_storage_stops_start_up(server_dir: Path) -> None:
    """A deployment asking for a storage pandas lacks does not start, and says why."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_strings.py"},
        environment_variables={STRING_STORAGE_VARIABLE: "arrow"},
    )
    process = launch(server_dir, "serve", "-f", str(deployment))
    assert process.wait_exit() == 2
    assert f"{STRING_STORAGE_VARIABLE}='arrow' is not a string storage" in process.log()
