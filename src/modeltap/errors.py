"""The one exception tree of modeltap: everything it raises derives from ModelTapError.

Errors of lower libraries (fsspec, pyarrow, pydantic, HTTP clients) are translated into these
at the boundary, so callers only ever need to catch what is listed here.
"""

from __future__ import annotations

__all__ = [
    "AssetNotFoundError",
    "CollectionDisabledError",
    "ConfigError",
    "DataDroppedError",
    "InvalidCollectionNameError",
    "InvalidDataError",
    "InvalidTimeError",
    "MissingDependencyError",
    "ModelTapError",
    "QueueFullError",
    "SpoolFullError",
    "SpoolWriteError",
    "StoreError",
    "UnsupportedDataError",
    "WriterCrashedError",
]


class ModelTapError(Exception):
    """Root of every error raised by modeltap."""


class ConfigError(ModelTapError, ValueError):
    """Invalid configuration: the message names the source, the key, the value and the fix."""


class InvalidCollectionNameError(ConfigError):
    """A collection name that cannot become a path segment."""


class MissingDependencyError(ModelTapError, ImportError):
    """An optional extra is needed for the requested feature; the message has the install hint."""


class UnsupportedDataError(ModelTapError, TypeError):
    """collect() was given a type of data it does not accept."""


class InvalidDataError(ModelTapError, ValueError):
    """collect() was given data of an accepted type whose content cannot be stored as records."""


class CollectionDisabledError(ModelTapError):
    """collect() was called on a collection that the configuration disables."""


class DataDroppedError(ModelTapError):
    """Collected data was dropped by the pipeline (the drop is counted in stats())."""


class QueueFullError(DataDroppedError):
    """The in-memory queue was full and the full policy dropped an event."""


class SpoolFullError(DataDroppedError):
    """The local spool reached its size limit and the spool policy dropped data."""


class SpoolWriteError(DataDroppedError):
    """The writer could not write events to the local spool (disk full, too many open files)."""


class WriterCrashedError(DataDroppedError):
    """The writer process kept crashing on the same events, which were then dropped."""


class StoreError(ModelTapError):
    """A destination store failed (the data waits in the spool and is retried)."""


class AssetNotFoundError(ModelTapError, LookupError):
    """No data asset of that name (and version) is registered in the store."""


class InvalidTimeError(ModelTapError, ValueError):
    """A start or end time for reading that cannot be understood."""
