"""The lossless schema union of one segment's frames.

Schema drift inside a segment is merged only when it loses nothing: new and missing columns
become nulls, integers widen to wider integers, floats to wider floats, integers to float64 only
while every value is exactly representable (|v| <= 2**53), string flavours to large_string.
Anything else makes the writer start a new segment (so a new file).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from modeltap.formats.base import SegmentSchema

__all__ = ["FLOAT_EXACT", "SchemaUnion", "conform", "merge_type", "unify"]

FLOAT_EXACT = 2**53


def _int_width(t: pa.DataType) -> int:
    return int(t.bit_width)


def merge_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both ``a`` and ``b`` convert to without loss, or None."""
    if a.equals(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    ints = pa.types.is_integer
    if ints(a) and ints(b):
        sa, sb = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
        if sa == sb:
            return a if _int_width(a) >= _int_width(b) else b
        unsigned, signed = (b, a) if sa else (a, b)
        width = max(_int_width(signed), _int_width(unsigned) * 2)
        return None if width > 64 else pa.from_numpy_dtype(f"int{width}")
    floats = pa.types.is_floating
    if floats(a) and floats(b):
        return a if _int_width(a) >= _int_width(b) else b
    if (ints(a) and floats(b)) or (floats(a) and ints(b)):
        return pa.float64()  # the caller checks that every integer fits exactly
    strings = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if any(f(a) for f in strings) and any(f(b) for f in strings):
        return pa.large_string()
    binaries = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    if any(f(a) for f in binaries) and any(f(b) for f in binaries):
        return pa.large_binary()
    return None


def _max_abs(column: pa.ChunkedArray | pa.Array) -> int:
    if len(column) == 0 or column.null_count == len(column):
        return 0
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return max(abs(int(low or 0)), abs(int(high or 0)))


class SchemaUnion(SegmentSchema):
    """The merged schema of one segment's tables; refuses a table it cannot merge losslessly."""

    __slots__ = ("_int_max", "schema")

    def __init__(self) -> None:
        self.schema: pa.Schema | None = None
        self._int_max: dict[str, int] = {}

    def accept(self, table: pa.Table) -> bool:
        """Merge ``table``'s schema in; False (state unchanged) when it would lose information."""
        if self.schema is None or self.schema.equals(table.schema):
            self._note_ints(table)
            self.schema = table.schema
            return True
        fields = {f.name: f for f in self.schema}
        merged: list[pa.Field] = list(self.schema)
        index = {f.name: i for i, f in enumerate(merged)}
        int_max = dict(self._int_max)
        for field in table.schema:
            if pa.types.is_integer(field.type):
                int_max[field.name] = max(
                    int_max.get(field.name, 0), _max_abs(table.column(field.name))
                )
            old = fields.get(field.name)
            if old is None:
                index[field.name] = len(merged)
                merged.append(field.with_nullable(True))
                continue
            target = merge_type(old.type, field.type)
            if target is None:
                return False
            if pa.types.is_floating(target) and int_max.get(field.name, 0) > FLOAT_EXACT:
                return False
            merged[index[field.name]] = old.with_type(target).with_nullable(True)
        self._int_max = int_max
        self.schema = pa.schema(merged)
        return True

    def _note_ints(self, table: pa.Table) -> None:
        for field in table.schema:
            if pa.types.is_integer(field.type):
                self._int_max[field.name] = max(
                    self._int_max.get(field.name, 0), _max_abs(table.column(field.name))
                )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in order: cast, or nulls where missing."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if not column.type.equals(field.type):
                column = column.cast(field.type)
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def unify(tables: Iterable[pa.Table]) -> pa.Table:
    """One table from tables whose schemas merge losslessly (see ``SchemaUnion``)."""
    tables = list(tables)
    union = SchemaUnion()
    for table in tables:
        if not union.accept(table):
            raise ValueError(f"schemas cannot be merged losslessly: {table.schema}")
    if union.schema is None:
        return pa.table({})
    return pa.concat_tables([conform(t, union.schema) for t in tables])
