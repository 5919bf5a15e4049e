"""Snapshots of Arrow tables and polars frames: immutable or cheap to clone, kept as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeltap.snapshot.encoding import polars_json

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = ["ArrowSnapshot", "PolarsSnapshot"]


class ArrowSnapshot:
    """A pyarrow Table or RecordBatch: immutable, so kept by reference."""

    __slots__ = ("approx_bytes", "rows", "table")

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows
        self.approx_bytes = 64 + int(table.nbytes)

    def to_json_rows(self) -> bytes:
        """Rows via polars."""
        import polars as pl

        converted = pl.from_arrow(self.table)
        assert isinstance(converted, pl.DataFrame)
        return polars_json(converted)

    def to_arrow(self) -> pa.Table:
        """The table itself."""
        import pyarrow as pa

        if isinstance(self.table, pa.RecordBatch):
            return pa.Table.from_batches([self.table])
        return self.table


class PolarsSnapshot:
    """A polars DataFrame, cloned (cheap: columns are shared until written)."""

    __slots__ = ("approx_bytes", "frame", "rows")

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame.clone()
        self.rows = frame.height
        self.approx_bytes = 64 + int(frame.estimated_size())

    def to_json_rows(self) -> bytes:
        """Rows via polars."""
        return polars_json(self.frame)

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table."""
        return self.frame.to_arrow()


