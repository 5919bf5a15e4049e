"""GET /swagger.json: from inference_schema decorators, from a swagger.json file, or 404."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

import modeltap
from modeltap.server.app import AppOptions, build_app
from modeltap.server.auth import KeyAuth
from modeltap.server.scoring import ScoringScript

DECORATED = '''
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)


def init():
    pass


@input_schema("data", StandardPythonParameterType({"age": [31], "income": [52.0]}))
@output_schema(StandardPythonParameterType({"prediction": [0.5]}))
def run(data):
    return {"prediction": [0.5 for _ in data["age"]]}
'''

PLAIN = "def init():\n    pass\n\ndef run(raw_data):\n    return raw_data\n"


def _client(tmp_path: Path, script: Path, auth: KeyAuth | None = None) -> TestClient:
    settings = modeltap.configure(
        {"endpoint_name": "credit", "name": "blue",
         "data_collector": {"destination": str(tmp_path / "data"), "fsync": "never"}}
    )
    loaded = ScoringScript.load(script)
    loaded.init()
    return TestClient(build_app(settings, loaded, AppOptions(auth=auth)))


def test_schema_from_inference_schema_decorators(tmp_path: Path) -> None:
    """A decorated run() yields a Swagger 2.0 document with its input and output schemas."""
    script = tmp_path / "decorated_score.py"
    script.write_text(DECORATED)
    with _client(tmp_path, script, auth=KeyAuth("k")) as client:
        reply = client.get("/swagger.json")
        scored = client.post("/score", json={"data": {"age": [1, 2], "income": [3.0, 4.0]}},
                             headers={"Authorization": "Bearer k"})
    assert reply.status_code == 200
    document = reply.json()
    assert document["swagger"] == "2.0"
    assert document["info"]["title"] == "credit/blue"
    service_input = document["definitions"]["ServiceInput"]
    assert service_input["type"] == "object"
    assert "data" in service_input["properties"]
    assert "/score" in document["paths"]
    assert document["paths"]["/score"]["post"]["security"] == [{"Bearer": []}]
    assert scored.json() == {"prediction": [0.5, 0.5]}


def test_swagger_file_beside_the_script_is_served(tmp_path: Path) -> None:
    """A swagger.json in the script's folder is served as it is."""
    script = tmp_path / "plain_score.py"
    script.write_text(PLAIN)
    own = {"swagger": "2.0", "info": {"title": "mine", "version": "7"}, "paths": {}}
    (tmp_path / "swagger.json").write_text(json.dumps(own))
    with _client(tmp_path, script) as client:
        assert client.get("/swagger.json").json() == own


def test_no_schema_is_404_with_reason(tmp_path: Path) -> None:
    """A script without any schema answers 404 saying how to declare one."""
    script = tmp_path / "plain_score.py"
    script.write_text(PLAIN)
    with _client(tmp_path, script) as client:
        reply = client.get("/swagger.json")
    assert reply.status_code == 404
    assert "@input_schema" in reply.text


def test_decorated_run_rejects_bodies_that_do_not_fit(tmp_path: Path) -> None:
    """With a schema, a non-JSON content type is 415, a missing parameter or non-object 400."""
    script = tmp_path / "decorated_score.py"
    script.write_text(DECORATED)
    with _client(tmp_path, script) as client:
        text = client.post("/score", content=b"age=1", headers={"content-type": "text/plain"})
        missing = client.post("/score", json={"other": 1})
        array = client.post("/score", json=[1, 2])
        broken = client.post("/score", content=b"{", headers={"content-type": "application/json"})
    assert text.status_code == 415
    assert missing.status_code == 400 and "'data'" in missing.text
    assert array.status_code == 400
    assert broken.status_code == 400 and "not valid JSON" in broken.text
