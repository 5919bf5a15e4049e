"""Finding and loading an MLflow model: what start-up says when it cannot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.server.conftest import launch, running
from tests.server.mlflow_model.conftest import BODIES, ROWS, expected_predictions, training_frame

pytestmark = pytest.mark.slow

def test_not_an_mlflow_folder_stops_start_up(tmp_path: Path, server_dir: Path) -> None:
    """A folder without MLmodel stops start-up with a non-zero exit that says why."""
    pytest.importorskip("mlflow")
    process = launch(server_dir, "serve", "--mlflow-model", str(tmp_path))
    assert process.wait_exit() != 0
    assert "no MLmodel file" in process.log()


def test_without_mlflow_the_install_hint_is_given(tmp_path: Path) -> None:
    """With mlflow not importable, --mlflow-model exits 2 with the pip install hint."""
    import subprocess

    program = ("import sys; sys.modules['mlflow'] = None; from modeltap.cli import main; "
               "sys.exit(main())")
    result = subprocess.run(
        [sys.executable, "-c", program, "serve", "--mlflow-model", str(tmp_path), "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert 'pip install "modeltap[mlflow]"' in result.stderr


def test_model_saved_with_mlflow_defaults_is_served(server_dir: Path) -> None:
    """A model saved by plain ``mlflow.sklearn.save_model(model, path)`` (skops in MLflow 3)
    is served over HTTP and predicts what MLflow's own loader predicts."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import LogisticRegression

    frame, labels = training_frame()
    folder = server_dir / "default-model"
    mlflow_sklearn.save_model(LogisticRegression().fit(frame, labels), str(folder))
    with running(server_dir, "serve", "--mlflow-model", str(folder)) as server, \
            server.client() as client:
        reply = client.post("/invocations", json=BODIES["dataframe_split"])
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": expected_predictions(folder, ROWS)}
