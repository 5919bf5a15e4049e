"""MLflow's scoring-server routes and error bodies, compared with MLflow's own server.

The same requests go to ``modeltap serve --mlflow-model`` over HTTP on loopback and to the app
of ``mlflow.pyfunc.scoring_server.init`` (MLflow's own scoring server, called in-process through
Starlette's test client); the answers must agree on the status, the media type and, for JSON
error bodies, ``error_code``, ``error_class`` and ``sqlstate``. modeltap's messages are its own
(they name the column and never carry a traceback).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.server.conftest import running
from tests.server.mlflow_model.conftest import FEATURES, ROWS

pytestmark = pytest.mark.slow

JSON = "application/json"


@dataclass(frozen=True)
class Case:
    """One request sent to both servers."""

    method: str
    path: str
    body: bytes = b""
    content_type: str | None = JSON


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


CASES: dict[str, Case] = {
    "ping": Case("GET", "/ping", content_type=None),
    "health": Case("GET", "/health", content_type=None),
    "version": Case("GET", "/version", content_type=None),
    "invalid JSON": Case("POST", "/invocations", b"{nope"),
    "empty body": Case("POST", "/invocations", b""),
    "JSON list": Case("POST", "/invocations", b"[1, 2]"),
    "JSON number": Case("POST", "/invocations", b"3"),
    "not UTF-8": Case("POST", "/invocations", b'{"inputs": "\xff\xfe"}'),
    "no input format": Case("POST", "/invocations", b'{"data": [[1, 2]]}'),
    "two input formats": Case("POST", "/invocations",
                              b'{"inputs": [[1, 2]], "instances": [[1, 2]]}'),
    "missing column": Case("POST", "/invocations", b'{"dataframe_records": [{"age": 1.0}]}'),
    "unconvertible value": Case(
        "POST", "/invocations",
        b'{"dataframe_split": {"columns": ["age", "income"], "data": [["old", 1.0]]}}',
    ),
    "split not an object": Case("POST", "/invocations", b'{"dataframe_split": [1, 2]}'),
    "records not a list": Case("POST", "/invocations", b'{"dataframe_records": 5}'),
    "params not an object": Case(
        "POST", "/invocations",
        b'{"dataframe_records": [{"age": 1.0, "income": 2.0}], "params": [1]}',
    ),
    "unknown content type": Case("POST", "/invocations", b"<rows/>", "application/xml"),
    "charset not UTF-8": Case("POST", "/invocations", b"{}", "application/json; charset=latin-1"),
    "unknown content type parameter": Case("POST", "/invocations", b"{}",
                                           "application/json; foo=bar"),
    "malformed CSV": Case("POST", "/invocations", b'age,income\n1,2,3,4\n"x', "text/csv"),
    "CSV value of the wrong type": Case("POST", "/invocations", b"age,income\nold,1\n",
                                        "text/csv"),
    "CSV missing column": Case("POST", "/invocations", b"age\n1\n", "text/csv"),
    "CSV not UTF-8": Case("POST", "/invocations", b"age,income\n\xff,1\n", "text/csv"),
    "malformed Parquet": Case("POST", "/invocations", b"PAR1nope",
                              "application/vnd.apache.parquet"),
    "Parquet missing column": Case(
        "POST", "/invocations", _parquet(pd.DataFrame({"age": [1.0]})),
        "application/vnd.apache.parquet",
    ),
    "scored": Case("POST", "/invocations", pd.DataFrame(ROWS, columns=FEATURES).to_json(
        orient="split", index=False).replace('{"columns"', '{"dataframe_split": {"columns"', 1)
        .encode() + b"}"),
}


@pytest.fixture(scope="module")
def mlflow_answers(model_dir: Path) -> dict[str, httpx.Response]:
    """What MLflow's own scoring server answers to each case."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    pytest.importorskip("fastapi")  # MLflow's scoring server is a FastAPI app
    from starlette.testclient import TestClient

    saved = dict(os.environ)
    try:
        app = scoring_server.init(mlflow.pyfunc.load_model(str(model_dir)))
        with TestClient(app) as client:
            return {name: _send(client, case) for name, case in CASES.items()}
    finally:  # init() marks the process as a serving environment
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def modeltap_answers(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, httpx.Response]]:
    """What ``modeltap serve --mlflow-model`` answers to each case, over HTTP."""
    folder = tmp_path_factory.mktemp("routes")
    with running(folder, "serve", "--mlflow-model", str(model_dir)) as server, \
            server.client() as client:
        yield {name: _send(client, case) for name, case in CASES.items()}


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    headers = {"content-type": case.content_type} if case.content_type else {}
    return client.request(case.method, case.path, content=case.body, headers=headers)


def _media(reply: httpx.Response) -> str:
    return reply.headers.get("content-type", "").split(";")[0].strip()


@pytest.mark.parametrize("name", list(CASES))
def test_answers_as_mlflow_does(
    name: str, mlflow_answers: dict[str, httpx.Response],
    modeltap_answers: dict[str, httpx.Response],
) -> None:
    """Same status and media type as MLflow's server; JSON errors with its error_code,
    error_class and sqlstate, a message of modeltap's own and no stack trace."""
    expected, got = mlflow_answers[name], modeltap_answers[name]
    assert (got.status_code, _media(got)) == (expected.status_code, _media(expected)), got.text
    if CASES[name].method == "GET":
        assert got.content == expected.content
        return
    if expected.status_code == 200:
        assert got.json() == expected.json()
        return
    if _media(expected) != JSON:
        assert got.text
        return
    sent, answer = expected.json(), got.json()
    keys = ("error_code", "error_class", "sqlstate")
    assert {k: answer.get(k) for k in keys} == {k: sent.get(k) for k in keys}, answer
    assert answer["message"]
    assert "stack_trace" not in answer
    assert "Traceback" not in got.text


def test_missing_column_is_named(modeltap_answers: dict[str, httpx.Response]) -> None:
    """A missing column answers MLflow's schema-enforcement code with a message naming it."""
    for name in ("missing column", "CSV missing column", "Parquet missing column"):
        answer = modeltap_answers[name].json()
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE", name
        assert "'income'" in answer["message"], name
