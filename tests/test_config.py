"""The data_collector configuration: YAML files, mappings, the environment, and clear errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
import yaml

from modeltap.config import (
    DEFAULT_DESTINATION,
    REDACTED,
    RollingRate,
    load_settings,
    load_yaml_text,
    redact,
    settings_from_env,
)
from modeltap.errors import ConfigError, InvalidCollectionNameError

DEPLOYMENT_YAML = """\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
    name: blue
    endpoint_name: my-endpoint
    model: azureml:my-model:1
    instance_type: Standard_DS3_v2
    data_collector:
      sampling_rate: 0.5
      rolling_rate: minute
      collections:
        model_inputs:
          enabled: 'True'
        model_outputs:
          enabled: 'False'
        request_logging_demo:
          enabled: true
          sampling_rate: 0.25
          data:
            name: demo_asset
            path: s3://bucket/custom/demo
            version: 2
"""


def write_yaml(tmp_path: Path, text: str, name: str = "deployment.yml") -> Path:
    """Write ``text`` (dedented) as a YAML file under tmp_path."""
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def config_error(source: object) -> str:
    """The message of the ConfigError that loading ``source`` raises."""
    with pytest.raises(ConfigError) as info:
        load_settings(source)  # type: ignore[arg-type]
    return str(info.value)


# -- valid configurations --------------------------------------------------------------------


def test_yaml_file_is_loaded_with_platform_keys(tmp_path: Path) -> None:
    """A deployment YAML gives names, rates, switches and the data asset; other keys are kept."""
    settings = load_settings(write_yaml(tmp_path, DEPLOYMENT_YAML))
    assert settings.endpoint == "my-endpoint"
    assert settings.deployment_name == "blue"
    assert settings.collector.sampling_rate == 0.5
    assert settings.collector.rolling_rate is RollingRate.MINUTE
    inputs = settings.collection("model_inputs")
    assert inputs.enabled is True
    assert inputs.sampling_rate == 0.5
    assert inputs.root == "my-endpoint/blue/model_inputs"
    assert settings.collection("model_outputs").enabled is False
    demo = settings.collection("request_logging_demo")
    assert demo.sampling_rate == 0.25
    assert demo.root == "s3://bucket/custom/demo"
    collections = settings.collector.collections
    assert collections is not None
    data = collections["request_logging_demo"].data
    assert data is not None and data.version == "2" and data.name == "demo_asset"
    assert settings.source == str(tmp_path / "deployment.yml")


def test_mapping_of_data_collector_section_is_accepted() -> None:
    """A mapping without deployment keys is read as the data_collector section itself."""
    settings = load_settings({"sampling_rate": 0.3, "format": "parquet"})
    assert settings.collector.sampling_rate == 0.3
    assert settings.collector.format == "parquet"
    assert settings.endpoint == "local"
    assert settings.deployment_name == "default"
    assert settings.source == "<mapping>"


def test_mapping_of_whole_deployment_is_accepted() -> None:
    """A mapping with deployment keys is read as a deployment."""
    settings = load_settings(
        {"endpoint_name": "ep", "name": "dep", "data_collector": {"rolling_rate": "Day"}}
    )
    assert (settings.endpoint, settings.deployment_name) == ("ep", "dep")
    assert settings.collector.rolling_rate is RollingRate.DAY


@pytest.mark.parametrize(
    ("value", "expected"),
    [("True", True), ("False", False), ("true", True), ("FALSE", False), (True, True),
     (False, False)],
)
def test_enabled_accepts_booleans_and_boolean_strings(value: object, expected: bool) -> None:
    """``enabled`` takes a boolean or the strings 'True'/'False' (any case), as the platform."""
    settings = load_settings({"collections": {"model_inputs": {"enabled": value}}})
    assert settings.collection("model_inputs").enabled is expected


@pytest.mark.parametrize("text", ["minute", "MINUTE", "Minute", "hour", "Day", "month", "YEAR"])
def test_rolling_rate_any_case(text: str) -> None:
    """``rolling_rate`` is matched without regard to case."""
    settings = load_settings({"rolling_rate": text})
    assert settings.collector.rolling_rate.value.lower() == text.lower()


def test_listed_collections_only_are_enabled() -> None:
    """With ``collections`` given, a collection not listed there is disabled."""
    settings = load_settings({"collections": {"model_inputs": {"enabled": True}}})
    assert settings.collection("model_inputs").enabled is True
    assert settings.collection("model_outputs").enabled is False


def test_without_collections_every_collection_is_enabled() -> None:
    """Without ``collections``, every collection name is enabled at the top sampling rate."""
    settings = load_settings({"sampling_rate": 0.7})
    for name in ("model_inputs", "model_outputs", "anything-else"):
        policy = settings.collection(name)
        assert policy.enabled is True
        assert policy.sampling_rate == 0.7


def test_data_path_overrides_the_collection_root() -> None:
    """``collections.<name>.data.path`` replaces the default endpoint/deployment/name root."""
    settings = load_settings(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {
                "collections": {
                    "model_inputs": {"data": {"path": "custom/inputs"}},
                    "model_outputs": {},
                }
            },
        }
    )
    assert settings.collection("model_inputs").root == "custom/inputs"
    assert settings.collection("model_outputs").root == "ep/dep/model_outputs"


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    """An empty file is an empty configuration, not an error."""
    settings = load_settings(write_yaml(tmp_path, ""))
    assert settings.collector.sampling_rate == 1.0
    assert settings.collector.rolling_rate is RollingRate.HOUR


# -- the environment -------------------------------------------------------------------------


def test_modeltap_deployment_env_names_the_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a source, MODELTAP_DEPLOYMENT names the deployment YAML to load."""
    path = write_yaml(tmp_path, DEPLOYMENT_YAML)
    monkeypatch.setenv("MODELTAP_DEPLOYMENT", str(path))
    for settings in (load_settings(None), settings_from_env()):
        assert settings.endpoint == "my-endpoint"
        assert settings.source == str(path)


def test_without_env_defaults_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MODELTAP_DEPLOYMENT the defaults apply."""
    monkeypatch.delenv("MODELTAP_DEPLOYMENT", raising=False)
    settings = load_settings(None)
    assert settings.endpoint == "local"
    assert settings.collector.collections is None


def test_modeltap_data_dir_sets_the_default_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODELTAP_DATA_DIR replaces the default destination (resolved to an absolute path)."""
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings({}).destination == str((tmp_path / "elsewhere").resolve())


def test_explicit_destination_wins_over_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured destination is used even when MODELTAP_DATA_DIR is set; URLs stay as is."""
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings({"destination": str(tmp_path / "mine")}).destination == str(
        (tmp_path / "mine").resolve()
    )
    assert load_settings({"destination": "s3://bucket/x"}).destination == "s3://bucket/x"


def test_default_destination_without_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MODELTAP_DATA_DIR the destination is ./modeltap-data in the working folder."""
    monkeypatch.delenv("MODELTAP_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).destination == str((tmp_path / DEFAULT_DESTINATION).resolve())


# -- bad configurations: every message names source, key, value and the fix -------------------


def test_invalid_enabled_value_in_yaml(tmp_path: Path) -> None:
    """A non-boolean ``enabled`` names the file, the key path, the value and the choices."""
    path = write_yaml(
        tmp_path,
        """\
        data_collector:
          collections:
            model_inputs:
              enabled: maybe
        """,
    )
    message = config_error(path)
    assert str(path) in message
    assert "data_collector.collections.model_inputs.enabled" in message
    assert "'maybe'" in message
    assert "True or False" in message


def test_invalid_enabled_value_in_mapping() -> None:
    """The same error from a mapping names ``<mapping>`` as its source."""
    message = config_error({"collections": {"model_inputs": {"enabled": 3}}})
    assert "<mapping>" in message
    assert "data_collector.collections.model_inputs.enabled" in message
    assert "(got 3)" in message
    assert "True or False" in message


@pytest.mark.parametrize("rate", [1.5, -0.1])
def test_top_sampling_rate_out_of_range(rate: float) -> None:
    """A top-level sampling rate outside [0, 1] is refused with the bound it broke."""
    message = config_error({"sampling_rate": rate})
    assert "<mapping>" in message
    assert "data_collector.sampling_rate" in message
    assert f"got {rate}" in message
    assert ("less than or equal to 1" if rate > 1 else "greater than or equal to 0") in message


def test_collection_sampling_rate_out_of_range(tmp_path: Path) -> None:
    """A per-collection sampling rate outside [0, 1] names the collection's key path."""
    path = write_yaml(
        tmp_path,
        """\
        data_collector:
          collections:
            model_outputs:
              sampling_rate: 2
        """,
    )
    message = config_error(path)
    assert str(path) in message
    assert "data_collector.collections.model_outputs.sampling_rate" in message
    assert "got 2" in message
    assert "less than or equal to 1" in message


def test_bad_rolling_rate(tmp_path: Path) -> None:
    """An unknown rolling rate lists the allowed ones."""
    path = write_yaml(tmp_path, "data_collector:\n  rolling_rate: weekly\n")
    message = config_error(path)
    assert str(path) in message
    assert "data_collector.rolling_rate" in message
    assert "'weekly'" in message
    assert "Minute, Hour, Day, Month, Year" in message


def test_invalid_collection_name_in_yaml(tmp_path: Path) -> None:
    """A collection name that cannot be a folder name is refused with the naming rule."""
    path = write_yaml(
        tmp_path,
        """\
        data_collector:
          collections:
            model inputs:
              enabled: true
        """,
    )
    message = config_error(path)
    assert str(path) in message
    assert "data_collector.collections" in message
    assert "'model inputs'" in message
    assert "1-64 characters" in message


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    """A misspelt key is refused and the message lists the keys allowed at that place."""
    path = write_yaml(tmp_path, "data_collector:\n  colections: {}\n")
    message = config_error(path)
    assert str(path) in message
    assert "data_collector.colections: unknown key" in message
    assert "collections" in message.split("allowed keys here:")[1]
    assert "sampling_rate" in message


def test_unknown_key_inside_a_collection() -> None:
    """Unknown keys inside a collection list that section's keys."""
    message = config_error({"collections": {"model_inputs": {"enabeld": True}}})
    assert "<mapping>" in message
    assert "data_collector.collections.model_inputs.enabeld: unknown key" in message
    assert "allowed keys here: data, enabled, sampling_rate" in message


def test_non_mapping_yaml(tmp_path: Path) -> None:
    """A YAML file whose top is not a mapping is refused, naming the file and what it got."""
    path = write_yaml(tmp_path, "- a\n- b\n")
    message = config_error(path)
    assert str(path) in message
    assert "expected a mapping" in message
    assert "list" in message


def test_missing_file(tmp_path: Path) -> None:
    """A deployment file that does not exist is a ConfigError naming the path."""
    path = tmp_path / "nope.yml"
    message = config_error(path)
    assert str(path) in message
    assert "not found" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    """Unparsable YAML is a ConfigError naming the file."""
    path = write_yaml(tmp_path, "data_collector: [unclosed\n")
    message = config_error(path)
    assert str(path) in message
    assert "not valid YAML" in message


@pytest.mark.parametrize(("key", "value"), [("endpoint_name", "bad/name"), ("name", "..")])
def test_endpoint_and_deployment_names_are_validated(key: str, value: str) -> None:
    """Endpoint and deployment names become folder names and are checked like collections."""
    message = config_error({key: value, "data_collector": {}})
    assert "<mapping>" in message
    assert f"{key}:" in message
    assert repr(value) in message
    assert "1-64 characters" in message


def test_several_errors_are_reported_together() -> None:
    """Every problem of a configuration is listed, not only the first."""
    message = config_error({"sampling_rate": 3, "rolling_rate": "weekly"})
    assert "<mapping>" in message
    assert "(got 3)" in message and "(got 'weekly')" in message
    assert "data_collector.sampling_rate" in message
    assert "data_collector.rolling_rate" in message


def test_config_error_is_a_value_error() -> None:
    """ConfigError (and the name error derived from it) are ValueErrors too."""
    assert issubclass(ConfigError, ValueError)
    assert issubclass(InvalidCollectionNameError, ConfigError)


# -- YAML: no aliases, YAML 1.2 booleans --------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
data_collector: {collections: {model_inputs: {enabled: true}}}
"""


def _load_with_configure(path: Path) -> object:
    """configure() as a scoring script calls it."""
    import modeltap

    return modeltap.configure(path)


def _load_with_serve(path: Path) -> object:
    """The deployment reader of ``modeltap serve``."""
    from modeltap.server.options import resolve_options

    return resolve_options(deployment_file=str(path), need_script=False)


LOADERS = [_load_with_configure, _load_with_serve]


@pytest.mark.parametrize("load", LOADERS)
def test_aliases_are_refused_naming_file_and_line(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    """A 'billion laughs' file is refused at its first alias, before anything is expanded."""
    path = write_yaml(tmp_path, BILLION_LAUGHS)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 2, column 8" in message
    assert "alias *a is not accepted" in message


@pytest.mark.parametrize("load", LOADERS)
def test_merge_keys_are_aliases_too(tmp_path: Path, load: Callable[[Path], object]) -> None:
    """``<<: *base`` needs an alias, so it is refused like any other."""
    path = write_yaml(
        tmp_path,
        """\
        base: &base {enabled: 'True'}
        data_collector:
          collections:
            model_inputs:
              <<: *base
        """,
    )
    with pytest.raises(ConfigError, match=r"line 5, column \d+: the alias \*base"):
        load(path)


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("spelling", ["yes", "'yes'", "on", "No", "off"])
def test_yes_and_no_are_refused_quoted_or_not(
    tmp_path: Path, load: Callable[[Path], object], spelling: str
) -> None:
    """``enabled: yes`` is refused exactly as ``enabled: 'yes'`` (YAML 1.2 booleans only)."""
    path = write_yaml(
        tmp_path, f"data_collector:\n  collections:\n    model_inputs:\n      enabled: {spelling}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "data_collector.collections.model_inputs.enabled" in message
    assert f"(got '{spelling.strip(chr(39))}')" in message
    assert "True or False" in message


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("true", True), ("True", True), ("FALSE", False), ("'True'", True), ("'false'", False)],
)
def test_true_and_false_are_accepted_quoted_or_not(
    tmp_path: Path, spelling: str, expected: bool
) -> None:
    """YAML's true/false and the platform's 'True'/'False' strings are booleans."""
    path = write_yaml(
        tmp_path, f"data_collector:\n  collections:\n    model_inputs:\n      enabled: {spelling}\n"
    )
    assert load_settings(path).collection("model_inputs").enabled is expected


def test_mapping_with_yes_is_refused_as_the_file_is() -> None:
    """The string 'yes' in a mapping is refused with the same message as in a file."""
    message = config_error({"collections": {"model_inputs": {"enabled": "yes"}}})
    assert "(got 'yes')" in message and "True or False" in message


# -- secrets never echoed -----------------------------------------------------------------------


def test_storage_options_as_a_string_is_not_echoed(tmp_path: Path) -> None:
    """storage_options given as a string: the error names the key, never the value."""
    secret = "AccountKey=c2VjcmV0LXZhbHVlLTEyMzQ="
    path = write_yaml(tmp_path, f'data_collector:\n  storage_options: "{secret}"\n')
    message = config_error(path)
    assert "data_collector.storage_options" in message
    assert "valid dictionary" in message
    assert secret not in message and "c2VjcmV0" not in message


def test_secret_values_nested_in_a_bad_section_are_redacted() -> None:
    """A section echoed whole keeps its shape but shows no secret values."""
    message = config_error(
        {"collections": ["model_inputs"], "storage_options": {"account_key": "hunter2"}}
    )
    assert "data_collector.collections" in message
    assert "hunter2" not in message


def test_yaml_syntax_errors_do_not_quote_the_file(tmp_path: Path) -> None:
    """A parse error gives line and column, not the text of the line (it may hold a key)."""
    path = write_yaml(tmp_path, "data_collector:\n  storage_options: {key: s3cr3t-value\n")
    message = config_error(path)
    assert str(path) in message and "not valid YAML" in message and "line 3" in message
    assert "s3cr3t-value" not in message


@pytest.mark.parametrize(
    ("value", "location", "expected"),
    [
        ({"storage_options": {"key": "k"}, "format": "jsonl"}, (),
         {"storage_options": REDACTED, "format": "jsonl"}),
        ({"client_secret": "s", "region": "eu"}, (), {"client_secret": REDACTED, "region": "eu"}),
        ("anything", ("data_collector", "storage_options"), REDACTED),
        ("anything", ("data_collector", "storage_options", "account_key"), REDACTED),
        ([{"sas_token": "t"}], ("x",), [{"sas_token": REDACTED}]),
        ("jsonl", ("data_collector", "format"), "jsonl"),
    ],
)
def test_redact(value: object, location: tuple[str, ...], expected: object) -> None:
    """Values under storage_options and secret-looking keys are replaced; others kept."""
    assert redact(value, location) == expected


# -- a Collector whose name is not listed --------------------------------------------------------


def test_unlisted_collector_name_warns_with_the_nearest_match(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Collector(name='model_input') when the YAML lists model_inputs: a WARNING that says so."""
    import modeltap

    path = write_yaml(
        tmp_path,
        f"""\
        data_collector:
          destination: {tmp_path / "data"}
          collections:
            model_inputs: {{enabled: 'True'}}
            model_outputs: {{enabled: 'True'}}
        """,
    )
    modeltap.configure(path)
    with caplog.at_level(logging.INFO, logger="modeltap"):
        modeltap.Collector(name="model_input")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    message = warnings[0].getMessage()
    assert "'model_input'" in message
    assert "model_inputs, model_outputs" in message
    assert "did you mean 'model_inputs'?" in message
    assert str(path) in message


def test_listed_but_disabled_collector_is_not_a_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A collection switched off on purpose logs INFO, not a warning; no guess is offered."""
    import modeltap

    modeltap.configure(
        {"destination": str(tmp_path / "d"),
         "collections": {"model_inputs": {"enabled": False}, "request": {"enabled": True}}}
    )
    with caplog.at_level(logging.INFO, logger="modeltap"):
        modeltap.Collector(name="model_inputs")
        modeltap.Collector(name="request")
        modeltap.Collector(name="zzz")
    levels = {r.getMessage().split("'")[1]: r.levelno for r in caplog.records}
    assert levels == {"model_inputs": logging.INFO, "zzz": logging.WARNING}
    assert "did you mean" not in caplog.text


def test_load_yaml_text_for_other_documents() -> None:
    """Other YAML documents (monitor definitions) parse with the same rules: no aliases, and
    only true/false are booleans; the error carries the alias's line."""
    assert load_yaml_text("a: yes\nb: true\nc: [1, 2]\n") == {"a": "yes", "b": True, "c": [1, 2]}
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml_text("a: &x 1\nb: *x\n")
    mark = getattr(info.value, "problem_mark", None)
    assert mark is not None and mark.line == 1


def test_a_source_of_another_type_is_a_config_error() -> None:
    """configure()/load_settings() refuse what is neither a path, a mapping nor None."""
    with pytest.raises(ConfigError, match="not int"):
        load_settings(42)  # type: ignore[arg-type]
