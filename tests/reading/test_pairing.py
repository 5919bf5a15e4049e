"""join(): inputs and outputs of the same request and row side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import modeltap
from modeltap.errors import InvalidDataError
from tests.conftest import ConfigureTap


def test_join_inputs_and_outputs(configure_tap: ConfigureTap, data_dir: Path) -> None:
    """join() lines up inputs and outputs of the same request and row, with the key column."""
    configure_tap()
    inputs = modeltap.Collector(name="model_inputs")
    outputs = modeltap.Collector(name="model_outputs")
    for i in range(3):
        context = inputs.collect(pd.DataFrame({"x": [i, i + 100]}))
        outputs.collect(pd.DataFrame({"y": [i * 2, i * 2 + 1]}), context)
    assert modeltap.flush(timeout=30)
    joined = modeltap.join(
        data_dir / "ep" / "dep" / "model_inputs", data_dir / "ep" / "dep" / "model_outputs"
    )
    assert len(joined) == 6
    assert joined.columns[0] == "correlationid_row_index"
    expected = joined["correlationid"] + "_" + joined["row_index"].astype(str)
    assert joined["correlationid_row_index"].tolist() == expected.tolist()
    for row in joined.itertuples():
        base = row.x if row.x < 100 else row.x - 100
        assert row.y == base * 2 + (row.row_index)


def test_join_names_missing_key_columns() -> None:
    """Frames without the join keys are refused, naming the side and the columns."""
    keyed = pd.DataFrame({"correlationid": ["a"], "row_index": [0]})
    with pytest.raises(InvalidDataError, match=r"outputs lack the column\(s\) \['row_index'\]"):
        modeltap.join(keyed, pd.DataFrame({"correlationid": ["a"]}))
    with pytest.raises(InvalidDataError, match="how='cross' is not a join: use one of inner"):
        modeltap.join(keyed, keyed, how="cross")
