"""MLflow models served by their built-in scoring script over real HTTP, and the data collected.

One server runs with ``--mlflow-model --collect``, one from a deployment YAML with
``model_type: mlflow`` and all four collections, one without ``--collect``; each gets its
requests, then is stopped (SIGTERM flushes) before the stored data is checked.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

import modeltap
from modeltap.catalog import list_assets
from tests.server.conftest import running, write_deployment
from tests.server.mlflow_model.conftest import BODIES, FEATURES, ROWS, expected_predictions

pytestmark = pytest.mark.slow

@dataclass
class Session:
    """What one server answered, and where it stored its data."""

    data_dir: Path
    exit_code: int
    replies: dict[str, httpx.Response] = field(default_factory=dict)


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
    expected = expected_predictions(model_dir, ROWS)
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
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"  # as MLflow answers
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
    expected = expected_predictions(model_dir, ROWS)
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
    assert answer == {"predictions": expected_predictions(model_dir, ROWS[:2])}
    assert refused.status_code == 400
    assert modeltap.flush(30)
    outputs = modeltap.read("local-default-model_outputs", destination=str(data))
    assert outputs["correlationid"].tolist() == ["in-process", "in-process"]
    assert outputs["prediction"].tolist() == answer["predictions"]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """make demo's script serves the MLflow example, and finds every request's records."""
    pytest.importorskip("mlflow")
    import subprocess

    demo = Path(__file__).resolve().parents[3] / "examples" / "server" / "demo.py"
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
