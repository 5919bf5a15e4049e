"""MlflowModel in-process: a model without a signature takes tensors, failures are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modeltap


def test_model_without_signature_takes_tensors(tmp_path: Path) -> None:
    """No signature: instances are arrays, a model failure is a 400, rows are still paired."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import LinearRegression

    from modeltap.server.mlflow_model.model import MlflowModel

    features = np.random.default_rng(1).normal(size=(50, 2))
    folder = tmp_path / "model"
    mlflow_sklearn.save_model(
        LinearRegression().fit(features, features @ [1.0, 2.0]), str(folder),
        pip_requirements=["scikit-learn", "skops"],
    )
    data = tmp_path / "data"
    modeltap.configure({"data_collector": {
        "destination": str(data), "fsync": "never",
        "collections": {"model_inputs": {"enabled": True}, "model_outputs": {"enabled": True}},
    }})
    model = MlflowModel(folder)
    answer = model.score(b'{"instances": [[1, 2], [3, 4]]}', "application/json")
    failed = model.score(b'{"instances": [[1, 2, 3]]}', "application/json")
    assert isinstance(answer, dict)
    assert answer["predictions"] == pytest.approx([5.0, 11.0])
    assert not isinstance(failed, dict)
    assert failed.status_code == 400
    assert b"expecting 2 features" in bytes(failed.body)
    assert modeltap.flush(30)
    inputs = modeltap.read("local-default-model_inputs", destination=str(data))
    outputs = modeltap.read("local-default-model_outputs", destination=str(data))
    assert inputs[["0", "1"]].to_numpy().tolist() == [[1, 2], [3, 4]]
    joined = modeltap.join(inputs, outputs)
    assert joined["prediction"].tolist() == pytest.approx([5.0, 11.0])
