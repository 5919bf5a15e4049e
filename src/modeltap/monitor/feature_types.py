"""Feature typing (numerical or categorical) from the reference, and schema changes.

1. ``feature_type_override`` wins (numerical if a feature is listed under both).
2. string, boolean, timestamp, date, binary: categorical.
3. float, double, decimal: numerical (the platform skips ``decimal(p, s)``; modeltap does not).
4. integers: categorical when ``distinct / rows < 0.05`` (rows with nulls, null counted as one
   more distinct value), else numerical.
5. anything else (lists, structs): not monitored, and said so.

Production is compared with the reference type: integers and floats are compatible (compared as
numerical, recorded as ``retyped``); any other difference is ``retyped`` and the feature is not
compared. A column with no value at all (Arrow type ``null``) has no type and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from modeltap.monitor.aggregates import ColumnCounts

__all__ = [
    "CATEGORICAL_INT_RATIO",
    "SchemaChanges",
    "compatible",
    "feature_type",
    "type_kind",
]

CATEGORICAL_INT_RATIO = 0.05


def type_kind(kind: pa.DataType) -> str:
    """``integer``, ``float``, ``decimal``, ``string``, ``boolean``, ``temporal``, ``binary``,
    ``null`` or ``other``."""
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return "string"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_temporal(kind):
        return "temporal"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "binary"
    if pa.types.is_null(kind):
        return "null"
    return "other"


_NUMBERS = frozenset({"integer", "float", "decimal"})


def feature_type(
    name: str,
    reference: ColumnCounts,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
) -> str | None:
    """``numerical``, ``categorical``, or None (not monitored: lists, structs, no value)."""
    if name in set(numerical):
        return "numerical"
    if name in set(categorical):
        return "categorical"
    kind = type_kind(reference.type)
    if kind in ("string", "boolean", "temporal", "binary"):
        return "categorical"
    if kind in ("float", "decimal"):
        return "numerical"
    if kind == "integer":
        rows = reference.rows
        distinct = reference.distinct + (1 if reference.null_count else 0)
        if rows and distinct / rows < CATEGORICAL_INT_RATIO:
            return "categorical"
        return "numerical"
    return None


def compatible(reference: pa.DataType, production: pa.DataType, data_type: str) -> str:
    """``same``, ``retyped`` (compared anyway: integers vs floats) or ``incompatible``."""
    a, b = type_kind(reference), type_kind(production)
    if a == b or "null" in (a, b):
        return "same"
    if a in _NUMBERS and b in _NUMBERS:
        return "retyped"
    if data_type == "categorical" and a in _NUMBERS | {"string"} and b in _NUMBERS | {"string"}:
        return "retyped"  # compared as text
    return "incompatible"


@dataclass
class SchemaChanges:
    """How production's columns differ from the reference's, for one signal."""

    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    retyped: list[dict[str, str]] = field(default_factory=list)
    unmonitored: list[dict[str, str]] = field(default_factory=list)
    """Features not compared, with the reason (lists, structs, absent from the reference)."""

    @classmethod
    def of_columns(
        cls, reference: Sequence[str], production: Sequence[str], features: Sequence[str]
    ) -> SchemaChanges:
        """Added (in production only) and missing (selected, absent from production)."""
        known = set(reference)
        present = set(production)
        return cls(
            added=[c for c in production if c not in known],
            missing=[f for f in features if f not in present],
        )

    def retype(self, feature: str, reference: pa.DataType, production: pa.DataType) -> None:
        """Record a feature whose production type differs from the reference's."""
        self.retyped.append(
            {
                "feature": feature,
                "reference_type": str(reference),
                "production_type": str(production),
            }
        )

    def to_json(self) -> dict[str, list[object]]:
        """The ``schema_changes`` entry of ``run.json``."""
        out: dict[str, list[object]] = {
            "added": list(self.added),
            "missing": list(self.missing),
            "retyped": list(self.retyped),
        }
        if self.unmonitored:
            out["unmonitored"] = list(self.unmonitored)
        return out
