"""Column names and types of a snapshot, cheaply, for the catalog's 'columns seen so far'.

Types are written as Arrow type names (``int64``, ``double``, ``string``, ``bool``,
``timestamp[ns]`` ...) whatever the frame library, so that manifests compare across writers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

__all__ = ["snapshot_columns"]

_JSON_TYPES: dict[type, str] = {
    bool: "bool",
    int: "int64",
    float: "double",
    str: "string",
    list: "list",
    dict: "struct",
    type(None): "null",
}
_SAMPLE_ROWS = 64
_MAX_ROWS_BYTES = 1 << 20


def _numpy_type(dtype: Any) -> str:
    try:
        import pyarrow as pa

        return str(pa.from_numpy_dtype(dtype))
    except Exception:
        return str(dtype)


def _pandas_columns(frame: Any) -> dict[str, str]:
    columns: dict[str, str] = {}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            column = frame[name]
            first = column.iloc[0] if len(column) else None
            kind = _JSON_TYPES.get(type(first), "string" if isinstance(first, str) else "object")
            columns[str(name)] = kind
        elif isinstance(dtype, np.dtype):
            columns[str(name)] = _numpy_type(dtype)
        else:
            text = str(dtype).lower()
            columns[str(name)] = {"str": "string", "float64": "double", "boolean": "bool"}.get(
                text, text
            )
    return columns


def _polars_type(dtype: Any) -> str:
    text = str(dtype)
    simple = {
        "Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
        "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64",
        "Float32": "float", "Float64": "double", "Boolean": "bool", "String": "string",
        "Utf8": "string", "Date": "date32[day]", "Null": "null",
    }  # fmt: skip
    return simple.get(text, text.lower())


def _rows_columns(encoded: bytes) -> dict[str, str]:
    if len(encoded) > _MAX_ROWS_BYTES:
        # big lists: look at the first rows only (their encoding starts the array)
        cut = encoded.find(b"},{", 0, _MAX_ROWS_BYTES)
        encoded = encoded[: cut + 1] + b"]" if cut > 0 else b"[]"
    try:
        rows = orjson.loads(encoded)
    except orjson.JSONDecodeError:
        return {}
    columns: dict[str, str] = {}
    for row in rows[:_SAMPLE_ROWS] if isinstance(rows, list) else ():
        if isinstance(row, dict):
            for key, value in row.items():
                kind = _JSON_TYPES.get(type(value), "object")
                if key not in columns or columns[key] == "null":
                    columns[key] = kind
    return columns


def _column_type(values: Any) -> str:
    if isinstance(values, np.ndarray):
        if values.dtype == object:
            return _JSON_TYPES.get(type(values[0]), "object") if len(values) else "null"
        return _numpy_type(values.dtype)
    if isinstance(values, list):
        first = next((v for v in values if v is not None), None)
        return _JSON_TYPES.get(type(first), "object")
    dtype = getattr(values, "dtype", None) or getattr(values, "type", None)
    if dtype is not None and type(dtype).__module__.startswith("polars"):
        return _polars_type(dtype)
    return str(dtype) if dtype is not None else "object"


def snapshot_columns(snapshot: Any) -> dict[str, str]:
    """Column name -> type of a snapshot taken by collect(); empty when unknown. Never raises."""
    try:
        kind = type(snapshot).__name__
        if kind == "PandasSnapshot":
            return _pandas_columns(snapshot.frame)
        if kind == "ArrowSnapshot":
            return {f.name: str(f.type) for f in snapshot.table.schema}
        if kind == "PolarsSnapshot":
            return {str(k): _polars_type(v) for k, v in snapshot.frame.schema.items()}
        if kind == "RowsSnapshot":
            return _rows_columns(snapshot.encoded)
        if kind == "ColumnsSnapshot":
            return {str(k): _column_type(v) for k, v in snapshot.columns.items()}
        if kind == "PayloadSnapshot":
            return {"data": "json"}
        return {}  # never encode here: other snapshots may have side effects when encoded
    except Exception:
        return {}
