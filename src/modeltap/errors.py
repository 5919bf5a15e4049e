"""The one exception tree of modeltap: everything it raises derives from ModelTapError.

Errors of lower libraries (fsspec, pyarrow, pydantic, HTTP clients) are translated into these
at the boundary, so callers only ever need to catch what is listed here.
"""

from __future__ import annotations

__all__ = [
    "AssetNotFoundError",
    "BadRecordError",
    "CollectionDisabledError",
    "ConfigError",
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
    "QueueFullError",
    "ScoringScriptError",
    "SkippedRecordsWarning",
    "SpoolFullError",
    "SpoolWriteError",
    "StoreError",
    "UnsupportedDataError",
    "WriterCrashedError",
    "WriterLostError",
]


class ModelTapError(Exception):
    """Root of every error raised by modeltap."""


class ConfigError(ModelTapError, ValueError):
    """Invalid configuration: the message names the source, the key, the value and the fix."""


class InvalidCollectionNameError(ConfigError):
    """A collection name that cannot become a path segment."""


class MissingDependencyError(ModelTapError, ImportError):
    """An optional extra is needed for the requested feature; the message has the install hint."""


class ModelInputError(ModelTapError, ValueError):
    """A request body the served model cannot score; the server answers it with ``status``.

    ``code`` (and ``error_class``, when known) classify it in the error body, with MLflow's
    names for an MLflow model (``BAD_REQUEST``, ``INVALID_PARAMETER_VALUE``).
    """

    def __init__(
        self, message: str, *, status: int = 400, code: str = "BAD_REQUEST",
        error_class: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error_class = error_class


class ModelUriError(ModelTapError):
    """A model URI (``models:/``, ``runs:/``, ``file://``, ...) that cannot be resolved to a
    local model folder; the message names the URI and why."""


class ScoringScriptError(ModelTapError):
    """The scoring script cannot be loaded or its init() failed; the message has its traceback."""


class UnsupportedDataError(ModelTapError, TypeError):
    """collect() was given a type of data it does not accept."""


class InvalidDataError(ModelTapError, ValueError):
    """collect() was given data of an accepted type whose content cannot be stored as records."""


class CollectionDisabledError(ModelTapError):
    """collect() was called on a collection that the configuration disables."""


class IngestError(ModelTapError, ValueError):
    """An event posted to the ingest routes that cannot be accepted; ``status`` is the HTTP
    answer (400 for a bad event, 431 for a header too long, 503 to retry later)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


class WriterLostError(DataDroppedError):
    """Events handed to a writer process that was killed, or gave up, at a stop that did not
    finish in time, before it had written them (counted as ``writer_lost``)."""


class StoreError(ModelTapError):
    """A destination store failed (the data waits in the spool and is retried)."""


class AssetNotFoundError(ModelTapError, LookupError):
    """No data asset of that name (and version) is registered in the store."""


class InvalidTimeError(ModelTapError, ValueError):
    """A start or end time for reading that cannot be understood."""


class MonitorDefinitionError(ConfigError):
    """A monitor definition that cannot run: the message names the file, the key path, the bad
    value and what is allowed."""


class MonitorError(ModelTapError):
    """A monitor run that could not read its data or write its results."""


class BadRecordError(StoreError):
    """A committed record (or file) that cannot be read, raised when a read asks
    ``on_bad_record="raise"``; by default such records are skipped and counted."""


class SkippedRecordsWarning(ModelTapError, UserWarning):
    """A read skipped records it could not read; ``skipped`` says which file and line each
    was in, and why."""

    def __init__(self, message: str, skipped: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.skipped = skipped
