"""MLflow models served with no scoring script, over real HTTP, and their captured data read back.

A tiny scikit-learn model is trained and saved with MLflow once per module. One server runs
with ``--mlflow-model --collect``, one from a deployment YAML with ``model_type: mlflow`` and all
four collections, one without ``--collect``; each gets its requests, then is stopped (SIGTERM
flushes) before the stored data is checked.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import modeltap
from modeltap.catalog import list_assets
from modeltap.errors import ConfigError
from modeltap.server.options import resolve_options
from tests.server.conftest import launch, running, write_deployment

pytestmark = pytest.mark.slow

FEATURES = ["age", "income"]


@dataclass
class Session:
    """What one server answered, and where it stored its data."""

    data_dir: Path
    exit_code: int
    replies: dict[str, httpx.Response] = field(default_factory=dict)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic regression on (age, income), saved with MLflow with a signature."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.uniform(20, 70, 200), "income": rng.uniform(10, 90, 200)})
    labels = (frame["age"] + frame["income"] > 90).astype(int)
    model = LogisticRegression().fit(frame, labels)
    folder = tmp_path_factory.mktemp("mlflow") / "model"
    mlflow_sklearn.save_model(
        model,
        str(folder),
        signature=infer_signature(frame, model.predict(frame)),
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )
    return folder


def _expected(model_dir: Path, rows: list[list[float]]) -> list[int]:
    import mlflow.pyfunc

    frame = pd.DataFrame(rows, columns=FEATURES)
    return [int(v) for v in mlflow.pyfunc.load_model(str(model_dir)).predict(frame)]


ROWS = [[25.0, 20.0], [65.0, 80.0], [40.0, 55.5]]
BODIES: dict[str, dict[str, Any]] = {
    "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": ROWS}},
    "dataframe_records": {"dataframe_records": [dict(zip(FEATURES, r, strict=True))
                                                for r in ROWS]},
    "instances": {"instances": [dict(zip(FEATURES, r, strict=True)) for r in ROWS]},
    "inputs": {"inputs": {name: [r[i] for r in ROWS] for i, name in enumerate(FEATURES)}},
}


@pytest.fixture(scope="module")
def collected(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """``--mlflow-model --collect``: every format on /score and /invocations, then stopped."""
    folder = tmp_path_factory.mktemp("collect")
    with running(folder, "serve", "--mlflow-model", str(model_dir), "--collect") as server, \
            server.client() as client:
        session = Session(server.data_dir, 0)
        for form, body in BODIES.items():
            for route in ("/score", "/invocations"):
                session.replies[f"{route} {form}"] = client.post(
                    route, json=body, headers={"x-request-id": f"{form}-{route[1:]}"}
                )
        csv = pd.DataFrame(ROWS, columns=FEATURES).to_csv(index=False)
        session.replies["csv"] = client.post(
            "/invocations", content=csv, headers={"content-type": "text/csv",
                                                  "x-request-id": "csv"},
        )
        parquet = io.BytesIO()
        pd.DataFrame(ROWS, columns=FEATURES).to_parquet(parquet)
        session.replies["parquet"] = client.post(
            "/invocations", content=parquet.getvalue(),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        session.replies["missing"] = client.post(
            "/score", json={"dataframe_records": [{"age": 30.0, "incme": 1.0}]},
            headers={"x-request-id": "missing"},
        )
        session.replies["wrong type"] = client.post(
            "/score", json={"dataframe_split": {"columns": FEATURES, "data": [["old", 1.0]]}},
            headers={"x-request-id": "wrong-type"},
        )
        session.replies["no format"] = client.post("/score", json={"data": ROWS})
        session.replies["xml"] = client.post(
            "/invocations", content=b"<rows/>", headers={"content-type": "application/xml"}
        )
        session.replies["metrics"] = client.get("/metrics")
        session.replies["swagger"] = client.get("/swagger.json")
    session.exit_code = server.process.returncode
    return session


def test_every_mlflow_format_is_scored(collected: Session, model_dir: Path) -> None:
    """Each JSON format, CSV and Parquet, on both routes, answers MLflow's predictions."""
    expected = _expected(model_dir, ROWS)
    assert len(set(expected)) == 2  # the rows are on both sides of the boundary
    scored = [k for k in collected.replies if k.startswith("/") or k in ("csv", "parquet")]
    assert len(scored) == 10
    for key in scored:
        reply = collected.replies[key]
        assert reply.status_code == 200, (key, reply.text)
        assert reply.headers["content-type"] == "application/json"
        assert reply.json() == {"predictions": expected}, key


def test_signature_mismatch_is_400_naming_the_column(collected: Session) -> None:
    """A missing column and an unconvertible value answer 400 in MLflow's error shape."""
    missing = collected.replies["missing"]
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "BAD_REQUEST"
    assert "'income'" in missing.json()["message"]
    assert "incme" in missing.json()["message"]
    wrong = collected.replies["wrong type"]
    assert wrong.status_code == 400
    assert "age" in wrong.json()["message"]
    assert "Traceback" not in wrong.text


def test_bad_requests_say_what_is_expected(collected: Session) -> None:
    """No known format is 400 listing the formats; an unknown content type is 415."""
    no_format = collected.replies["no format"]
    assert no_format.status_code == 400
    assert "dataframe_split" in no_format.json()["message"]
    assert collected.replies["xml"].status_code == 415
    assert "text/csv" in collected.replies["xml"].text


def test_invocations_route_is_measured(collected: Session) -> None:
    """/metrics counts /invocations under its own route label."""
    text = collected.replies["metrics"].text
    assert 'route="/invocations",status="200"' in text
    assert 'route="/score",status="400"' in text


def test_swagger_is_made_from_the_signature(collected: Session) -> None:
    """/swagger.json describes both routes and the signature's columns and types."""
    document = collected.replies["swagger"].json()
    assert set(document["paths"]) >= {"/score", "/invocations"}
    records = document["definitions"]["ServiceInput"]["properties"]["dataframe_records"]
    assert records["items"]["properties"] == {"age": {"type": "number"},
                                              "income": {"type": "number"}}
    assert records["items"]["required"] == FEATURES


def test_inputs_and_outputs_are_collected_and_correlated(
    collected: Session, model_dir: Path
) -> None:
    """model_inputs/model_outputs hold each scored request's rows under its x-request-id."""
    assert collected.exit_code == 0
    inputs = modeltap.read("local-default-model_inputs", destination=str(collected.data_dir))
    outputs = modeltap.read("local-default-model_outputs", destination=str(collected.data_dir))
    ids = {f"{form}-{route}" for form in BODIES for route in ("score", "invocations")} | {"csv"}
    assert ids <= set(inputs["correlationid"])
    assert len(inputs) == len(outputs) == 10 * len(ROWS)  # 4 formats x 2 routes, CSV, Parquet
    assert not {"missing", "wrong-type"} & set(inputs["correlationid"])
    joined = modeltap.join(inputs, outputs)
    assert len(joined) == len(inputs)
    expected = _expected(model_dir, ROWS)
    for _, group in joined.groupby("correlationid"):
        ordered = group.sort_values("row_index")
        assert ordered[FEATURES].to_numpy().tolist() == ROWS
        assert ordered["prediction"].tolist() == expected
    assert (inputs["xrequestid"] == inputs["correlationid"]).all()


def test_collections_are_registered_as_data_assets(collected: Session) -> None:
    """The catalog lists {endpoint}-{deployment}-model_inputs and -model_outputs only."""
    names = sorted(a.name for a in list_assets(str(collected.data_dir)))
    assert names == ["local-default-model_inputs", "local-default-model_outputs"]


def test_yaml_model_type_mlflow_with_payloads(model_dir: Path, server_dir: Path) -> None:
    """model: + model_type: mlflow and four collections: one request id across all of them."""
    deployment = write_deployment(
        server_dir,
        endpoint_name="credit",
        name="blue",
        model=str(model_dir),
        model_type="mlflow",
        data_collector={"collections": {
            name: {"enabled": "True"}
            for name in ("model_inputs", "model_outputs", "request", "response")
        }},
    )
    with running(server_dir, "serve", "-f", str(deployment)) as server, \
            server.client() as client:
        reply = client.post("/score", json=BODIES["dataframe_split"],
                            headers={"x-request-id": "yaml-1"})
        assert reply.status_code == 200
    assert server.process.returncode == 0
    data = str(server.data_dir)
    for collection, rows in (("model_inputs", 3), ("model_outputs", 3), ("request", 1),
                             ("response", 1)):
        frame = modeltap.read(f"credit-blue-{collection}", destination=data)
        assert frame["correlationid"].tolist() == ["yaml-1"] * rows, collection
    request = modeltap.read("credit-blue-request", destination=data)
    assert request["data"][0] == BODIES["dataframe_split"]


def test_without_collect_nothing_is_stored(model_dir: Path, server_dir: Path) -> None:
    """--mlflow-model alone scores but collects nothing: --collect is the switch."""
    with running(server_dir, "serve", "--mlflow-model", str(model_dir)) as server, \
            server.client() as client:
        assert client.post("/invocations", json=BODIES["inputs"]).status_code == 200
    assert server.process.returncode == 0
    assert not list(server.data_dir.rglob("*.jsonl"))


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


def test_module_is_a_scoring_script_in_process(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init()/run() of the built-in module score a JSON body and collect under the context."""
    from modeltap.context import BasicCorrelationContext, reset_current_context, set_current_context
    from modeltap.server import mlflow_model

    data = tmp_path / "data"
    modeltap.configure({"data_collector": {
        "destination": str(data), "fsync": "never",
        "collections": {"model_inputs": {"enabled": True}, "model_outputs": {"enabled": True}},
    }})
    monkeypatch.setenv("MODELTAP_MODEL_DIR", str(model_dir))
    mlflow_model.init()
    token = set_current_context(BasicCorrelationContext(id="in-process"))
    try:
        answer = mlflow_model.run(
            '{"dataframe_records": [{"age": 25.0, "income": 20.0}, {"age": 65, "income": 80}]}'
        )
        refused = mlflow_model.run('{"dataframe_records": [{"age": 25.0}]}')
    finally:
        reset_current_context(token)
    assert answer == {"predictions": _expected(model_dir, ROWS[:2])}
    assert refused.status_code == 400
    assert modeltap.flush(30)
    outputs = modeltap.read("local-default-model_outputs", destination=str(data))
    assert outputs["correlationid"].tolist() == ["in-process", "in-process"]
    assert outputs["prediction"].tolist() == answer["predictions"]


def test_model_without_signature_takes_tensors(tmp_path: Path) -> None:
    """No signature: instances are arrays, a model failure is a 400, rows are still paired."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import LinearRegression

    from modeltap.server.mlflow_model import MlflowModel

    features = np.random.default_rng(1).normal(size=(50, 2))
    folder = tmp_path / "model"
    mlflow_sklearn.save_model(
        LinearRegression().fit(features, features @ [1.0, 2.0]), str(folder),
        serialization_format="cloudpickle", pip_requirements=["scikit-learn"],
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


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """make demo's script serves the MLflow example, and finds every request's records."""
    pytest.importorskip("mlflow")
    import subprocess

    demo = Path(__file__).resolve().parents[2] / "examples" / "server" / "demo.py"
    result = subprocess.run(
        [sys.executable, str(demo), "--requests", "40"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its work folder lands in tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.glob("modeltap-demo-*/data/credit-endpoint/blue/model_inputs"))
    assert "every request's records are there" in result.stdout
    assert "credit-endpoint-blue-model_outputs" in result.stdout
    assert "40 x 200, 1 x 400" in result.stdout
