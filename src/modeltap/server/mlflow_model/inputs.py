"""MLflow's scoring payloads read into what the model takes, checked against its signature.

JSON bodies in the ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``
format (with optional ``params``), CSV and Parquet bodies, as MLflow's own scoring server reads
them. What does not fit raises ModelInputError with the status and error code MLflow's server
answers the same payload with, and a message that names what was wrong.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pandas as pd

from modeltap.errors import ModelInputError

__all__ = ["CONTENT_TYPES", "FORMATS", "JSON", "InputParser", "detail", "refusal"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
_CSV = "text/csv"
_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, _CSV, _PARQUET)


def refusal(exc: Any, message: str) -> ModelInputError:
    """A refusal of ``message`` classified as mlflow classified ``exc`` (an MlflowException)."""
    return ModelInputError(
        message, status=int(exc.get_http_status_code()), code=str(exc.error_code),
        error_class=getattr(exc, "error_class", None),  # MLflow 3 classifies errors further
    )


def detail(message: str) -> str:
    """MLflow's schema message without the echo of the whole input (``... Error: <detail>``)."""
    head, sep, tail = message.partition(". Error: ")
    text = tail if sep and head.startswith("Failed to enforce schema") else message
    return text.strip()


class InputParser:
    """Reads request bodies for a model with this input schema (None: no signature)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.names: list[str] | None = None
        self.required: list[str] = []
        if schema is not None and schema.has_input_names():
            self.names = [str(n) for n in schema.input_names()]
            if not schema.is_tensor_spec():
                self.required = [str(n) for n in schema.required_input_names()]

    def parse(self, body: bytes, content_type: str) -> tuple[Any, dict[str, Any] | None]:
        """The model's input and params from a request body; ModelInputError when it does
        not fit."""
        media, _, parameters = content_type.partition(";")
        media = media.strip().lower() or JSON
        for pair in filter(None, (p.strip() for p in parameters.split(";"))):
            key, _, value = pair.partition("=")
            if key.strip().lower() != "charset":
                raise ModelInputError(
                    f"Unrecognized content type parameter: {key.strip()}", status=415
                )
            if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                raise ModelInputError("The scoring server only supports UTF-8", status=415)
        if media == JSON or media.endswith("+json"):
            return self._parse_json(body)
        if media == _CSV:
            return self._parse_table(body, csv=True), None
        if media == _PARQUET:
            return self._parse_table(body, csv=False), None
        raise ModelInputError(
            f"This predictor only supports the following content types: "
            f"{', '.join(CONTENT_TYPES)}. Got '{content_type}'.",
            status=415,
        )

    def signature_message(self, text: str) -> str:
        """``text`` (an MLflow schema message) prefixed with the signature it refers to."""
        if self.schema is None:
            return text
        return f"input does not match the model signature ({self.schema}): {text}"

    def _parse_json(self, body: bytes) -> tuple[Any, dict[str, Any] | None]:
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc.scoring_server import infer_and_parse_data

        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            reason = "the body is empty" if not body else f"the body is not valid JSON ({exc})"
            raise ModelInputError(f"{reason}; {_expected()}") from None
        if not isinstance(document, dict):
            raise ModelInputError(f"got a JSON {type(document).__name__}; {_expected()}")
        keys = [k for k in document if k in FORMATS]
        if len(keys) != 1:
            raise ModelInputError(
                f"{_expected()}; got the fields {sorted(document)}"
                if not keys else f"give exactly one input format, got {keys}"
            )
        # passed on as sent: the model checks params against its schema, as MLflow does
        params = document.get("params")
        self._check_columns(keys[0], document[keys[0]])
        try:
            data = infer_and_parse_data({keys[0]: document[keys[0]]}, self.schema)
        except MlflowException as exc:
            raise refusal(exc, self.signature_message(detail(exc.message))) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelInputError(
                f"cannot read the {keys[0]!r} input: {type(exc).__name__}: {exc}"
            ) from None
        return data, params

    def _parse_table(self, body: bytes, *, csv: bool) -> pd.DataFrame:
        try:
            if csv:
                dtypes = None
                if self.schema is not None and not self.schema.is_tensor_spec():
                    dtypes = dict(
                        zip(self.schema.input_names(), self.schema.pandas_types(), strict=False)
                    )
                frame = pd.read_csv(io.BytesIO(body), dtype=dtypes)
            else:
                frame = pd.read_parquet(io.BytesIO(body))
        except Exception as exc:
            kind = "CSV" if csv else "Parquet"
            raise ModelInputError(
                f"Failed to parse input as a Pandas DataFrame from {kind}: {exc}"
            ) from None
        self._check_columns("dataframe_split", {"columns": list(frame.columns)})
        return frame

    def _check_columns(self, form: str, value: Any) -> None:
        """Missing required columns, named, before MLflow sees the data."""
        if not self.required:
            return
        present: set[str] | None = None
        if form == "dataframe_split" and isinstance(value, dict):
            columns = value.get("columns")
            if isinstance(columns, list):
                present = {str(c) for c in columns}
        elif isinstance(value, dict):
            present = {str(c) for c in value}
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            present = set().union(*({str(c) for c in row} for row in value))
        if present is None:
            return
        missing = [name for name in self.required if name not in present]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            noun = "column" if len(missing) == 1 else "columns"
            extra = sorted(present - set(self.names or []))
            hint = f"; got unexpected {extra}" if extra else ""
            raise ModelInputError(  # MLflow's schema enforcement refuses it with these codes
                f"missing required {noun} {names}: the model signature expects "
                f"{self.schema}{hint}",
                code="INVALID_PARAMETER_VALUE", error_class="SCHEMA_ENFORCEMENT_FAILED",
            )


def _expected() -> str:
    return (
        "expecting a JSON object with one of "
        f"{', '.join(repr(f) for f in FORMATS)} (and optionally 'params')"
    )
