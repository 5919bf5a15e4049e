"""InputParser: MLflow's payload formats read and checked against a signature, in-process."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest

from modeltap.errors import ModelInputError
from modeltap.server.mlflow_model.inputs import InputParser, detail
from tests.server.mlflow_model.conftest import BODIES, FEATURES, ROWS


@pytest.fixture
def parser() -> InputParser:
    """A parser for two required double columns, age and income."""
    pytest.importorskip("mlflow")
    from mlflow.types import ColSpec, Schema

    return InputParser(Schema([ColSpec("double", name) for name in FEATURES]))


def _refusal(parser: InputParser, body: bytes, content_type: str) -> ModelInputError:
    with pytest.raises(ModelInputError) as info:
        parser.parse(body, content_type)
    return info.value


@pytest.mark.parametrize("form", list(BODIES))
def test_every_json_format_reads_the_rows(parser: InputParser, form: str) -> None:
    """Each of the four JSON formats gives the model the three rows, params passed on."""
    import orjson

    document: dict[str, Any] = {**BODIES[form], "params": {"threshold": 0.5}}
    data, params = parser.parse(orjson.dumps(document), "application/json; charset=utf-8")
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    assert frame[FEATURES].to_numpy().tolist() == ROWS
    assert params == {"threshold": 0.5}


def test_csv_and_parquet_read_as_frames(parser: InputParser) -> None:
    """CSV takes the signature's types; Parquet is read as it is."""
    frame = pd.DataFrame(ROWS, columns=FEATURES)
    data, params = parser.parse(b"age,income\n25,20\n", "text/csv")
    assert data.dtypes.tolist() == ["float64", "float64"] and params is None
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    data, _ = parser.parse(buffer.getvalue(), "application/vnd.apache.parquet")
    assert data.to_numpy().tolist() == ROWS


def test_missing_columns_are_named_with_mlflows_schema_codes(parser: InputParser) -> None:
    """A missing column is refused before the model as MLflow's schema enforcement refuses it."""
    refused = _refusal(parser, b'{"dataframe_records": [{"age": 1, "incme": 2}]}',
                       "application/json")
    assert (refused.status, refused.code, refused.error_class) == (
        400, "INVALID_PARAMETER_VALUE", "SCHEMA_ENFORCEMENT_FAILED")
    assert "'income'" in refused.message and "incme" in refused.message


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"", "application/json", 400, "the body is empty"),
        (b"[1]", "application/json", 400, "got a JSON list"),
        (b'{"data": 1}', "application/json", 400, "got the fields ['data']"),
        (b'{"inputs": 1, "instances": 1}', "application/json", 400, "exactly one input format"),
        (b"{}", "application/json; charset=latin-1", 415, "only supports UTF-8"),
        (b"{}", "application/json; boundary=x", 415, "parameter: boundary"),
        (b"<a/>", "application/xml", 415, "text/csv"),
        (b"PAR1", "application/vnd.apache.parquet", 400, "from Parquet"),
    ],
)
def test_bad_bodies_say_what_is_expected(
    parser: InputParser, body: bytes, content_type: str, status: int, words: str
) -> None:
    """Each malformed body is refused with MLflow's status and a message that says why."""
    refused = _refusal(parser, body, content_type)
    assert refused.status == status
    assert refused.code == "BAD_REQUEST"
    assert words in refused.message


def test_unconvertible_value_keeps_mlflows_classification(parser: InputParser) -> None:
    """A value MLflow cannot convert is refused with the code MLflow gave it."""
    refused = _refusal(
        parser, b'{"dataframe_split": {"columns": ["age", "income"], "data": [["old", 1]]}}',
        "application/json",
    )
    assert (refused.status, refused.code) == (400, "BAD_REQUEST")
    assert "age" in refused.message and str(parser.schema) in refused.message


def test_detail_drops_the_echo_of_the_input() -> None:
    """MLflow's schema message loses the echoed input, other messages are kept."""
    message = "Failed to enforce schema of data 'huge frame' with schema 'x'. Error: bad column"
    assert detail(message) == "bad column"
    assert detail("something else. Error: kept") == "something else. Error: kept"
