"""modeltap: capture what your model sees and says in production, durably, on any store.

A drop-in for the platform data collector's scoring-script API::

    from modeltap import Collector
    inputs = Collector(name="model_inputs")
    context = inputs.collect(input_df)
"""

from modeltap._version import __version__
from modeltap.collector import Collector
from modeltap.config import Settings
from modeltap.context import BasicCorrelationContext, CorrelationContext, correlation
from modeltap.errors import (
    CollectionDisabledError,
    ConfigError,
    DataDroppedError,
    InvalidCollectionNameError,
    InvalidDataError,
    MissingDependencyError,
    ModelTapError,
    QueueFullError,
    SpoolFullError,
    StoreError,
    UnsupportedDataError,
)
from modeltap.pipeline.runtime import configure, flush, shutdown, start, stats
from modeltap.stats import CollectionStats, PipelineStats

__all__ = [
    "BasicCorrelationContext",
    "CollectionDisabledError",
    "CollectionStats",
    "Collector",
    "ConfigError",
    "CorrelationContext",
    "DataDroppedError",
    "InvalidCollectionNameError",
    "InvalidDataError",
    "MissingDependencyError",
    "ModelTapError",
    "PipelineStats",
    "QueueFullError",
    "Settings",
    "SpoolFullError",
    "StoreError",
    "UnsupportedDataError",
    "__version__",
    "configure",
    "correlation",
    "flush",
    "shutdown",
    "start",
    "stats",
]
