"""Train the example credit model and save it as an MLflow model (pyfunc, with a signature).

    python examples/mlflow/train.py [FOLDER]      # default: examples/mlflow/model

Needs ``pip install "modeltap[mlflow]"`` (or ``mlflow-skinny scikit-learn skops``). The model
predicts ``1`` (likely to default) or ``0`` from ``age``, ``income`` (k$/year) and
``debt_ratio``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["age", "income", "debt_ratio"]
DEFAULT_FOLDER = Path(__file__).resolve().parent / "model"


def applicants(count: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Loan applicants; ``shift`` > 0 makes them younger, poorer and more indebted."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(45 - 10 * shift, 12, count).clip(18, 90).round(0),
        "income": rng.lognormal(np.log(60 * (1 - 0.35 * shift)), 0.4, count).round(1),
        "debt_ratio": rng.beta(2 + 2 * shift, 5, count).round(3),
    })


def train(folder: Path) -> Path:
    """Fit a logistic regression on synthetic applicants and save it with MLflow."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = applicants(2000, seed=1)
    risk = 2.5 * frame["debt_ratio"] - frame["income"] / 60 - (frame["age"] - 45) / 40
    labels = (risk + np.random.default_rng(2).normal(0, 0.3, len(frame)) > -0.2).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)
    if folder.exists():
        shutil.rmtree(folder)
    mlflow.sklearn.save_model(  # MLflow's default format: skops in MLflow 3
        model,
        str(folder),
        signature=infer_signature(frame, model.predict(frame)),
        pip_requirements=["scikit-learn", "skops"],  # no dependency inference: saves in ~1 s
    )
    return folder


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    print(f"saved the MLflow model in {train(target)}")
