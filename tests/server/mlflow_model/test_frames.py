"""What is collected (inputs and predictions as DataFrames) and answered (JSON values)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modeltap.server.mlflow_model.frames import input_frame, jsonable, predictions_frame


def test_inputs_become_frames_with_the_signature_names() -> None:
    """Dicts of columns, records and 2-D arrays are frames; ragged or scalar input is not."""
    assert input_frame({"a": [1, 2]}, None)["a"].tolist() == [1, 2]
    assert input_frame([{"a": 1}, {"a": 2}], None)["a"].tolist() == [1, 2]
    named = input_frame([[1, 2], [3, 4]], ["x", "y"])
    assert named is not None and named.columns.tolist() == ["x", "y"]
    unnamed = input_frame([[1, 2]], ["only-one"])
    assert unnamed is not None and unnamed.columns.tolist() == ["0", "1"]
    assert input_frame(5, None) is None
    assert input_frame({"a": [[1], [2]]}, None) is None


def test_predictions_become_one_row_per_input_row() -> None:
    """1-D predictions take the output name (else 'prediction'); Series keep their name."""
    assert predictions_frame(np.array([0, 1]), None).columns.tolist() == ["prediction"]
    assert predictions_frame([0.5], ["score"]).columns.tolist() == ["score"]
    series = predictions_frame(pd.Series([1, 2], name="label", index=[7, 8]), None)
    assert series is not None and series.index.tolist() == [0, 1]
    assert series.columns.tolist() == ["label"]
    assert predictions_frame(np.float64(1.0), None) is None


def test_answers_are_plain_json_values() -> None:
    """Frames answer as records, arrays and numpy scalars as Python values."""
    assert jsonable(pd.DataFrame({"a": [1]})) == [{"a": 1}]
    assert jsonable({"p": np.array([1.5])}) == {"p": [1.5]}
    value = jsonable(np.int64(3))
    assert value == 3 and type(value) is int
