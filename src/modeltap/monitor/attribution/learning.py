"""Importances of one side of a signal: the surrogate trained on every feature of the side (all
columns but the collection envelope and the target), the reference's through the cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class SideData:
    """A side to learn from: its source and window, and the engine's view of it (rows,
    schema)."""

    source: Source
    window: Window
    side: Side

    def features(self, target: str) -> list[str]:
        """Every column but the envelope and the target, in the side's order."""
        return [c for c in self.side.schema if c not in ENVELOPE_COLUMNS and c != target]


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
        table = read_rows(
            data.source,
            data.window,
            [*features, self.target],
            sample=surrogate.TRAINING_SAMPLE,
        )
        return surrogate.feature_importances(
            table, features, self.target, self.task, self.categorical, self.numerical
        )

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
