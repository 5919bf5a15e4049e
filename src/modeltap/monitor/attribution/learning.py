"""Importances of one side of a signal: the surrogate trained on every feature of the side (all
columns but the collection envelope and the target), the reference's through the cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modeltap.errors import MonitorError
from modeltap.monitor.attribution import surrogate
from modeltap.monitor.attribution.cache import ImportanceCache, reference_fingerprint
from modeltap.monitor.definition import (
    DataDriftSignal,
    DataQualitySignal,
    FeatureAttributionDriftSignal,
    MonitorDefinition,
    PredictionDriftSignal,
)
from modeltap.monitor.engines.base import Side
from modeltap.monitor.rows import read_rows
from modeltap.monitor.source import ENVELOPE_COLUMNS, Source
from modeltap.monitor.windows import Window

__all__ = ["Learner", "SideData"]


JOIN_KEYS = ("correlationid", "row_index")


@dataclass(frozen=True)
class SideData:
    """A side to learn from: its source and window, the engine's view of it (rows, schema),
    and the model outputs joined to it on ``correlationid`` and ``row_index``, if any."""

    source: Source
    window: Window
    side: Side
    outputs: SideData | None = None

    def features(self, target: str) -> list[str]:
        """Every column but the envelope and the target, in the side's order."""
        return [c for c in self.side.schema if c not in ENVELOPE_COLUMNS and c != target]

    def has_column(self, column: str) -> bool:
        """Whether the side (or its joined outputs) has ``column``."""
        return column in self.side.schema or (
            self.outputs is not None and column in self.outputs.side.schema
        )

    @property
    def label(self) -> str:
        """The side's data, as messages name it."""
        if self.outputs is None:
            return self.source.label
        return f"{self.source.label} joined with {self.outputs.source.label}"


@dataclass(frozen=True)
class Learner:
    """Learns importances with one target, task and type override; caches the reference's
    under ``destination/_monitoring/{monitor}/``."""

    destination: str
    monitor: str
    storage_options: dict[str, Any] | None
    target: str
    task: str | None = None
    categorical: Sequence[str] = ()
    numerical: Sequence[str] = ()

    @classmethod
    def for_signal(
        cls,
        definition: MonitorDefinition,
        signal: FeatureAttributionDriftSignal
        | DataDriftSignal
        | PredictionDriftSignal
        | DataQualitySignal,
        destination: str,
        storage_options: dict[str, Any] | None,
    ) -> Learner:
        """The learner of a signal: its target column and type overrides, the monitor's task."""
        target = signal.target_column
        if target is None:  # load() refuses this; a definition built by hand may not
            raise ValueError(f"{signal.type} needs reference_data.data_column_names.target_column")
        override = signal.feature_type_override
        monitoring_target = definition.create_monitor.monitoring_target
        return cls(
            destination,
            definition.name,
            storage_options,
            target,
            monitoring_target.ml_task if monitoring_target is not None else None,
            tuple(override.categorical) if override else (),
            tuple(override.numerical) if override else (),
        )

    def learn(self, data: SideData, features: Sequence[str]) -> surrogate.Importances:
        """Train the surrogate on a side's rows (a sample of at most ``TRAINING_SAMPLE``)."""
        table = self._rows(data, features)
        return surrogate.feature_importances(
            table, features, self.target, self.task, self.categorical, self.numerical
        )

    def _rows(self, data: SideData, features: Sequence[str]) -> pa.Table:
        sample = surrogate.TRAINING_SAMPLE
        if data.outputs is None:
            return read_rows(data.source, data.window, [*features, self.target], sample=sample)
        keys = list(JOIN_KEYS)
        inputs = read_rows(data.source, data.window, [*features, *keys], sample=sample)
        outputs = read_rows(data.outputs.source, data.outputs.window, [*keys, self.target])
        for table, label in ((inputs, data.source.label), (outputs, data.outputs.source.label)):
            if table.num_rows and not all(k in table.column_names for k in keys):
                raise MonitorError(
                    f"{label} has no correlationid and row_index to join inputs with outputs "
                    "on: give production_data with the target column instead"
                )
        if not inputs.num_rows or not outputs.num_rows:
            return pa.table({})
        inputs = inputs.set_column(
            inputs.column_names.index("row_index"),
            "row_index",
            pc.cast(inputs.column("row_index"), pa.int64()),
        )
        outputs = outputs.set_column(
            outputs.column_names.index("row_index"),
            "row_index",
            pc.cast(outputs.column("row_index"), pa.int64()),
        )
        joined = inputs.join(outputs, keys=keys, join_type="inner", use_threads=False)
        if joined.num_rows == 0:
            raise MonitorError(
                f"none of the {inputs.num_rows} rows of {data.source.label} found its output in "
                f"{data.outputs.source.label} (joined on correlationid and row_index)"
            )
        return joined.sort_by([(k, "ascending") for k in keys])

    def reference(self, data: SideData) -> surrogate.Importances:
        """The reference's importances over all its features, from the cache when the same
        reference was learned before."""
        cache = ImportanceCache(self.destination, self.monitor, self.storage_options)
        key = reference_fingerprint(
            data.source,
            data.window,
            data.side.rows,
            data.side.schema,
            self.target,
            self.task,
            self.categorical,
            self.numerical,
        )
        cached = cache.get(key)
        if cached is not None:
            return cached
        learned = self.learn(data, data.features(self.target))
        cache.put(key, learned)
        return learned
