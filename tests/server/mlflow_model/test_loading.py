"""Finding and loading an MLflow model: MLflow's defaults, model URIs, and the errors."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Registry:
    """A file-based MLflow tracking store with the model logged in one run and registered, and
    a folder of notes beside it."""

    environment: dict[str, str]
    run_id: str


_LOG_AND_REGISTER = """
import sys
import mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from tests.server.mlflow_model.conftest import training_frame

frame, labels = training_frame()
model = LogisticRegression().fit(frame, labels)
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(frame, model.predict(frame)),
        pip_requirements=["scikit-learn", "skops"], registered_model_name="credit",
    )
    mlflow.log_dict({"note": "not a model"}, "notes/note.json")
print(run.info.run_id)
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The model logged as ``runs:/ID/model`` and registered as ``models:/credit/1``, by mlflow
    in a process of its own (the tracking URI is process state)."""
    pytest.importorskip("mlflow.sklearn")
    root = tmp_path_factory.mktemp("tracking")
    environment = {
        **os.environ,
        "MLFLOW_TRACKING_URI": (root / "mlruns").as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 wants a database; files are enough here
    }
    result = subprocess.run(
        [sys.executable, "-c", _LOG_AND_REGISTER], capture_output=True, text=True,
        timeout=300, cwd=Path(__file__).resolve().parents[3], env=environment,
    )
    assert result.returncode == 0, result.stderr
    return Registry(environment, result.stdout.split()[-1])


def _uri(kind: str, registry: Registry, model_dir: Path) -> str:
    return {
        "models": "models:/credit/1",
        "runs": f"runs:/{registry.run_id}/model",
        "file": model_dir.as_uri(),
    }[kind]


@pytest.mark.parametrize("kind", ["models", "runs", "file"])
def test_model_uris_are_resolved_by_mlflow(
    kind: str, registry: Registry, model_dir: Path, server_dir: Path
) -> None:
    """models:/NAME/VERSION, runs:/ID/PATH and file:// are served; a downloaded copy is removed
    when the server stops."""
    downloads = server_dir / "tmp"
    downloads.mkdir(parents=True)
    environment = {**registry.environment, "TMPDIR": str(downloads)}
    uri = _uri(kind, registry, model_dir)
    with running(server_dir, "serve", "--mlflow-model", uri, env=environment) as server, \
            server.client() as client:
        reply = client.post("/invocations", json=BODIES["dataframe_split"])
        copies = list(downloads.glob("modeltap-mlflow-model-*"))
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": expected_predictions(model_dir, ROWS)}
    assert len(copies) == (0 if kind == "file" else 1)
    assert server.process.returncode == 0
    assert not list(downloads.glob("modeltap-mlflow-model-*"))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/no-such-model/1", "no-such-model not found"),
        ("models:/credit/7", "credit"),
        ("runs:/{run_id}/nothing", "mlflow cannot resolve it"),
        ("runs:/{run_id}/notes", "has no MLmodel file"),
        ("runs:/{run_id}", "mlflow cannot resolve it"),
        ("runs:/0123456789abcdef/model", "0123456789abcdef"),
        ("file:///no/such/folder", "no folder /no/such/folder"),
    ],
)
def test_unresolvable_uri_is_one_line_and_exit_1(
    uri: str, message: str, registry: Registry, tmp_path: Path
) -> None:
    """A URI mlflow cannot resolve to a model folder stops serve with status 1 and one line
    naming the URI, instead of being taken as a folder under the current one."""
    uri = uri.format(run_id=registry.run_id)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from modeltap.cli import main; sys.exit(main())",
         "serve", "--mlflow-model", uri, "--port", "0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**registry.environment, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"},
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"modeltap: --mlflow-model {uri}: ")
    assert message in lines[0]
    assert not list(tmp_path.glob("modeltap-mlflow-model-*"))


def test_model_uri_in_a_deployment_yaml_is_resolved_by_mlflow(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model: models:/credit/1 with model_type: mlflow is downloaded as --mlflow-model is,
    not joined to the YAML's folder."""
    from modeltap.server.options import resolve_options
    from tests.server.conftest import write_deployment

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.setenv(name, registry.environment[name])
    deployment = write_deployment(tmp_path, model="models:/credit/1", model_type="mlflow")
    options = resolve_options(deployment_file=str(deployment))
    assert options.model_dir is not None
    assert not options.model_dir.is_relative_to(tmp_path)
    assert (options.model_dir / "MLmodel").is_file()
