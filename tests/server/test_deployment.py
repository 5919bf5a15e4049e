"""A deployment YAML in the platform's shape: model folder, code, variables, auth_mode key."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import SCRIPTS, running, write_deployment


def test_deployment_yaml_shape(server_dir: Path) -> None:
    """model, code_configuration, environment_variables and auth_mode: key are honoured."""
    model = server_dir / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x00")
    deployment = write_deployment(
        server_dir,
        endpoint_name="credit",
        name="blue",
        model="./model",
        auth_mode="key",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_env.py"},
        environment_variables={"GREETING": "hello"},
    )
    env = {"MODELTAP_AUTH_KEY": "yaml-key"}
    with running(server_dir, "serve", "-f", str(deployment), env=env) as server, \
            server.client() as client:
        refused = client.post("/score", content=b"raw text")
        reply = client.post(
            "/score",
            content=b"raw text",
            headers={"Authorization": "Bearer yaml-key", "x-tenant": "t1"},
        )
    assert refused.status_code == 401
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["azureml_model_dir"] == str(model.resolve())
    assert answer["modeltap_model_dir"] == str(model.resolve())
    assert answer["model_files"] == ["weights.bin"]
    assert answer["greeting"] == "hello"
    assert answer["tenant"] == "t1"
    assert answer["body"] == "raw text"


def test_generated_key_is_written_for_the_operator(server_dir: Path) -> None:
    """auth_mode: key without a key makes one, stores it (mode 0600) and it works."""
    deployment = write_deployment(
        server_dir,
        auth_mode="key",
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
    )
    with running(server_dir, "serve", "-f", str(deployment)) as server, \
            server.client() as client:
        key_file = server.data_dir / ".modeltap" / "endpoint-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text(encoding="utf-8")
        assert client.post("/score", json={"rows": []}).status_code == 401
        ok = client.post("/score", json={"rows": []}, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    assert key not in server.log()
