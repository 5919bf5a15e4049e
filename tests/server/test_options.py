"""Deployment options of an MLflow model: --collect, model_type: mlflow and their mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modeltap.errors import ConfigError, ModelUriError
from modeltap.server.options import resolve_options
from tests.server.conftest import write_deployment


def test_collect_turns_on_only_model_collections(tmp_path: Path) -> None:
    """--collect enables model_inputs/model_outputs and keeps the YAML's other collections."""
    deployment = write_deployment(
        tmp_path, model="m", model_type="mlflow",
        data_collector={"collections": {"request": {"enabled": True},
                                        "model_inputs": {"sampling_rate": 0.5}}},
    )
    options = resolve_options(deployment_file=str(deployment), collect=True)
    settings = options.settings
    assert options.model_type == "mlflow"
    assert options.model_dir == (tmp_path / "m").resolve()
    assert settings.collection("model_inputs").enabled
    assert settings.collection("model_inputs").sampling_rate == 0.5
    assert settings.collection("model_outputs").enabled
    assert settings.collection("request").enabled
    assert not settings.collection("response").enabled
    bare = resolve_options(mlflow_model=str(tmp_path / "m"))
    assert not bare.settings.collection("model_inputs").enabled
    assert bare.environment["MODELTAP_MODEL_DIR"] == str((tmp_path / "m").resolve())


@pytest.mark.parametrize(
    ("document", "flags", "message"),
    [
        ({"model": "m", "model_type": "mlflow",
          "code_configuration": {"code": ".", "scoring_script": "score.py"}}, {},
         "without a scoring script"),
        ({"model_type": "mlflow"}, {}, "needs model:"),
        ({"model": "m", "model_type": "onnx"}, {}, "model_type: 'onnx'"),
        ({"code_configuration": {"code": ".", "scoring_script": "score.py"}},
         {"collect": True}, "--collect is for MLflow models"),
    ],
)
def test_mlflow_deployment_mistakes_are_named(
    tmp_path: Path, document: dict[str, Any], flags: dict[str, Any], message: str
) -> None:
    """Contradictory or incomplete MLflow deployments are ConfigErrors that say what to fix."""
    (tmp_path / "score.py").write_text("def init(): pass\ndef run(raw_data): return raw_data\n")
    deployment = write_deployment(tmp_path, **document)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        resolve_options(deployment_file=str(deployment), **flags)


def test_mlflow_model_uri_in_the_yaml_is_resolved_not_joined(tmp_path: Path) -> None:
    """model: file://... with model_type: mlflow is the folder it names, not a folder of that
    name beside the YAML (as --mlflow-model takes it)."""
    pytest.importorskip("mlflow")
    model = tmp_path / "elsewhere" / "credit"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    deployment = write_deployment(tmp_path / "deploy", model=model.as_uri(), model_type="mlflow")
    options = resolve_options(deployment_file=str(deployment))
    assert options.model_dir == model.resolve()
    assert options.environment["MODELTAP_MODEL_DIR"] == str(model.resolve())


def test_unresolvable_mlflow_model_uri_in_the_yaml_names_the_key(tmp_path: Path) -> None:
    """A model: URI that names no model folder is a ModelUriError naming the file and key."""
    pytest.importorskip("mlflow")
    missing = (tmp_path / "no-such-model").as_uri()
    deployment = write_deployment(tmp_path, model=missing, model_type="mlflow")
    with pytest.raises(ModelUriError) as info:
        resolve_options(deployment_file=str(deployment))
    assert str(info.value).startswith(f"{deployment}: model: {missing}: no folder ")
