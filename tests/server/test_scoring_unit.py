"""The scoring-script loader and the encoding of run() results, in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.responses import Response

from modeltap.server.scoring import ScoringScript, ScoringScriptError, encode_result


def test_results_are_json_encoded() -> None:
    """str, dicts with int keys, numpy values and frames become JSON like the platform's."""
    assert encode_result("hi") == b'"hi"'
    assert json.loads(encode_result({0: np.float64(1.5), "n": np.int64(2)})) == {"0": 1.5, "n": 2}
    frame = pd.DataFrame({"a": [1, 2]})
    assert json.loads(encode_result({"rows": frame})) == {"rows": [{"a": 1}, {"a": 2}]}
    assert json.loads(encode_result(np.array([1, 2]))) == [1, 2]


def test_response_objects_pass_through() -> None:
    """A Starlette Response is returned as is; a werkzeug-like one is converted."""
    response = Response(b"x", status_code=202)
    assert encode_result(response) is response

    class FlaskLike:
        status_code = 418
        mimetype = "text/plain"

        def __init__(self) -> None:
            self.headers = {"x-tea": "pot", "Content-Length": "3"}

        def get_data(self) -> bytes:
            return b"tea"

    converted = encode_result(FlaskLike())
    assert isinstance(converted, Response)
    assert converted.status_code == 418
    assert converted.body == b"tea"
    assert converted.headers["x-tea"] == "pot"


def test_unencodable_result_raises() -> None:
    """A result that is not JSON-serializable raises TypeError (the route answers 500)."""
    with pytest.raises(TypeError):
        encode_result(object())


def test_missing_functions_are_named(tmp_path: Path) -> None:
    """A script with neither init nor run is refused, naming both."""
    script = tmp_path / "empty_score.py"
    script.write_text("x = 1\n")
    with pytest.raises(ScoringScriptError, match=r"does not define init\(\) and run\(\)"):
        ScoringScript.load(script)


def test_import_error_carries_the_script_traceback(tmp_path: Path) -> None:
    """An exception at import time is reported with the script's own frames."""
    script = tmp_path / "broken_score.py"
    script.write_text("def init():\n    pass\n\nraise ValueError('bad module level code')\n")
    with pytest.raises(ScoringScriptError) as caught:
        ScoringScript.load(script)
    message = str(caught.value)
    assert "broken_score.py" in message
    assert "ValueError: bad module level code" in message


def test_script_named_like_a_loaded_module_does_not_shadow_it(tmp_path: Path) -> None:
    """A script called json.py is loaded without replacing the json module."""
    script = tmp_path / "json.py"
    script.write_text("def init():\n    pass\n\ndef run(raw_data):\n    return raw_data\n")
    original = sys.modules["json"]
    loaded = ScoringScript.load(script)
    assert sys.modules["json"] is original
    assert loaded.run("abc", {}) == "abc"


def test_request_headers_are_passed_when_declared(tmp_path: Path) -> None:
    """run(raw_data, request_headers) receives the headers; run(raw_data) does not."""
    script = tmp_path / "headers_score.py"
    script.write_text(
        "def init():\n    pass\n\n"
        "def run(raw_data, request_headers):\n    return request_headers.get('x-a')\n"
    )
    loaded = ScoringScript.load(script)
    assert loaded.wants_headers
    assert loaded.run("", {"x-a": "1"}) == "1"
