"""modeltap: capture what your model sees and says in production, durably, on any store.

A drop-in for the platform data collector's scoring-script API::

    from modeltap import Collector
    inputs = Collector(name="model_inputs")
    context = inputs.collect(input_df)
"""

from modeltap._version import __version__
from modeltap.catalog import DataAsset, get_asset, list_assets, register_asset
from modeltap.collector import Collector
from modeltap.config import Settings
from modeltap.context import BasicCorrelationContext, CorrelationContext, correlation
from modeltap.errors import (
    AssetNotFoundError,
    BadRecordError,
    CollectionDisabledError,
    ConfigError,
    DataDroppedError,
    IngestError,
    InvalidCollectionNameError,
    InvalidDataError,
    InvalidTimeError,
    MissingDependencyError,
    ModelInputError,
    ModelTapError,
    ModelUriError,
    MonitorDefinitionError,
    MonitorError,
    QueueFullError,
    ScoringScriptError,
    SkippedRecordsWarning,
    SpoolFullError,
    SpoolWriteError,
    StoreError,
    UnsupportedDataError,
    WriterCrashedError,
    WriterLostError,
)
from modeltap.pipeline.runtime import configure, flush, shutdown, start, stats
from modeltap.reading import join, read, read_arrow, scan
from modeltap.stats import CollectionStats, PipelineStats

__all__ = [
    "AssetNotFoundError",
    "BadRecordError",
    "BasicCorrelationContext",
    "CollectionDisabledError",
    "CollectionStats",
    "Collector",
    "ConfigError",
    "CorrelationContext",
    "DataAsset",
    "DataDroppedError",
    "IngestError",
    "InvalidCollectionNameError",
    "InvalidDataError",
    "InvalidTimeError",
    "MissingDependencyError",
    "ModelInputError",
    "ModelTapError",
    "ModelUriError",
    "MonitorDefinitionError",
    "MonitorError",
    "PipelineStats",
    "QueueFullError",
    "ScoringScriptError",
    "Settings",
    "SkippedRecordsWarning",
    "SpoolFullError",
    "SpoolWriteError",
    "StoreError",
    "UnsupportedDataError",
    "WriterCrashedError",
    "WriterLostError",
    "__version__",
    "configure",
    "correlation",
    "flush",
    "get_asset",
    "join",
    "list_assets",
    "read",
    "read_arrow",
    "register_asset",
    "scan",
    "shutdown",
    "start",
    "stats",
]
