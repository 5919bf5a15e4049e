"""A tiny scikit-learn model saved with MLflow once per module, and the payloads it is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

FEATURES = ["age", "income"]
ROWS = [[25.0, 20.0], [65.0, 80.0], [40.0, 55.5]]
BODIES: dict[str, dict[str, Any]] = {
    "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": ROWS}},
    "dataframe_records": {"dataframe_records": [dict(zip(FEATURES, r, strict=True))
                                                for r in ROWS]},
    "instances": {"instances": [dict(zip(FEATURES, r, strict=True)) for r in ROWS]},
    "inputs": {"inputs": {name: [r[i] for r in ROWS] for i, name in enumerate(FEATURES)}},
}


def training_frame() -> tuple[pd.DataFrame, pd.Series]:
    """(age, income) and a label on both sides of a linear boundary."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.uniform(20, 70, 200), "income": rng.uniform(10, 90, 200)})
    return frame, (frame["age"] + frame["income"] > 90).astype(int)


def expected_predictions(model_dir: Path, rows: list[list[float]]) -> list[int]:
    """What MLflow's own pyfunc loader predicts for ``rows``."""
    import mlflow.pyfunc

    frame = pd.DataFrame(rows, columns=FEATURES)
    return [int(v) for v in mlflow.pyfunc.load_model(str(model_dir)).predict(frame)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic regression on (age, income), saved in MLflow's default format with a
    signature."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame, labels = training_frame()
    model = LogisticRegression().fit(frame, labels)
    folder = tmp_path_factory.mktemp("mlflow") / "model"
    mlflow_sklearn.save_model(
        model,
        str(folder),
        signature=infer_signature(frame, model.predict(frame)),
        pip_requirements=["scikit-learn", "skops"],  # no dependency inference: faster
    )
    return folder
