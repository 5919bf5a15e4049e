"""The embedded engine: DuckDB on this machine.

Training Parquet files are scanned where they lie (DuckDB's own Parquet reader for local files),
one ``GROUP BY`` query per column. Every other side (collected data, CSV or JSON lines files, a
time window of Parquet files) is read once, piece by piece (an hour of collected data, of a few
columns for wide Parquet assets; about a million rows of training files), and each column's
value counts are taken from the piece as it is read (by Arrow) and kept in DuckDB, summed over
the pieces when asked for; the rows themselves are staged into DuckDB only when a join needs
them (model performance), by a second read. Counting as the pieces go, rather than staging the
rows and counting afterwards, keeps no copy of the window and saves the copy's time (1.5 s of
10 s for 1M rows per side in bench/monitor.py, profiled).

Memory: DuckDB is given ``memory_limit`` (default 1 GiB) and a temporary folder to spill to, so
the value counts and staged sides may be larger than memory. What Python holds at once is one
read piece and the value counts of one column on both sides: at most one entry per distinct
value (16 bytes a number), i.e. at most the rows of the window for a column of unique floats.
Exact Kolmogorov-Smirnov and Wasserstein distances need that full distribution.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import MissingDependencyError, MonitorError
from modeltap.monitor.aggregates import ColumnCounts, LabelledCounts
from modeltap.monitor.engines.base import Engine, JoinSpec, Side, trivial_join
from modeltap.monitor.feature_types import type_kind
from modeltap.monitor.source import ENVELOPE_COLUMNS, Source
from modeltap.monitor.windows import Window

__all__ = ["EmbeddedEngine"]

_NUMBERS = ("integer", "float", "decimal")
PIECE_ROWS = 1_000_000
"""Record batches of training files are counted together up to about this many rows."""


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A quoted SQL string."""
    return "'" + text.replace("'", "''") + "'"


def _column_counts(table: pa.Table, kind: pa.DataType, rows: int) -> ColumnCounts:
    """ColumnCounts from a query's ``v`` (sorted distinct non-null values) and ``n`` (their
    rows); NaN counts as null.

    NaN is dropped here, not by SQL: DuckDB 2.0 prunes ``isnan`` filters on Parquet scans by the
    files' statistics, which leave NaN out, so ``WHERE NOT isnan(v)`` kept every NaN."""
    values = table.column("v").combine_chunks()
    counts_column = table.column("n").combine_chunks()
    if type_kind(values.type) == "float":
        keep = pc.invert(pc.is_nan(values))
        values, counts_column = values.filter(keep), counts_column.filter(keep)
    if not values.type.equals(kind):
        try:
            values = values.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kind = values.type
    counts = np.asarray(counts_column.to_numpy(), dtype=np.int64)
    return ColumnCounts(values, counts, rows - int(counts.sum()), kind)


def _counted(kind: pa.DataType | None) -> bool:
    """Whether a column of this type has value counts (nested and all-null columns do not)."""
    return kind is not None and type_kind(kind) not in ("other", "null")


class _SqlSide(Side):
    """What both sides of this engine share: the row count and schema found on reading, and
    value counts by SQL of the columns that have them."""

    _rows: int
    _schema: dict[str, pa.DataType]

    @property
    def rows(self) -> int:
        """Rows in the window."""
        return self._rows

    @property
    def schema(self) -> dict[str, pa.DataType]:
        """Column names and types."""
        return dict(self._schema)

    def counts(self, column: str) -> ColumnCounts:
        """Value counts of one column (none for absent, nested and all-null columns)."""
        kind = self._schema.get(column)
        if kind is None:
            return ColumnCounts.empty(pa.null(), self._rows)
        if not _counted(kind):
            return ColumnCounts.empty(kind, self._rows)
        return self._counts(column, kind)

    @abstractmethod
    def _counts(self, column: str, kind: pa.DataType) -> ColumnCounts:
        """Value counts of a column that has them."""


class _DuckSide(_SqlSide):
    """A side in DuckDB (Parquet files scanned in place, or rows staged for a join): one view
    per group of columns read together (each group view holds the envelope columns and its own
    data columns, over the same rows)."""

    def __init__(self, con: Any, views: list[str], label: str) -> None:
        self._con = con
        self._views = views
        self.label = label
        self._schema: dict[str, pa.DataType] = {}
        self._where: dict[str, str] = {}
        self._rows = 0
        for view in views:
            empty = con.sql(f"SELECT * FROM {_q(view)} LIMIT 0").to_arrow_table()
            for field in empty.schema:
                if field.name not in self._schema:
                    self._schema[field.name] = field.type
                    self._where[field.name] = view
        if views:
            self._rows = int(con.sql(f"SELECT count(*) FROM {_q(views[0])}").fetchall()[0][0])

    def view_with(self, columns: list[str]) -> str | None:
        """A view holding all of ``columns`` (None when the side has no rows)."""
        if not self._views:
            return None
        for view in self._views:
            names = {name for name, where in self._where.items() if where == view}
            names |= {name for name in self._schema if name in ENVELOPE_COLUMNS}
            if all(c in names for c in columns if c in self._schema):
                return view
        raise MonitorError(
            f"{self.label}: the columns {', '.join(columns)} are not read together; "
            "name fewer columns in data_column_names"
        )

    def _counts(self, column: str, kind: pa.DataType) -> ColumnCounts:
        name = _q(column)
        table = self._con.sql(
            f"SELECT {name} AS v, count(*) AS n FROM {_q(self._where[column])} "
            f"WHERE {name} IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).to_arrow_table()
        return _column_counts(table, kind, self._rows)


class _CountedSide(_SqlSide):
    """A side read once, piece by piece, keeping each data column's value counts per piece
    in DuckDB tables (one table per column and type); the rows are staged only for a join."""

    def __init__(self, engine: EmbeddedEngine, source: Source, window: Window, view: str) -> None:
        self._engine = engine
        self._con = engine.connection
        self._source = source
        self._window = window
        self._view = view
        self.label = source.label
        self._schema: dict[str, pa.DataType] = {}
        self._tables: dict[str, dict[pa.DataType, str]] = {}  # column -> type -> counts table
        self._rows = 0
        self._staged: _DuckSide | None = None
        for group, columns in enumerate(source.column_groups()):
            self._count_group(columns, first=group == 0)
        for column, tables in self._tables.items():  # one type per column, as a union has
            union = self._union(tables)
            self._schema[column] = (
                self._con.sql(f"SELECT v FROM ({union}) LIMIT 0").to_arrow_table().schema[0].type
            )

    def _count_group(self, columns: list[str] | None, first: bool) -> None:
        # the envelope is not counted, so not read: a wide asset's 10M-row hour of four float
        # columns is 310 MB instead of 885 MB, and the 10M-row window of bench/monitor.py
        # peaks at 1.6 GB RSS instead of 3.4 GB
        for piece in _pieces(self._source.batches(self._window, columns, envelope=False)):
            self._count_piece(piece, first_group=first)
            del piece  # not held while the next piece is read

    def _count_piece(self, piece: pa.Table, first_group: bool) -> None:
        self._con.register("__piece", piece)
        try:
            if first_group:
                self._rows += len(piece)
            typed = self._con.sql("SELECT * FROM __piece LIMIT 0").to_arrow_table().schema
            for field in typed:
                known = self._schema.get(field.name)
                if known is None or pa.types.is_null(known):  # the first type that is not null
                    self._schema[field.name] = field.type
                if field.name in ENVELOPE_COLUMNS or not _counted(field.type):
                    continue
                self._keep_counts(field, _value_counts(piece.column(field.name)))
        finally:
            self._con.unregister("__piece")

    def _keep_counts(self, field: pa.Field, counts: pa.Table) -> None:
        """Add one piece's value counts of a column to that column's table for its type."""
        tables = self._tables.setdefault(field.name, {})
        self._con.register("__counts", counts)
        try:
            if field.type in tables:
                self._con.execute(f"INSERT INTO {_q(tables[field.type])} SELECT * FROM __counts")
            else:
                table = f"{self._view}_counts_{sum(map(len, self._tables.values()))}"
                self._con.execute(f"CREATE TABLE {_q(table)} AS SELECT * FROM __counts")
                tables[field.type] = table
        finally:
            self._con.unregister("__counts")

    @staticmethod
    def _union(tables: dict[pa.DataType, str]) -> str:
        return " UNION ALL BY NAME ".join(f"SELECT v, n FROM {_q(t)}" for t in tables.values())

    def _counts(self, column: str, kind: pa.DataType) -> ColumnCounts:
        if column not in self._tables:  # an envelope column: not counted as it was read
            return self.staged().counts(column)
        table = self._con.sql(
            f"SELECT v, sum(n)::BIGINT AS n FROM ({self._union(self._tables[column])}) "
            "WHERE v IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).to_arrow_table()
        return _column_counts(table, kind, self._rows)

    def staged(self) -> _DuckSide:
        """The rows themselves in DuckDB (read again and staged on first use)."""
        if self._staged is None:
            self._staged = self._engine.stage(self._source, self._window, self._view)
        return self._staged


def _value_counts(column: pa.ChunkedArray) -> pa.Table:
    """A piece's distinct values ``v`` (null and NaN included) and their rows ``n``.

    Arrow's hash kernel rather than a DuckDB ``GROUP BY`` over the Arrow piece: 2-3x faster
    on 1M-row pieces of four columns (0.09 s against 0.26 s, floats; bench/monitor.py's data),
    a third of the embedded engine's time at 1M rows per side."""
    if pa.types.is_dictionary(column.type):  # chunks may have different dictionaries
        column = column.cast(column.type.value_type)
    pairs = pc.value_counts(column)
    return pa.table({"v": pairs.field("values"), "n": pairs.field("counts")})


def _pieces(tables: Iterable[pa.Table], rows: int = PIECE_ROWS) -> Iterator[pa.Table]:
    """``tables`` with consecutive ones of one schema put together up to about ``rows`` rows
    (few large pieces: each costs a query per column)."""
    held: list[pa.Table] = []
    size = 0
    for table in tables:
        if held and not table.schema.equals(held[0].schema):
            yield pa.concat_tables(held)
            held, size = [], 0
        held.append(table)
        size += len(table)
        if size >= rows:
            yield pa.concat_tables(held)
            held, size = [], 0
        del table  # not held while the next one is read
    if held:
        yield pa.concat_tables(held)


class EmbeddedEngine(Engine):
    """DuckDB in this process, spilling to a temporary folder past ``memory_limit``."""

    name = "embedded"

    def __init__(self, memory_limit: str = "1GB", threads: int | None = None) -> None:
        try:
            import duckdb
        except ImportError:
            raise MissingDependencyError(
                "the embedded monitor engine needs duckdb: pip install duckdb"
            ) from None
        self._folder = tempfile.mkdtemp(prefix="modeltap-monitor-")
        config: dict[str, Any] = {
            "memory_limit": memory_limit,
            "temp_directory": self._folder,
            "preserve_insertion_order": False,
        }
        if threads is not None:
            config["threads"] = threads
        self.connection = duckdb.connect(":memory:", config=config)
        self._count = 0

    def open(self, source: Source, window: Window) -> Side:
        """Parquet training files in place; anything else counted as it is read."""
        import duckdb

        self._count += 1
        view = f"side_{self._count}"
        if source.kind == "files" and source.file_format == "parquet" and not window.bounded:
            dataset = source.dataset()
            try:
                if "://" in str(source.location):  # read through fsspec, by Arrow
                    self.connection.register(f"{view}_files", dataset)
                    scan = _q(f"{view}_files")
                else:  # DuckDB's Parquet reader, on the files Arrow lists
                    files = ", ".join(_literal(f) for f in dataset.files)
                    scan = f"read_parquet([{files}], union_by_name = true)"
                self.connection.execute(f"CREATE VIEW {_q(view)} AS SELECT * FROM {scan}")
            except duckdb.Error as exc:
                raise MonitorError(f"cannot read {source.label}: {exc}") from None
            return _DuckSide(self.connection, [view], source.label)
        try:
            return _CountedSide(self, source, window, view)
        except duckdb.Error as exc:
            raise MonitorError(f"cannot read {source.label}: {exc}") from None

    def stage(self, source: Source, window: Window, view: str) -> _DuckSide:
        """The rows of ``source`` over ``window`` copied into DuckDB piece by piece."""
        import duckdb

        con = self.connection
        views: list[str] = []
        try:
            for group, columns in enumerate(source.column_groups()):
                parts: list[str] = []
                last: pa.Schema | None = None
                for index, table in enumerate(source.batches(window, columns)):
                    # pieces of the same schema go into one table; a new schema starts another
                    con.register("__piece", table)
                    try:
                        if last is not None and table.schema.equals(last):
                            con.execute(f"INSERT INTO {_q(parts[-1])} SELECT * FROM __piece")
                        else:
                            part = f"{view}_{group}_{index}"
                            con.execute(f"CREATE TABLE {_q(part)} AS SELECT * FROM __piece")
                            parts.append(part)
                            last = table.schema
                    finally:
                        con.unregister("__piece")
                if not parts:
                    return _DuckSide(con, [], source.label)
                union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_q(p)}" for p in parts)
                con.execute(f"CREATE VIEW {_q(f'{view}_{group}')} AS {union}")
                views.append(f"{view}_{group}")
        except duckdb.Error as exc:
            raise MonitorError(f"cannot stage {source.label}: {exc}") from None
        return _DuckSide(con, views, source.label)

    def labelled(self, predictions: Side, labels: Side, spec: JoinSpec) -> LabelledCounts:
        """Inner join on the keys; confusion counts or error sums."""
        import duckdb

        if not isinstance(predictions, _SIDES) or not isinstance(labels, _SIDES):
            raise TypeError("the embedded engine joins its own sides only")
        if isinstance(predictions, _CountedSide):  # the rows themselves, with their keys
            predictions = predictions.staged()
        if isinstance(labels, _CountedSide):
            labels = labels.staged()
        trivial = trivial_join(predictions, labels, spec)
        if trivial is not None:
            return trivial
        p_key = self._key(predictions, spec.prediction_key, "production_data")
        l_key = self._key(labels, spec.label_key, "reference_data")
        p_type = type_kind(predictions.schema[spec.prediction])
        l_type = type_kind(labels.schema[spec.actual])
        numeric = p_type in _NUMBERS and l_type in _NUMBERS
        latest = "arg_max(y, time)" if "time" in labels.schema else "any_value(y)"
        p_view = predictions.view_with([spec.prediction, spec.prediction_key or spec.prediction])
        l_view = labels.view_with([spec.actual, spec.label_key or spec.actual])
        joined = (
            f"WITH p AS (SELECT {p_key} AS k, {_q(spec.prediction)} AS y "
            f"FROM {_q(str(p_view))}), "
            f"l0 AS (SELECT {l_key} AS k, {_q(spec.actual)} AS y"
            f"{', time' if 'time' in labels.schema else ''} FROM {_q(str(l_view))} "
            f"WHERE {_q(spec.actual)} IS NOT NULL), "
            f"l AS (SELECT k, {latest} AS y FROM l0 WHERE k IS NOT NULL GROUP BY k), "
            "j AS (SELECT p.y AS y_pred, l.y AS y_true FROM p JOIN l ON p.k = l.k "
            "WHERE p.y IS NOT NULL) "
        )
        try:
            if spec.task == "regression":
                row = self.connection.sql(
                    joined + "SELECT count(*), sum(abs(e)), sum(e * e) FROM "
                    "(SELECT TRY_CAST(y_pred AS DOUBLE) - TRY_CAST(y_true AS DOUBLE) AS e FROM j) "
                    "WHERE e IS NOT NULL AND NOT isnan(e)"
                ).fetchall()[0]
                return LabelledCounts(
                    predictions.rows,
                    int(row[0]),
                    abs_error_sum=float(row[1] or 0.0),
                    squared_error_sum=float(row[2] or 0.0),
                )
            cast = "CAST(CAST({} AS DOUBLE) AS VARCHAR)" if numeric else "CAST({} AS VARCHAR)"
            rows = self.connection.sql(
                joined + f"SELECT {cast.format('y_true')}, {cast.format('y_pred')}, count(*) "
                "FROM j GROUP BY 1, 2"
            ).fetchall()
        except duckdb.Error as exc:
            raise MonitorError(f"cannot join predictions with labels: {exc}") from None
        pairs = {(str(a), str(p)): int(n) for a, p, n in rows}
        return LabelledCounts(predictions.rows, sum(pairs.values()), pairs=pairs)

    @staticmethod
    def _key(side: _DuckSide, column: str | None, where: str) -> str:
        if column is not None:
            if column not in side.schema:
                raise MonitorError(
                    f"{side.label} has no column {column!r} ({where}.data_column_names."
                    "correlation_id)"
                )
            return f"CAST({_q(column)} AS VARCHAR)"
        if "correlationid" not in side.schema or "row_index" not in side.schema:
            raise MonitorError(
                f"{side.label} has no correlationid and row_index to join on: name the key "
                f"column in {where}.data_column_names.correlation_id"
            )
        return "CAST(correlationid AS VARCHAR) || '_' || CAST(row_index AS VARCHAR)"

    def close(self) -> None:
        """Close DuckDB and remove its spill folder."""
        self.connection.close()
        shutil.rmtree(self._folder, ignore_errors=True)


_SIDES = (_DuckSide, _CountedSide)
