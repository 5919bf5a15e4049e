"""Fakes for your own tests: run a scoring script through the real pipeline into a store that
lives in memory, then look at what it collected.

``capture()`` configures modeltap for the duration of a ``with`` block: every collection enabled
(or the collections, sampling and format of the configuration you pass), a unique ``memory://``
destination, and a spool in a temporary folder. On exit it commits everything, stops the
pipeline it started, removes the temporary folder and puts the previous configuration back, so
nothing is left on disk and the next ``configure()`` or ``collect()`` works as before::

    import modeltap.testing
    import score  # your scoring script

    def test_inputs_and_outputs_share_a_correlation_id() -> None:
        with modeltap.testing.capture() as captured:
            score.init()
            score.run('{"data": {"age": [31, 58], "income": [52.5, 95.5]}}')
        (inputs,) = captured.records("model_inputs")
        (outputs,) = captured.records("model_outputs")
        assert inputs["correlationid"] == outputs["correlationid"]
        assert captured.frame("model_inputs")["age"].tolist() == [31, 58]

As a pytest fixture (no plugin needed)::

    @pytest.fixture
    def captured() -> Iterator[modeltap.testing.Capture]:
        with modeltap.testing.capture() as captured:
            yield captured

The capture is process-wide, like ``configure()``: collectors created before the block collect
into it too, and captures nest (the inner one restores the outer one). What was captured stays
readable after the block, from memory, until the ``Capture`` object is garbage collected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from modeltap.config import FsyncPolicy, Settings, check_collection_name, load_settings
from modeltap.errors import ConfigError, ModelTapError
from modeltap.formats import DATA_EXTENSIONS, format_for_path
from modeltap.pipeline import runtime as _pipeline
from modeltap.reading import ENVELOPE_COLUMNS, read
from modeltap.stats import PipelineStats
from modeltap.store import Destination, open_destination

__all__ = ["Capture", "capture"]


def _forget(url: str) -> None:
    """Remove a capture's ``memory://`` tree."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    with contextlib.suppress(FileNotFoundError):
        fs.rm(root, recursive=True)


def _isolated(settings: Settings, url: str, spool: str) -> dict[str, Any]:
    """The deployment of ``settings`` writing to ``url`` with its spool in ``spool``; every
    collection's ``data.path`` is dropped so that nothing is written anywhere else."""
    section = settings.collector
    collections = section.collections
    if collections is not None:
        collections = {
            name: entry
            if entry.data is None
            else entry.model_copy(update={"data": entry.data.model_copy(update={"path": None})})
            for name, entry in collections.items()
        }
    section = section.model_copy(
        update={
            "destination": url,
            "storage_options": {},
            "spool_dir": spool,
            "fsync": FsyncPolicy.NEVER,
            "collections": collections,
            "writer": "thread",  # a memory:// store lives in this process only
        }
    )
    return settings.deployment.model_copy(update={"data_collector": section}).model_dump()


class Capture:
    """What a :func:`capture` block collected: records, frames, collection names and stats."""

    def __init__(self, settings: Settings, timeout: float) -> None:
        self.settings = settings
        self.destination = settings.destination
        self._store: Destination = open_destination(settings.destination)
        self._timeout = timeout
        self._final_stats: PipelineStats | None = None
        weakref.finalize(self, _forget, settings.destination)

    def __repr__(self) -> str:
        state = "active" if self.active else "finished"
        return f"<Capture {self.destination} ({state})>"

    @property
    def active(self) -> bool:
        """Whether the ``with`` block is still running."""
        return self._final_stats is None

    @property
    def stats(self) -> PipelineStats:
        """``modeltap.stats()`` of the capture (frozen when the block ends)."""
        if self._final_stats is not None:
            return self._final_stats
        return _pipeline.stats()

    def collections(self) -> list[str]:
        """Names of the collections that have committed data, sorted."""
        prefix = f"{self.settings.endpoint}/{self.settings.deployment_name}"
        return sorted({path.split("/", 1)[0] for path in self._files(prefix)})

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every record of ``collection`` as in its JSON-lines files (``specversion``, ``id``,
        ``correlationid``, ``data`` ...), in the order collected; ``[]`` if none."""
        records: list[dict[str, Any]] = []
        for relative in self._collection_files(collection):
            kind = format_for_path(relative)
            if kind is None:
                continue
            if not kind.stores_records:
                raise ConfigError(
                    f"records({collection!r}): this capture writes format {kind.name!r}, which "
                    "holds rows, not records; use frame(), or capture a configuration with "
                    "format 'jsonl'"
                )
            records.extend(kind.records(self._store.read_bytes(relative)))
        records.sort(key=lambda record: str(record.get("time", "")))  # files of two pipelines
        return records

    def frame(self, collection: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows of ``collection`` as ``modeltap.read()`` returns them (``correlationid``,
        ``xrequestid``, ``time``, ``row_index``, then the data's columns), in the order
        collected; ``columns`` picks and orders the columns. Empty if nothing was collected."""
        if not self._collection_files(collection):
            return pd.DataFrame(columns=list(columns or ENVELOPE_COLUMNS))
        frame = read(self._collection_url(collection))
        if "time" in frame.columns:
            frame = frame.sort_values("time", kind="stable", ignore_index=True)
        return frame if columns is None else frame.reindex(columns=list(columns))

    def _collection_url(self, collection: str) -> str:
        check_collection_name(collection)
        endpoint, deployment = self.settings.endpoint, self.settings.deployment_name
        return f"{self.destination}/{endpoint}/{deployment}/{collection}"

    def _collection_files(self, collection: str) -> list[str]:
        """The committed data files of one collection, relative to the destination."""
        prefix = self._collection_url(collection)[len(self.destination) + 1 :]
        return [f"{prefix}/{path}" for path in self._files(prefix)]

    def _files(self, prefix: str) -> list[str]:
        """Committed data files under ``prefix`` (after a flush while the block runs),
        relative to it, sorted; out-of-line payloads and the catalog are left out."""
        if self.active and not _pipeline.flush(self._timeout):
            raise ModelTapError(f"the capture did not commit within {self._timeout} s")
        found = []
        for path in self._store.list_files(prefix):
            relative = path[len(prefix) + 1 :] if path.startswith(prefix + "/") else path
            parts = relative.split("/")
            if relative.endswith(DATA_EXTENSIONS) and not any(p.startswith("_") for p in parts):
                found.append(relative)
        return found

    def _finish(self, stopped: bool, stats: PipelineStats) -> None:
        self._final_stats = stats
        if not stopped:
            raise ModelTapError(
                f"the capture's pipeline did not commit and stop within {self._timeout} s: "
                "what it collected may be incomplete (raise capture(timeout=...)?)"
            )


@contextlib.contextmanager
def capture(
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    timeout: float = 30.0,
) -> Iterator[Capture]:
    """Configure modeltap for the block to a fresh in-memory store and yield a
    :class:`Capture` of what it collects; restore the previous configuration on exit.

    ``config`` is what ``modeltap.configure()`` takes (a deployment YAML path or a mapping);
    its collections, sampling, format and names apply, while its destination, storage options,
    spool and ``data.path`` are replaced. Without it every collection is enabled (the
    environment's ``MODELTAP_DEPLOYMENT`` is not read). ``timeout`` bounds each commit wait.
    """
    settings = load_settings({} if config is None else config)
    url = f"memory://modeltap-capture-{uuid.uuid4().hex}"
    spool = tempfile.mkdtemp(prefix="modeltap-capture-")
    try:
        isolated = load_settings(_isolated(settings, url, spool))
    except BaseException:
        shutil.rmtree(spool, ignore_errors=True)
        raise
    previous, _, _ = _pipeline.swap_settings(isolated, timeout)
    try:
        captured = Capture(isolated, timeout)
    except BaseException:
        _stop(previous, spool, timeout)
        raise
    try:
        yield captured
    except BaseException:
        captured._final_stats = _stop(previous, spool, timeout)[1]
        raise
    stopped, stats = _stop(previous, spool, timeout)
    captured._finish(stopped, stats)


def _stop(previous: Settings | None, spool: str, timeout: float) -> tuple[bool, PipelineStats]:
    """Commit and stop the capture's pipeline, put ``previous`` back in force (None: loaded
    from the environment on first use) and remove the spool: (stopped in time, final stats)."""
    try:
        _, stopped, stats = _pipeline.swap_settings(previous, timeout)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    return stopped, stats
