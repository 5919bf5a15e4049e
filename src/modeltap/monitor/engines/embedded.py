"""The embedded engine: DuckDB on this machine.

Each side is staged into DuckDB as it is read (an hour of collected data, or a record batch of
CSV or JSON lines training files, at a time), so no window is ever held whole in pandas; Parquet
training files are scanned where they lie. Aggregates are SQL ``GROUP BY`` queries, one column
at a time.

Memory: DuckDB is given ``memory_limit`` (default 1 GiB) and a temporary folder to spill to, so
the staged sides may be larger than memory. What Python holds at once is one read piece (an hour
of collected data as Arrow, or of a few columns for wide Parquet assets) and the value counts of
one column on both sides: at most one entry per distinct value (16 bytes a number), i.e. at most
the rows of the window for a column of unique floats. Exact Kolmogorov-Smirnov and Wasserstein
distances need that full distribution.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa

from modeltap.errors import MissingDependencyError, MonitorError
from modeltap.monitor.aggregates import ColumnCounts, LabelledCounts
from modeltap.monitor.engines.base import Engine, JoinSpec, Side
from modeltap.monitor.feature_types import type_kind
from modeltap.monitor.source import ENVELOPE_COLUMNS, Source
from modeltap.monitor.windows import Window

__all__ = ["EmbeddedEngine"]

_NUMBERS = ("integer", "float", "decimal")


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class _DuckSide(Side):
    """A side staged in DuckDB: one view per group of columns read together (each group view
    holds the envelope columns and its own data columns, over the same rows)."""

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

    @property
    def rows(self) -> int:
        """Rows in the window."""
        return self._rows

    @property
    def schema(self) -> dict[str, pa.DataType]:
        """Column names and types."""
        return dict(self._schema)

    def counts(self, column: str) -> ColumnCounts:
        """Value counts of one column, by SQL."""
        kind = self._schema.get(column)
        if kind is None:
            return ColumnCounts.empty(pa.null(), self._rows)
        if type_kind(kind) in ("other", "null"):
            return ColumnCounts.empty(kind, self._rows)
        name = _q(column)
        nan = f" AND NOT isnan({name})" if type_kind(kind) == "float" else ""
        table = self._con.sql(
            f"SELECT {name} AS v, count(*) AS n FROM {_q(self._where[column])} "
            f"WHERE {name} IS NOT NULL{nan} GROUP BY 1 ORDER BY 1"
        ).to_arrow_table()
        values = table.column("v").combine_chunks()
        if not values.type.equals(kind):
            try:
                values = values.cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                kind = values.type
        counts = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
        return ColumnCounts(values, counts, self._rows - int(counts.sum()), kind)


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
        self._con = duckdb.connect(":memory:", config=config)
        self._count = 0

    def open(self, source: Source, window: Window) -> Side:
        """Stage ``source`` over ``window`` piece by piece."""
        import duckdb

        self._count += 1
        view = f"side_{self._count}"
        if source.kind == "files" and source.file_format == "parquet" and not window.bounded:
            # Parquet is read where it lies: each query scans only its column (no staging)
            dataset = source.dataset()
            try:
                self._con.register(f"{view}_files", dataset)
                self._con.execute(f"CREATE VIEW {_q(view)} AS SELECT * FROM {_q(view + '_files')}")
            except duckdb.Error as exc:
                raise MonitorError(f"cannot read {source.label}: {exc}") from None
            return _DuckSide(self._con, [view], source.label)
        views: list[str] = []
        try:
            for group, columns in enumerate(source.column_groups()):
                parts: list[str] = []
                last: pa.Schema | None = None
                for index, table in enumerate(source.batches(window, columns)):
                    # pieces of the same schema go into one table; a new schema starts another
                    self._con.register("__piece", table)
                    try:
                        if last is not None and table.schema.equals(last):
                            self._con.execute(f"INSERT INTO {_q(parts[-1])} SELECT * FROM __piece")
                        else:
                            part = f"{view}_{group}_{index}"
                            self._con.execute(f"CREATE TABLE {_q(part)} AS SELECT * FROM __piece")
                            parts.append(part)
                            last = table.schema
                    finally:
                        self._con.unregister("__piece")
                if not parts:
                    return _DuckSide(self._con, [], source.label)
                union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_q(p)}" for p in parts)
                self._con.execute(f"CREATE VIEW {_q(f'{view}_{group}')} AS {union}")
                views.append(f"{view}_{group}")
        except duckdb.Error as exc:
            raise MonitorError(f"cannot stage {source.label}: {exc}") from None
        return _DuckSide(self._con, views, source.label)

    def labelled(self, predictions: Side, labels: Side, spec: JoinSpec) -> LabelledCounts:
        """Inner join on the keys; confusion counts or error sums."""
        import duckdb

        if not isinstance(predictions, _DuckSide) or not isinstance(labels, _DuckSide):
            raise TypeError("the embedded engine joins its own sides only")
        if predictions.rows == 0:
            return LabelledCounts(0, 0)
        if labels.rows == 0:
            return LabelledCounts(predictions.rows, 0)
        for side, column, what in (
            (predictions, spec.prediction, "prediction"),
            (labels, spec.actual, "actual"),
        ):
            if column not in side.schema:
                raise MonitorError(
                    f"{side.label} has no column {column!r} (data_column_names.{what}); it has: "
                    f"{', '.join(side.schema) or 'no columns'}"
                )
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
                row = self._con.sql(
                    joined + "SELECT count(*), sum(abs(e)), sum(e * e) FROM "
                    "(SELECT TRY_CAST(y_pred AS DOUBLE) - TRY_CAST(y_true AS DOUBLE) AS e FROM j) "
                    "WHERE e IS NOT NULL"
                ).fetchall()[0]
                return LabelledCounts(
                    predictions.rows,
                    int(row[0]),
                    abs_error_sum=float(row[1] or 0.0),
                    squared_error_sum=float(row[2] or 0.0),
                )
            cast = "CAST(CAST({} AS DOUBLE) AS VARCHAR)" if numeric else "CAST({} AS VARCHAR)"
            rows = self._con.sql(
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
        self._con.close()
        shutil.rmtree(self._folder, ignore_errors=True)
