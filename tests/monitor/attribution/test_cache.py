"""The reference-importance cache: fingerprints follow what the importances depend on."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modeltap.monitor.attribution.cache import ImportanceCache, reference_fingerprint
from modeltap.monitor.attribution.surrogate import Importances
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window

SCHEMA = {"a": pa.float64(), "y": pa.float64()}


def _files(tmp_path: Path) -> Source:
    """A training-data folder with one Parquet file."""
    folder = tmp_path / "training"
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [0.0, 1.0]}), folder / "part.parquet")
    return Source(str(folder), "files", str(folder), "parquet")


def test_fingerprint_follows_the_reference_and_settings(tmp_path: Path) -> None:
    """Rows, schema, window, target, task, overrides and a rewritten file change it; the
    asset's last event time (outside the window) does not."""
    source = _files(tmp_path)
    window = Window(None, None)
    base = reference_fingerprint(source, window, 2, SCHEMA, "y", None)
    assert base == reference_fingerprint(source, window, 2, SCHEMA, "y", None)
    variants = [
        reference_fingerprint(source, window, 3, SCHEMA, "y", None),
        reference_fingerprint(source, window, 2, {"a": pa.int64(), "y": pa.float64()}, "y", None),
        reference_fingerprint(source, window, 2, SCHEMA, "a", None),
        reference_fingerprint(source, window, 2, SCHEMA, "y", "regression"),
        reference_fingerprint(source, window, 2, SCHEMA, "y", None, categorical=["a"]),
    ]
    assert len({base, *variants}) == len(variants) + 1
    part = Path(source.location) / "part.parquet"
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert reference_fingerprint(source, window, 2, SCHEMA, "y", None) != base
    collected = Source("asset x:1", "collected", "/nowhere", last_time="2024-05-01T00:00:00Z")
    later = Source("asset x:1", "collected", "/nowhere", last_time="2024-05-09T00:00:00Z")
    bounded = Window(None, None)
    assert reference_fingerprint(collected, bounded, 2, SCHEMA, "y", None) == (
        reference_fingerprint(later, bounded, 2, SCHEMA, "y", None)
    )


def test_cache_round_trip_and_unreadable_entry(tmp_path: Path) -> None:
    """An entry reads back equal; a missing or corrupt one reads as None."""
    cache = ImportanceCache(str(tmp_path), "monitor")
    learned = Importances(
        {"a": 1.5, "b": 0.25}, {"a": "numerical", "b": "categorical"}, "regression", 10, 10
    )
    assert cache.get("abc") is None
    cache.put("abc", learned)
    assert cache.get("abc") == learned
    entry = tmp_path / "_monitoring" / "monitor" / "feature_importance" / "abc.json"
    assert entry.exists()
    entry.write_text("{not json", encoding="utf-8")
    assert cache.get("abc") is None
