"""The platform how-to's scoring script runs unchanged but for its import, and both of its
collections land on disk, correlated."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

import modeltap
from tests.conftest import EXAMPLES, load_script


def _records(root: Path, collection: str) -> list[dict[str, object]]:
    """Every committed record of one collection."""
    return [
        orjson.loads(line)
        for path in sorted(root.rglob("*.jsonl"))
        if collection in path.parts
        for line in path.read_bytes().splitlines()
    ]


def test_how_to_scoring_script_captures_inputs_and_outputs(tmp_path: Path) -> None:
    """Inputs and outputs of every request are committed once, joined by correlation id."""
    settings = modeltap.configure(
        {
            "endpoint_name": "credit",
            "name": "blue",
            "data_collector": {
                "collections": {
                    "model_inputs": {"enabled": "True"},
                    "model_outputs": {"enabled": "True"},
                },
                "destination": str(tmp_path),
            },
        }
    )
    script = load_script(EXAMPLES / "score.py")
    script.init()
    bodies = [{"data": {"a": [i, i + 1], "b": [0.5 * i, 1.5], "c": ["x", "y"]}} for i in range(50)]
    try:
        answers = [script.run(json.dumps(body)) for body in bodies]
        assert modeltap.flush(timeout=30)
    finally:
        modeltap.shutdown()

    base = tmp_path / "credit" / "blue"
    assert settings.endpoint == "credit"
    inputs = _records(base, "model_inputs")
    outputs = {str(r["correlationid"]): r for r in _records(base, "model_outputs")}
    assert len(inputs) == len(bodies) == len(outputs)
    sent = {json.dumps(pd.DataFrame(b["data"]).to_dict("records")) for b in bodies}
    got = {json.dumps(r["data"]) for r in inputs}
    assert got == sent
    predictions = {json.dumps(a["prediction"]) for a in answers}
    for record in inputs:
        output = outputs[str(record["correlationid"])]
        assert record["xrequestid"] == record["correlationid"]
        assert output["type"] == "modeltap.inference.model_outputs"
        rows = output["data"]
        assert isinstance(rows, list)
        by_index = {str(i): row["prediction"] for i, row in enumerate(rows)}
        assert json.dumps(by_index) in predictions
    stats = modeltap.stats()
    assert stats.collections["model_inputs"].events_written == len(bodies)
    assert stats.dropped_total == 0


def test_works_out_of_the_box_with_no_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any configuration everything is enabled under local/default in ./modeltap-data."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELTAP_DEPLOYMENT", raising=False)
    monkeypatch.delenv("MODELTAP_DATA_DIR", raising=False)
    modeltap.configure(None)
    try:
        modeltap.Collector(name="anything").collect(pd.DataFrame({"v": [1]}))
        assert modeltap.flush(timeout=30)
    finally:
        modeltap.shutdown()
    files = list((tmp_path / "modeltap-data" / "local" / "default" / "anything").rglob("*.jsonl"))
    assert len(files) == 1
    assert orjson.loads(files[0].read_bytes())["data"] == [{"v": 1}]
