"""The ``data_collector`` configuration: from a deployment YAML, a mapping or the environment.

The keys are the platform's (``collections``, ``sampling_rate``, ``rolling_rate``,
``request_logging``) plus modeltap's own (``destination``, ``format``, queue/spool/segment limits).
Every problem is reported as a ConfigError naming the source, the key, the bad value and the fix;
values of ``storage_options`` and of secret-looking keys are never echoed.

Every YAML file modeltap reads goes through :func:`load_yaml_file`: aliases (``*name``) are
refused, so a small file cannot expand into gigabytes, and only ``true``/``false`` are booleans
(YAML 1.2), so ``enabled: yes`` is refused as ``enabled: 'yes'`` is.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modeltap.errors import ConfigError, InvalidCollectionNameError

__all__ = [
    "ACK_VARIABLE",
    "DEFAULT_DESTINATION",
    "REDACTED",
    "WRITER_VARIABLE",
    "AckMode",
    "CollectionConfig",
    "CollectionPolicy",
    "DataAssetConfig",
    "DataCollectorConfig",
    "DeploymentConfig",
    "FsyncPolicy",
    "FullPolicy",
    "RequestLoggingConfig",
    "RollingRate",
    "Settings",
    "SpoolFullPolicy",
    "WriterMode",
    "ack_mode",
    "check_collection_name",
    "load_settings",
    "load_yaml_file",
    "load_yaml_text",
    "redact",
    "settings_from_env",
    "warn_if_not_listed",
    "writer_mode",
]

logger = logging.getLogger("modeltap")

DEFAULT_DESTINATION = "./modeltap-data"
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_RULE = "1-64 characters, each a letter, digit, '_' or '-' (names become folder names)"


class RollingRate(StrEnum):
    """How often a collection rolls to a new partition folder."""

    MINUTE = "Minute"
    HOUR = "Hour"
    DAY = "Day"
    MONTH = "Month"
    YEAR = "Year"


class FullPolicy(StrEnum):
    """What collect() does when the in-memory queue is full."""

    DROP_NEWEST = "drop_newest"
    DROP_OLDEST = "drop_oldest"
    BLOCK = "block"


class SpoolFullPolicy(StrEnum):
    """What the writer does when the local spool reaches ``spool_max_bytes``."""

    REJECT_NEW = "reject_new"
    DROP_OLDEST = "drop_oldest"


class FsyncPolicy(StrEnum):
    """When spool segments are fsynced: what a power loss may cost."""

    NEVER = "never"
    COMMIT = "commit"
    ALWAYS = "always"


def check_collection_name(name: object) -> str:
    """Return ``name`` if it is a valid collection name, else raise InvalidCollectionNameError."""
    if not isinstance(name, str) or not _SEGMENT_RE.match(name):
        raise InvalidCollectionNameError(
            f"invalid collection name {name!r}: use {_NAME_RULE}"
        )
    return name


def _parse_bool(value: object) -> object:
    """A boolean, or the strings 'True'/'False' in any case (as the platform writes them).
    'yes', 'no', 'on', 'off' are refused whether quoted or not (see ``load_yaml_file``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be True or False (a boolean or the string 'True' or 'False')")


# -- reading YAML ------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases and with YAML 1.2's booleans (true/false only)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads it from the class
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Refuse an alias before it is expanded (a 'billion laughs' file otherwise is)."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the alias *{event.anchor} is not accepted (modeltap reads YAML without "
                "aliases, so a small file cannot expand into a huge one): write the value out "
                "in full",
                mark,
            )
        return super().compose_node(parent, index)


_ConfigLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A parse error as 'line L, column C: problem', without echoing the file's text (which
    may hold a secret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be parsed"
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return str(problem)
    return str(exc)


def load_yaml_text(text: str) -> Any:
    """Parse YAML text as every file modeltap reads is parsed: a safe loader that refuses
    aliases and takes only true/false as booleans. Errors are ``yaml.YAMLError`` with the
    line in ``problem_mark`` (an alias is a ``yaml.constructor.ConstructorError``)."""
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Parse one YAML file modeltap reads (a deployment): aliases refused, only true/false are
    booleans. Raises ConfigError naming the file (and line) for a missing or bad file."""
    label = str(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: deployment file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read the deployment file: {exc}") from None
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {_yaml_problem(exc)}") from None


# -- keeping secrets out of messages -----------------------------------------------------------

_SECRET_KEY = re.compile(
    r"key|secret|token|passw|pwd|credential|sas|signature|auth|connection_string|private|cert",
    re.IGNORECASE,
)
_SECRET_SECTIONS = frozenset({"storage_options"})
REDACTED = "<redacted>"


def _is_secret_key(key: object) -> bool:
    return str(key) in _SECRET_SECTIONS or bool(_SECRET_KEY.search(str(key)))


def redact(value: Any, location: tuple[object, ...] = ()) -> Any:
    """``value`` with every value of ``storage_options`` and of secret-looking keys (key,
    secret, token, password, credential, sas, ...) replaced by ``<redacted>``; ``location``
    is the key path of ``value`` itself."""
    if any(_is_secret_key(part) for part in location):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, (k,)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


WriterMode = Literal["thread", "process"]
WRITER_VARIABLE = "MODELTAP_WRITER"  # the environment's choice when the writer key is unset
_WRITER_MODES: tuple[WriterMode, ...] = ("thread", "process")


def writer_mode(settings: Settings) -> WriterMode:
    """Where the writer runs: the ``writer`` key, else env ``MODELTAP_WRITER``, else a thread."""
    configured = settings.collector.writer
    if configured is not None:
        return configured
    from_env = os.environ.get(WRITER_VARIABLE, "").strip().lower() or "thread"
    for mode in _WRITER_MODES:
        if mode == from_env:
            return mode
    raise ConfigError(
        f"environment variable MODELTAP_WRITER is {from_env!r}: use 'thread' (the writer runs "
        "in this process) or 'process' (it runs in a process of its own)"
    )


AckMode = Literal["queue", "spool"]
ACK_VARIABLE = "MODELTAP_ACK"  # the environment's choice when the ack key is unset


def ack_mode(settings: Settings) -> AckMode:
    """When a request is answered: ``queue`` (once its records are queued, the default) or
    ``spool`` (once they are in the spool): the ``ack`` key, else env ``MODELTAP_ACK``."""
    configured = settings.collector.ack
    if configured is not None:
        return configured
    from_env = os.environ.get(ACK_VARIABLE, "").strip().lower() or "queue"
    if from_env == "spool":
        return "spool"
    if from_env == "queue":
        return "queue"
    raise ConfigError(
        f"environment variable MODELTAP_ACK is {from_env!r}: use 'queue' (answer once the "
        "records are queued) or 'spool' (answer once they are in the spool)"
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class DataAssetConfig(_Model):
    """``collections.<name>.data``: how the collection is registered and where it is stored."""

    name: str | None = None
    path: str | None = None
    version: str = "1"

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CollectionConfig(_Model):
    """``collections.<name>``: one collection's switch, sampling and data asset."""

    enabled: bool = True
    sampling_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    data: DataAssetConfig | None = None

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled_bool(cls, value: object) -> object:
        return _parse_bool(value)


class RequestLoggingConfig(_Model):
    """``request_logging``: which request headers payload logging keeps."""

    capture_headers: list[str] = Field(default_factory=list)


class DataCollectorConfig(_Model):
    """The ``data_collector`` section of a deployment."""

    collections: dict[str, CollectionConfig] | None = None
    sampling_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    rolling_rate: RollingRate = RollingRate.HOUR
    request_logging: RequestLoggingConfig = Field(default_factory=RequestLoggingConfig)
    # ingest without a collections list: the most distinct collections it creates (new names
    # beyond are refused with 400 and counted)
    ingest_max_collections: int = Field(default=64, gt=0)
    destination: str | None = None
    storage_options: dict[str, Any] = Field(default_factory=dict)
    format: Literal["jsonl", "parquet"] = "jsonl"
    model_version: str = "default"
    queue_max_events: int = Field(default=100_000, gt=0)
    queue_max_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    full_policy: FullPolicy = FullPolicy.DROP_NEWEST
    block_timeout: float = Field(default=1.0, ge=0.0)
    spool_dir: str | None = None
    spool_max_bytes: int = Field(default=1024**3, gt=0)
    spool_full_policy: SpoolFullPolicy = SpoolFullPolicy.REJECT_NEW
    segment_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    segment_max_age: float = Field(default=5.0, gt=0.0)
    fsync: FsyncPolicy = FsyncPolicy.COMMIT
    # where events are encoded and written: "thread" (this process), "process" (a writer
    # process of its own, off this process's GIL); unset: env MODELTAP_WRITER, else "thread"
    writer: WriterMode | None = None
    # when a scoring or ingest request is answered: "queue" (its records are queued: a crash
    # of the process loses what waits in the queue) or "spool" (they are written to the spool,
    # fsynced unless fsync is never; group commit); unset: env MODELTAP_ACK, else "queue"
    ack: AckMode | None = None

    @field_validator("rolling_rate", mode="before")
    @classmethod
    def _rolling_rate_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            for rate in RollingRate:
                if rate.value.lower() == value.strip().lower():
                    return rate
            allowed = ", ".join(r.value for r in RollingRate)
            raise ValueError(f"must be one of {allowed}")
        return value

    @field_validator("collections", mode="before")
    @classmethod
    def _collection_names(cls, value: object) -> object:
        if isinstance(value, Mapping):
            for name in value:
                if not isinstance(name, str) or not _SEGMENT_RE.match(name):
                    raise ValueError(f"collection name {name!r} is invalid: use {_NAME_RULE}")
        return value


class DeploymentConfig(BaseModel):
    """A deployment YAML: only the keys modeltap reads are checked; others are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    endpoint_name: str = "local"
    name: str = "default"
    data_collector: DataCollectorConfig = Field(default_factory=DataCollectorConfig)

    @field_validator("endpoint_name", "name", mode="before")
    @classmethod
    def _path_segment(cls, value: object) -> object:
        if not isinstance(value, str) or not _SEGMENT_RE.match(value):
            raise ValueError(f"must be {_NAME_RULE}")
        return value


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    """What the collector needs to know about one collection, resolved once."""

    name: str
    enabled: bool
    sampling_rate: float
    root: str


@dataclass(frozen=True)
class Settings:
    """A validated configuration with resolved destination; the pipeline runs from this."""

    deployment: DeploymentConfig
    source: str
    destination: str

    @property
    def collector(self) -> DataCollectorConfig:
        """The ``data_collector`` section."""
        return self.deployment.data_collector

    @property
    def endpoint(self) -> str:
        """The endpoint name (first folder under the destination)."""
        return self.deployment.endpoint_name

    @property
    def deployment_name(self) -> str:
        """The deployment name (second folder under the destination)."""
        return self.deployment.name

    def collection(self, name: str) -> CollectionPolicy:
        """Resolve one collection: listed ones follow their keys; unlisted ones are enabled
        only when the configuration lists no collections at all."""
        dc = self.collector
        entry = (dc.collections or {}).get(name)
        enabled = dc.collections is None or (entry is not None and entry.enabled)
        rate = dc.sampling_rate
        root = f"{self.endpoint}/{self.deployment_name}/{name}"
        if entry is not None:
            if entry.sampling_rate is not None:
                rate = entry.sampling_rate
            if entry.data is not None and entry.data.path:
                root = entry.data.path
        return CollectionPolicy(name=name, enabled=enabled, sampling_rate=rate, root=root)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, is-a-mapping-of-it) for ``X``, ``X | None`` and ``dict[str, X] | None``."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is dict:
        return _unwrap(args[-1])[0], True
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return annotation, False


def _allowed_keys(loc: tuple[str, ...]) -> list[str] | None:
    """The keys a configuration section at ``loc`` accepts, for 'unknown key' messages."""
    current: Any = DeploymentConfig
    parts = list(loc)
    while parts:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(parts.pop(0))
        if field is None:
            return None
        current, is_mapping = _unwrap(field.annotation)
        if is_mapping and parts:
            parts.pop(0)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return None


def _describe(error: Mapping[str, Any], root_loc: tuple[str, ...]) -> str:
    loc = root_loc + tuple(str(p) for p in error["loc"])
    key = ".".join(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{key}: unknown key{hint}"
    shown = redact(error.get("input"), loc)
    got = "a value, not shown" if shown == REDACTED else repr(shown)
    return f"{key}: {message} (got {got})"


_DEPLOYMENT_KEYS = frozenset(
    {
        "data_collector",
        "endpoint_name",
        "name",
        "model",
        "model_type",
        "code_configuration",
        "environment",
        "environment_variables",
        "instance_type",
        "instance_count",
        "auth_mode",
        "server",
    }
)


def _is_deployment(mapping: Mapping[str, Any]) -> bool:
    """A whole deployment (else the mapping is taken as its ``data_collector`` section)."""
    return any(k in mapping for k in _DEPLOYMENT_KEYS)


def load_settings(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> Settings:
    """Validate a deployment YAML path, a mapping (a deployment or its ``data_collector``
    section), or nothing (then ``MODELTAP_DEPLOYMENT`` or the defaults) into Settings."""
    if source is None:
        return settings_from_env()
    if isinstance(source, Mapping):
        label = "<mapping>"
        raw: Any = dict(source)
    elif not isinstance(source, (str, os.PathLike)):
        raise ConfigError(
            f"a configuration is a deployment YAML path, a mapping or None, not "
            f"{type(source).__name__}"
        )
    else:
        label = str(Path(source))
        raw = load_yaml_file(source)
        if raw is None:
            raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{label}: expected a mapping at the top, got {type(raw).__name__}")
    root_loc: tuple[str, ...] = ()
    if not _is_deployment(raw):
        raw = {"data_collector": raw}
    try:
        deployment = DeploymentConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(e, root_loc) for e in exc.errors()]
        raise ConfigError(
            f"invalid modeltap configuration in {label}:\n  " + "\n  ".join(lines)
        ) from None
    destination = deployment.data_collector.destination
    if destination is None:
        destination = os.environ.get("MODELTAP_DATA_DIR") or DEFAULT_DESTINATION
    if "://" not in destination:
        destination = str(Path(destination).expanduser().resolve())
    from modeltap.store import check_destination  # a missing extra fails here, with its hint

    paths = [c.data.path for c in (deployment.data_collector.collections or {}).values() if c.data]
    for url in [destination, *(p for p in paths if p and "://" in p)]:
        check_destination(url)
    return Settings(deployment=deployment, source=label, destination=destination)


def settings_from_env() -> Settings:
    """Settings from ``MODELTAP_DEPLOYMENT`` (a YAML path) or, without it, the defaults."""
    path = os.environ.get("MODELTAP_DEPLOYMENT")
    if path:
        return load_settings(path)
    return load_settings({})


def warn_if_not_listed(settings: Settings, name: str) -> None:
    """Log why a collection collects nothing: a WARNING naming the listed collections and the
    nearest match when ``name`` is not listed (a typo would turn capture off silently), an INFO
    line when it is listed and disabled. Nothing when it is enabled."""
    listed = settings.collector.collections
    if listed is None or settings.collection(name).enabled:
        return
    if name in listed:
        logger.info("collection %r is disabled by configuration: collect() does nothing", name)
        return
    names = sorted(listed)
    nearest = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    logger.warning(
        "collection %r is not among the collections listed in %s (%s), so collect() does "
        "nothing%s (list it under data_collector.collections to collect it)",
        name,
        settings.source,
        ", ".join(names) or "none",
        hint,
    )
