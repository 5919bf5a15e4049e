"""What the model took and gave, as DataFrames to collect and as the JSON MLflow answers with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["input_frame", "jsonable", "predictions_frame"]

_PREDICTION = "prediction"


def input_frame(data: Any, names: list[str] | None) -> pd.DataFrame | None:
    """The input as a DataFrame for ``model_inputs`` (None when it has no tabular form)."""
    if isinstance(data, pd.DataFrame):
        return data
    try:
        if isinstance(data, dict):
            columns = {str(k): np.asarray(v) for k, v in data.items()}
            if all(v.ndim == 1 for v in columns.values()):
                return pd.DataFrame(columns)
            return None
        if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
            return pd.DataFrame(data)
        array = np.asarray(data)
    except (ValueError, TypeError):
        return None
    if array.ndim == 0 or array.dtype == object:
        return None
    array = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
    labels = names if names and len(names) == array.shape[1] else [
        str(i) for i in range(array.shape[1])
    ]
    return pd.DataFrame(array, columns=labels)


def predictions_frame(predictions: Any, names: list[str] | None) -> pd.DataFrame | None:
    """The predictions as a DataFrame for ``model_outputs``, one row per input row."""
    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(str(predictions.name or _PREDICTION)).reset_index(drop=True)
    if isinstance(predictions, dict):
        return input_frame(predictions, None)
    try:
        array = np.asarray(predictions)
    except (ValueError, TypeError):
        return None
    if array.ndim == 0 or (array.dtype == object and array.ndim != 1):
        return None
    if array.ndim == 1:
        name = names[0] if names and len(names) == 1 else _PREDICTION
        return pd.DataFrame({name: array})
    return input_frame(array, names)


def jsonable(predictions: Any) -> Any:
    """Predictions in the JSON form MLflow answers with (DataFrames as records)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series | np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, dict):
        return {k: jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, np.generic):
        return predictions.item()
    return predictions
