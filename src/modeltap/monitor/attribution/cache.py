"""Reference feature importances cached in the results store, so a monitor that runs every day
against the same reference trains its surrogate once.

An entry is ``{destination}/_monitoring/{monitor}/feature_importance/{fingerprint}.json``. The
fingerprint covers what the importances depend on: the reference (its label, window, row count
and schema; for files of training data each file's path, size and modification time), the
target column, the task, the feature type overrides and the surrogate's parameters. Collected
data is known by its window and row count (late records change the count), not by the asset's
last event time, which moves with every commit even outside the window. Any change gives
another fingerprint, so a stale entry is never used; entries are written whole (a temporary
file renamed into place on local disk, one put on object stores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from modeltap.errors import MonitorError
from modeltap.monitor.attribution.surrogate import PARAMETERS, TRAINING_SAMPLE, Importances
from modeltap.monitor.results import MONITORING_FOLDER
from modeltap.monitor.source import Source
from modeltap.monitor.windows import Window

__all__ = ["CACHE_FOLDER", "ImportanceCache", "reference_fingerprint"]

CACHE_FOLDER = "feature_importance"


def _file_stats(source: Source) -> list[list[Any]]:
    """(path, size, mtime) of each file of a training-data source, in path order."""
    if source.kind != "files":
        return []
    dataset = source.dataset()
    infos = dataset.filesystem.get_file_info(sorted(dataset.files))
    return [
        [info.path, info.size, info.mtime_ns if info.mtime_ns is not None else None]
        for info in infos
    ]


def reference_fingerprint(
    source: Source,
    window: Window,
    rows: int,
    schema: dict[str, pa.DataType],
    target: str,
    task: str | None,
    categorical: Sequence[str] = (),
    numerical: Sequence[str] = (),
) -> str:
    """A hex digest naming the reference importances learned with these inputs."""
    described = {
        "source": source.label,
        "window": [str(window.start), str(window.end)],
        "rows": rows,
        "schema": [[name, str(kind)] for name, kind in schema.items()],
        "files": _file_stats(source),
        "target": target,
        "task": task,
        "categorical": sorted(categorical),
        "numerical": sorted(numerical),
        "parameters": PARAMETERS,
        "sample": TRAINING_SAMPLE,
    }
    blob = orjson.dumps(described, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:32]


class ImportanceCache:
    """The reference importances of one monitor, by fingerprint."""

    def __init__(
        self, destination: str, monitor: str, storage_options: dict[str, Any] | None = None
    ) -> None:
        self.url = f"{destination.rstrip('/')}/{MONITORING_FOLDER}/{monitor}/{CACHE_FOLDER}"
        self._local = "://" not in destination or destination.startswith("file://")
        self._options = storage_options or {}

    def _fs(self) -> tuple[Any, str]:
        import fsspec

        return fsspec.core.url_to_fs(self.url, **self._options)  # type: ignore[no-any-return]

    def get(self, fingerprint: str) -> Importances | None:
        """The cached importances, or None."""
        try:
            if self._local:
                path = Path(self.url.removeprefix("file://")) / f"{fingerprint}.json"
                if not path.exists():
                    return None
                blob = path.read_bytes()
            else:
                fs, root = self._fs()
                try:
                    blob = fs.cat_file(f"{root}/{fingerprint}.json")
                except FileNotFoundError:
                    return None
            entry = orjson.loads(blob)
            return Importances(
                values={str(k): float(v) for k, v in entry["values"].items()},
                data_types={str(k): str(v) for k, v in entry["data_types"].items()},
                task=str(entry["task"]),
                training_rows=int(entry["training_rows"]),
                held_out_rows=int(entry["held_out_rows"]),
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # unreadable: learn again (and overwrite it)

    def put(self, fingerprint: str, importances: Importances) -> None:
        """Store importances under ``fingerprint``."""
        blob = orjson.dumps(
            {
                "values": importances.values,
                "data_types": importances.data_types,
                "task": importances.task,
                "training_rows": importances.training_rows,
                "held_out_rows": importances.held_out_rows,
            },
            option=orjson.OPT_INDENT_2,
        )
        try:
            if self._local:
                folder = Path(self.url.removeprefix("file://"))
                folder.mkdir(parents=True, exist_ok=True)
                temporary = folder / f".{fingerprint}.tmp-{secrets.token_hex(4)}"
                try:
                    temporary.write_bytes(blob)
                    os.replace(temporary, folder / f"{fingerprint}.json")
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        temporary.unlink()
            else:
                fs, root = self._fs()
                fs.pipe(f"{root}/{fingerprint}.json", blob)
        except OSError as exc:
            raise MonitorError(f"cannot write feature importances to {self.url}: {exc}") from None
