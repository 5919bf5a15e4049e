"""Choosing and starting the Spark engine without a JVM: the install hints when the extra or
Java is missing (run errors, exit status 1), the master, and the YAML's compute section."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

import modeltap.monitor
from modeltap.cli import extras as extras_module
from modeltap.cli import main
from modeltap.errors import MissingDependencyError, MonitorDefinitionError, MonitorError
from modeltap.monitor.engines.spark import SparkEngine, find_java, session_conf, spark_master

DEFINITION = {
    "name": "m",
    "create_monitor": {
        "compute": {"instance_type": "standard_e4s_v3"},
        "monitoring_signals": {
            "drift": {
                "type": "data_drift",
                "production_data": {"input_data": {"path": "nothing"}},
                "reference_data": {"input_data": {"path": "nothing"}},
            }
        },
    },
}


def _without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the spark extra look uninstalled."""
    monkeypatch.setattr(
        extras_module, "missing_modules", lambda extra: list(extras_module.EXTRAS[extra])
    )


def _without_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No JAVA_HOME and a PATH without java."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra the engine refuses to start with the pip command."""
    _without_extra(monkeypatch)
    with pytest.raises(MissingDependencyError, match=r'pip install "modeltap\[spark\]"'):
        SparkEngine()


def test_missing_java_says_what_to_install(tmp_path: Path) -> None:
    """No java on PATH, or a JAVA_HOME without bin/java: the message says what to install."""
    with pytest.raises(MissingDependencyError, match="apt-get install default-jre-headless"):
        find_java({"PATH": str(tmp_path)})
    with pytest.raises(MissingDependencyError, match=f"JAVA_HOME is {tmp_path}"):
        find_java({"JAVA_HOME": str(tmp_path), "PATH": ""})
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    assert find_java({"JAVA_HOME": str(tmp_path)}) == str(java)
    assert find_java({"PATH": str(java.parent)}) == str(java)


def test_run_without_java_fails_before_starting_spark(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run(engine='spark'), or compute.engine: spark in the definition, raises the Java
    message (no JVM is started)."""
    _without_java(monkeypatch, tmp_path)
    with pytest.raises(MissingDependencyError, match="needs a Java runtime"):
        modeltap.monitor.run(DEFINITION, destination=str(tmp_path), engine="spark")
    on_spark = {**DEFINITION, "create_monitor": {**DEFINITION["create_monitor"]}}
    on_spark["create_monitor"]["compute"] = {"engine": "spark"}  # type: ignore[index]
    with pytest.raises(MissingDependencyError, match="needs a Java runtime"):
        modeltap.monitor.run(on_spark, destination=str(tmp_path))


@pytest.mark.parametrize("missing", ["extra", "java"])
def test_cli_exits_1_with_the_hint(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    """modeltap monitor run --engine spark (or --spark-master alone): one line on stderr,
    exit status 1."""
    if missing == "extra":
        _without_extra(monkeypatch)
    else:
        _without_java(monkeypatch, tmp_path)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(DEFINITION))
    choice = ["--engine", "spark"] if missing == "extra" else ["--spark-master", "local[1]"]
    code = main(["monitor", "run", "-f", str(path), "-d", str(tmp_path), *choice])
    err = capsys.readouterr().err
    assert code == 1
    expected = 'pip install "modeltap[spark]"' if missing == "extra" else "default-jre-headless"
    assert expected in err and err.count("\n") == 1


def test_master_from_argument_environment_or_default() -> None:
    """--spark-master wins over MODELTAP_SPARK_MASTER, which wins over local[*]."""
    env = {"MODELTAP_SPARK_MASTER": "spark://head:7077"}
    assert spark_master("yarn", env) == "yarn"
    assert spark_master(None, env) == "spark://head:7077"
    assert spark_master(None, {}) == "local[*]"


def test_session_conf_is_spark_text() -> None:
    """compute.conf reaches Spark as text, over the engine's defaults."""
    conf = session_conf({"spark.executor.instances": 4, "spark.sql.adaptive.enabled": False})
    assert conf["spark.executor.instances"] == "4"
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert (
        session_conf({"spark.sql.session.timeZone": "Europe/Paris"})["spark.sql.session.timeZone"]
        == "Europe/Paris"
    )


def test_compute_section_accepts_the_engine() -> None:
    """compute takes engine, master and conf beside instance_type; a bad engine is named."""
    definition = modeltap.monitor.load(
        {
            **DEFINITION,
            "create_monitor": {
                **DEFINITION["create_monitor"],  # type: ignore[dict-item]
                "compute": {
                    "instance_type": "standard_e4s_v3",
                    "engine": "spark",
                    "master": "k8s://https://cluster:443",
                    "conf": {"spark.executor.memory": "4g", "spark.executor.instances": 4},
                },
            },
        }
    )
    compute = definition.create_monitor.compute
    assert compute is not None
    assert (compute.engine, compute.master) == ("spark", "k8s://https://cluster:443")
    assert compute.conf == {"spark.executor.memory": "4g", "spark.executor.instances": 4}
    bad = {**DEFINITION, "create_monitor": {**DEFINITION["create_monitor"]}}
    bad["create_monitor"]["compute"] = {"engine": "flink"}  # type: ignore[index]
    with pytest.raises(MonitorDefinitionError, match=r"compute\.engine"):
        modeltap.monitor.load(bad)


def test_unknown_engine_name_is_an_error(tmp_path: Path) -> None:
    """run(engine=...) names the engines it knows."""
    with pytest.raises(MonitorError, match="use 'embedded' or 'spark'"):
        modeltap.monitor.run(DEFINITION, destination=str(tmp_path), engine="flink")
