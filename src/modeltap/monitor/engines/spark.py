"""The Spark engine: the same aggregates as the embedded engine, computed on a Spark cluster.

Spark reads the collected tree itself (:mod:`modeltap.monitor.engines.spark_reading`); every
aggregate is a Spark ``GROUP BY`` and only its result reaches the driver. A side is counted in
one Spark job, the first time it is asked about: every column's values stacked as (column,
value) pairs and grouped once, which gives each column's distinct values with their counts
(what the metrics need, exact; bounded by the number of distinct values, as with the embedded
engine) and the side's row count; the driver keeps them for every signal that reads the side.
For model performance, the joined rows' confusion counts or error sums come back. Raw rows are
never collected, and nothing is cached on the cluster.

``SparkEngine(master=None, conf=None, session=None)``: a given ``SparkSession`` is used as it is
(and left running); otherwise one is started on ``master`` (default ``MODELTAP_SPARK_MASTER``,
else ``local[*]``) with ``conf`` and stopped on :meth:`close`. Needs the ``spark`` extra
(pyspark) and a Java runtime. A Spark session already active in the process (a notebook, a
Spark job) is used as if it were given.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import MissingDependencyError, MonitorError
from modeltap.monitor.aggregates import ColumnCounts, LabelledCounts
from modeltap.monitor.engines.base import Engine, JoinSpec, Side, trivial_join
from modeltap.monitor.engines.spark_reading import read_side
from modeltap.monitor.feature_types import type_kind
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window
from modeltap.reading.spark import SparkRows, quoted

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "DEFAULT_MASTER",
    "MASTER_VARIABLE",
    "SparkEngine",
    "find_java",
    "require_spark",
    "session_conf",
    "spark_master",
]

DEFAULT_MASTER = "local[*]"
MASTER_VARIABLE = "MODELTAP_SPARK_MASTER"
JAVA_HINT = (
    "install a Java runtime (17 or later), e.g. `apt-get install default-jre-headless` on "
    "Debian/Ubuntu, and put `java` on PATH or set JAVA_HOME"
)
_NUMBERS = ("integer", "float", "decimal")
_UNCOUNTED = ("other", "null")
_DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}


def require_spark() -> None:
    """Raise MissingDependencyError with the install hint when pyspark is not installed."""
    from modeltap.cli.extras import require_extra

    require_extra("spark", "the Spark monitor engine")


def find_java(environ: Mapping[str, str] | None = None) -> str:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else the one on ``PATH``.

    Raises MissingDependencyError saying what to install when there is none."""
    env = os.environ if environ is None else environ
    home = env.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
        raise MissingDependencyError(
            f"the Spark monitor engine needs a Java runtime: JAVA_HOME is {home}, which has no "
            f"bin/java; {JAVA_HINT}"
        )
    found = shutil.which("java", path=env.get("PATH", ""))
    if found is None:
        raise MissingDependencyError(
            f"the Spark monitor engine needs a Java runtime: no `java` on PATH and JAVA_HOME is "
            f"not set; {JAVA_HINT}"
        )
    return found


def spark_master(master: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The master to start Spark on: ``master``, else ``MODELTAP_SPARK_MASTER``, else
    ``local[*]``."""
    env = os.environ if environ is None else environ
    return master or env.get(MASTER_VARIABLE) or DEFAULT_MASTER


def session_conf(conf: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The settings of a session the engine starts: UTC, no console progress bar, then
    ``conf`` (``compute.conf``) as Spark's text (booleans as ``true``/``false``)."""
    merged = {**_DEFAULT_CONF, **dict(conf or {})}
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in merged.items()
    }


def _spark_error(what: str, exc: BaseException) -> MonitorError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return MonitorError(f"{what}: {first}")


class _SparkSide(Side):
    """A side planned as a Spark DataFrame, counted in one Spark job when first asked about."""

    def __init__(self, sides: SparkRows, label: str) -> None:
        self.label = label
        self.frame = sides.frame
        self._schema = dict(sides.schema)
        self._untyped_unless_valued = sides.untyped_unless_valued
        self._rows: int | None = None if sides.frame is not None else 0
        self._counts: dict[str, tuple[pa.Array, npt.NDArray[np.int64]]] = {}

    @property
    def rows(self) -> int:
        """Rows in the window (from the side's counting job)."""
        if self._rows is None:
            self._count()
        assert self._rows is not None
        return self._rows

    @property
    def schema(self) -> dict[str, pa.DataType]:
        """Column names and their Arrow types (JSON lines columns with no value anywhere have
        none: Arrow ``null``, known once the side is counted)."""
        if self._untyped_unless_valued:
            self._count()
        return dict(self._schema)

    def counts(self, column: str) -> ColumnCounts:
        """Value counts of one column (computed with every other column's by the side's
        counting job, and kept for the signals that ask again)."""
        rows = self.rows
        kind = self.schema.get(column)
        if kind is None or self.frame is None:
            return ColumnCounts.empty(pa.null(), rows)
        if type_kind(kind) in _UNCOUNTED or column not in self._counts:
            return ColumnCounts.empty(kind, rows)
        values, counts = self._counts[column]
        if pa.types.is_large_string(values.type):
            values = values.cast(pa.string())
        if not values.type.equals(kind):
            try:
                values = values.cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                kind = values.type
        return ColumnCounts(values, counts, rows - int(counts.sum()), kind)

    def _count(self) -> None:
        """One Spark job for the whole side: every countable column's rows stacked as
        ``(column index, value)`` pairs (one value slot per Spark type, so each value keeps its
        type) and grouped; the row count is the sum of any column's groups, nulls included."""
        if self._rows is not None and not self._untyped_unless_valued:
            return
        assert self.frame is not None
        names = [n for n in self._schema if type_kind(self._schema[n]) not in _UNCOUNTED]
        try:
            if not names:
                self._rows = int(self.frame.count())
                return
            table = _stacked_counts(self.frame, names).toArrow()
        except Exception as exc:
            raise _spark_error(f"cannot count the rows of {self.label}", exc) from None
        slots = _slots(self.frame, names)
        keys = table.column("k").to_numpy()
        numbers = np.asarray(table.column("n").to_numpy(), dtype=np.int64)
        self._rows = int(numbers[keys == 0].sum())
        for index, name in enumerate(names):
            mine = keys == index
            values = table.column(slots[name]).filter(pa.array(mine)).combine_chunks()
            counts = pa.array(numbers[mine])
            keep = pc.is_valid(values)
            if name in self._untyped_unless_valued and not pc.any(keep).as_py():
                self._schema[name] = pa.null()  # no value anywhere, as Arrow's JSON reader says
                continue
            if type_kind(self._schema[name]) == "float":
                keep = pc.and_(keep, pc.invert(pc.is_nan(values)))
            values, counts = values.filter(keep), counts.filter(keep)
            order = pc.sort_indices(values)
            self._counts[name] = (
                values.take(order),
                np.asarray(counts.take(order).to_numpy(), dtype=np.int64),
            )
        self._untyped_unless_valued = frozenset()


def _slots(frame: DataFrame, names: list[str]) -> dict[str, str]:
    """The value slot (``v0``, ``v1``, ...) of each column: one per Spark type."""
    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    by_type: dict[str, str] = {}
    return {n: by_type.setdefault(types[n], f"v{len(by_type)}") for n in names}


def _stacked_counts(frame: DataFrame, names: list[str]) -> DataFrame:
    """``k`` (the column's index in ``names``), a value in its type's slot, ``n`` (rows)."""
    from pyspark.sql import functions as F

    slots = _slots(frame, names)
    types = {f.name: f.dataType for f in frame.schema.fields}
    slot_type: dict[str, Any] = {}
    for name in names:
        slot_type.setdefault(slots[name], types[name])
    order = list(slot_type)
    empty = {slot: F.lit(None).cast(kind) for slot, kind in slot_type.items()}
    pairs = [
        F.struct(
            F.lit(index).alias("k"),
            *[
                (F.col(quoted(name)) if slots[name] == slot else empty[slot]).alias(slot)
                for slot in order
            ],
        )
        for index, name in enumerate(names)
    ]
    stacked = frame.select(F.explode(F.array(*pairs)).alias("p")).select("p.*")
    return stacked.groupBy("k", *order).agg(F.count(F.lit(1)).alias("n"))


class SparkEngine(Engine):
    """Aggregates computed by Spark (a cluster, or ``local[*]`` on this machine)."""

    name = "spark"

    def __init__(
        self,
        master: str | None = None,
        conf: Mapping[str, Any] | None = None,
        session: SparkSession | None = None,
    ) -> None:
        require_spark()
        warnings.filterwarnings(  # pyspark's pandas check; the engine exchanges Arrow only
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        self._owned = session is None
        self._sides: list[_SparkSide] = []
        if session is not None:
            self.spark = session
            return
        find_java()
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:  # this process already runs Spark (a notebook, a job): use it
            self.spark, self._owned = active, False
            return
        chosen = spark_master(master)
        builder = SparkSession.builder.master(chosen).appName("modeltap-monitor")
        for key, value in session_conf(conf).items():
            builder = builder.config(key, value)
        try:
            self.spark = builder.getOrCreate()
        except Exception as exc:
            raise _spark_error(f"cannot start Spark on {chosen}", exc) from None

    def open(self, source: Source, window: Window) -> Side:
        """Plan ``source`` over ``window``; the data is read by the first aggregate."""
        try:
            frame = read_side(self.spark, source, window)
        except MonitorError:
            raise
        except Exception as exc:
            raise _spark_error(f"cannot read {source.label}", exc) from None
        side = _SparkSide(frame, source.label)
        self._sides.append(side)
        return side

    def labelled(self, predictions: Side, labels: Side, spec: JoinSpec) -> LabelledCounts:
        """Inner join on the keys in Spark; only confusion counts or error sums come back."""
        from pyspark.sql import functions as F

        if not isinstance(predictions, _SparkSide) or not isinstance(labels, _SparkSide):
            raise TypeError("the Spark engine joins its own sides only")
        trivial = trivial_join(predictions, labels, spec)
        if trivial is not None:
            return trivial
        assert predictions.frame is not None and labels.frame is not None
        p_key = self._key(predictions, spec.prediction_key, "production_data")
        l_key = self._key(labels, spec.label_key, "reference_data")
        p_type = type_kind(predictions.schema[spec.prediction])
        l_type = type_kind(labels.schema[spec.actual])
        numeric = p_type in _NUMBERS and l_type in _NUMBERS
        p = predictions.frame.select(p_key.alias("k"), F.col(quoted(spec.prediction)).alias("y"))
        timed = "time" in labels.schema
        l0 = labels.frame.filter(F.col(quoted(spec.actual)).isNotNull()).select(
            l_key.alias("k"),
            F.col(quoted(spec.actual)).alias("y"),
            *([F.col("time")] if timed else []),
        )
        latest = F.max_by("y", "time") if timed else F.first("y")
        lab = l0.filter(F.col("k").isNotNull()).groupBy("k").agg(latest.alias("y"))
        joined = (
            p.join(lab, on="k", how="inner")
            .filter(p["y"].isNotNull())
            .select(p["y"].alias("y_pred"), lab["y"].alias("y_true"))
        )
        try:
            if spec.task == "regression":
                error = F.col("y_pred").try_cast("double") - F.col("y_true").try_cast("double")
                row = (
                    joined.select(error.alias("e"))
                    .filter(F.col("e").isNotNull() & ~F.isnan("e"))
                    .agg(
                        F.count(F.lit(1)).alias("n"),
                        F.sum(F.abs("e")).alias("a"),
                        F.sum(F.col("e") * F.col("e")).alias("s"),
                    )
                    .collect()[0]
                )
                return LabelledCounts(
                    predictions.rows,
                    int(row["n"]),
                    abs_error_sum=float(row["a"] or 0.0),
                    squared_error_sum=float(row["s"] or 0.0),
                )

            def text(column: str) -> Column:
                value = F.col(column)
                return (value.cast("double") if numeric else value).cast("string")

            rows = (
                joined.groupBy(text("y_true").alias("a"), text("y_pred").alias("p"))
                .agg(F.count(F.lit(1)).alias("n"))
                .collect()
            )
        except Exception as exc:
            raise _spark_error("cannot join predictions with labels", exc) from None
        pairs = {(str(r["a"]), str(r["p"])): int(r["n"]) for r in rows}
        return LabelledCounts(predictions.rows, sum(pairs.values()), pairs=pairs)

    @staticmethod
    def _key(side: _SparkSide, column: str | None, where: str) -> Column:
        from pyspark.sql import functions as F

        if column is not None:
            if column not in side.schema:
                raise MonitorError(
                    f"{side.label} has no column {column!r} ({where}.data_column_names."
                    "correlation_id)"
                )
            return F.col(quoted(column)).cast("string")
        if "correlationid" not in side.schema or "row_index" not in side.schema:
            raise MonitorError(
                f"{side.label} has no correlationid and row_index to join on: name the key "
                f"column in {where}.data_column_names.correlation_id"
            )
        return F.concat(
            F.col("correlationid").cast("string"), F.lit("_"), F.col("row_index").cast("string")
        )

    def close(self) -> None:
        """Forget the sides; stop the session when the engine started it."""
        self._sides.clear()
        if self._owned:
            self.spark.stop()
