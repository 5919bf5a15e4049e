"""The data asset record: what a manifest holds, and the merge that never loses information."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from modeltap.errors import AssetNotFoundError

__all__ = [
    "DataAsset",
    "merge_columns",
    "merge_types",
    "parse_asset_ref",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


def merge_types(a: str, b: str) -> str:
    """The union of two type descriptions: ``int64`` + ``double`` -> ``double|int64``."""
    if a == b:
        return a
    parts = {p for p in a.split("|") if p} | {p for p in b.split("|") if p}
    if "null" in parts and len(parts) > 1:
        parts.discard("null")
    return "|".join(sorted(parts))


def merge_columns(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, str]:
    """Columns seen by either side, types united; order: ``a``'s first, then ``b``'s new ones."""
    merged = dict(a)
    for name, kind in b.items():
        merged[name] = merge_types(merged[name], kind) if name in merged else kind
    return merged


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True)
class DataAsset:
    """A registered collection: name, version, where its files are and what they hold.

    Times are RFC 3339 strings in UTC (``2024-05-01T12:00:00.000Z``), which sort as text.
    """

    name: str
    version: str
    root: str
    format: str = "jsonl"
    collection: str = ""
    endpoint: str = ""
    deployment: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    first_event_time: str | None = None
    last_event_time: str | None = None
    created: str | None = None
    updated: str | None = None
    destination: str = ""

    @property
    def ref(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    def merge(self, other: DataAsset) -> DataAsset:
        """Combine two views of the same asset: columns united, the earliest first time and
        creation, the latest last time and update. Commutative and idempotent, so concurrent
        contributions can be merged in any order without losing any of them."""
        return replace(
            self,
            columns=merge_columns(self.columns, other.columns),
            first_event_time=_min(self.first_event_time, other.first_event_time),
            last_event_time=_max(self.last_event_time, other.last_event_time),
            created=_min(self.created, other.created),
            updated=_max(self.updated, other.updated),
        )

    def to_json(self) -> bytes:
        """The manifest's bytes."""
        body = {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "format": self.format,
            "collection": self.collection,
            "endpoint": self.endpoint,
            "deployment": self.deployment,
            "columns": self.columns,
            "first_event_time": self.first_event_time,
            "last_event_time": self.last_event_time,
            "created": self.created,
            "updated": self.updated,
        }
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, blob: bytes, destination: str = "") -> DataAsset:
        """Parse a manifest; unknown keys are ignored (newer writers may add some)."""
        raw: Any = orjson.loads(blob)
        if not isinstance(raw, dict) or "name" not in raw or "root" not in raw:
            raise ValueError("not a data asset manifest")
        columns = raw.get("columns") or {}
        return cls(
            name=str(raw["name"]),
            version=str(raw.get("version", "1")),
            root=str(raw["root"]),
            format=str(raw.get("format", "jsonl")),
            collection=str(raw.get("collection", "")),
            endpoint=str(raw.get("endpoint", "")),
            deployment=str(raw.get("deployment", "")),
            columns={str(k): str(v) for k, v in columns.items()},
            first_event_time=raw.get("first_event_time"),
            last_event_time=raw.get("last_event_time"),
            created=raw.get("created"),
            updated=raw.get("updated"),
            destination=destination,
        )


def parse_asset_ref(ref: str) -> tuple[str, str | None]:
    """``name`` or ``name:version`` -> (name, version or None)."""
    name, _, version = ref.partition(":")
    if not _NAME_RE.match(name) or (version and not _NAME_RE.match(version)):
        raise AssetNotFoundError(
            f"{ref!r} is not a data asset reference: use NAME or NAME:VERSION "
            "(letters, digits, '.', '_', '-')"
        )
    return name, version or None
