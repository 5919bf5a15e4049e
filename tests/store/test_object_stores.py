"""The whole pipeline committing to object stores: S3 (moto), Azure Blob (Azurite) and GCS
(gcp-storage-emulator), in JSON lines and Parquet, with storage_options from the configuration."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.errors import MissingDependencyError
from modeltap.formats.jsonl import decode_records
from modeltap.store import Destination, open_destination
from tests.store.servers import Azurite, GcsEmulator, MotoS3

EVENTS = 20


def _collect_and_read(
    url: str, options: dict[str, Any], fmt: str, spool: Path
) -> tuple[Destination, list[str], list[str]]:
    """Collect EVENTS frames into ``url``; return the destination, its files and the
    correlation ids found in them."""
    modeltap.configure(
        {
            "endpoint_name": "ep",
            "name": "dep",
            "data_collector": {
                "destination": url,
                "storage_options": options,
                "format": fmt,
                "spool_dir": str(spool),
                "fsync": "never",
            },
        }
    )
    inputs = Collector(name="model_inputs")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, 2.5], "s": ["a", "b", "c"]})
    for i in range(EVENTS):
        inputs.collect(frame, BasicCorrelationContext(id=f"e{i}"))
    assert modeltap.flush(timeout=60)
    destination = open_destination(url, options)
    files = destination.list_files("ep/dep/model_inputs")
    ids: list[str] = []
    for name in files:
        blob = destination.read_bytes(name)
        if fmt == "parquet":
            table = pq.read_table(io.BytesIO(blob))
            assert table.column("x").type == "int64"
            ids.extend(table.column("correlationid").to_pylist())
        else:
            for record in decode_records(blob):
                ids.extend([record["correlationid"]] * len(record["data"]))
    modeltap.shutdown(timeout=30)
    return destination, files, ids


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_collect_to_s3(moto_s3: MotoS3, tmp_path: Path, fmt: str) -> None:
    """Every row collected lands once in the bucket under the partitioned layout."""
    bucket = moto_s3.new_bucket()
    _, files, ids = _collect_and_read(
        f"s3://{bucket}/captures", moto_s3.storage_options(), fmt, tmp_path / "spool"
    )
    assert files and all(f.endswith(f".{fmt}") for f in files)
    assert all(len(f.split("/")) == 8 for f in files)  # ep/dep/coll/yyyy/MM/dd/HH/name
    assert sorted(ids) == sorted(f"e{i}" for i in range(EVENTS) for _ in range(3))
    assert not list((tmp_path / "spool").rglob("*.part")), "committed segments leave the spool"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_collect_to_azure(azurite: Azurite, tmp_path: Path, fmt: str) -> None:
    """Every row collected lands once in the container under the partitioned layout."""
    container = azurite.new_container()
    _, files, ids = _collect_and_read(
        f"az://{container}/captures", azurite.storage_options(), fmt, tmp_path / "spool"
    )
    assert files and all(f.endswith(f".{fmt}") for f in files)
    assert sorted(ids) == sorted(f"e{i}" for i in range(EVENTS) for _ in range(3))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_collect_to_gcs(gcs_emulator: GcsEmulator, tmp_path: Path, fmt: str) -> None:
    """Every row collected lands once in the GCS bucket under the partitioned layout."""
    bucket, options = gcs_emulator.new_bucket(), gcs_emulator.storage_options()
    _, files, ids = _collect_and_read(f"gs://{bucket}/captures", options, fmt, tmp_path / "spool")
    assert files and all(f.endswith(f".{fmt}") for f in files)
    assert all(len(f.split("/")) == 8 for f in files)  # ep/dep/coll/yyyy/MM/dd/HH/name
    assert sorted(ids) == sorted(f"e{i}" for i in range(EVENTS) for _ in range(3))
    assert not list((tmp_path / "spool").rglob("*.part")), "committed segments leave the spool"
    frame = modeltap.read(f"gs://{bucket}/captures/ep/dep/model_inputs", storage_options=options)
    assert sorted(frame["correlationid"]) == sorted(ids)
    assert sorted(frame["x"]) == sorted([1, 2, 3] * EVENTS) and str(frame["x"].dtype) == "int64"


def test_collect_to_memory(tmp_path: Path) -> None:
    """memory:// works as a destination too (for tests of user code)."""
    _, files, ids = _collect_and_read("memory://tap-tests/root", {}, "jsonl", tmp_path / "sp")
    assert files
    assert len(ids) == EVENTS * 3


def test_commit_stats_count_successes(moto_s3: MotoS3, tmp_path: Path) -> None:
    """stats() counts committed files, and a healthy store shows no failures."""
    bucket = moto_s3.new_bucket()
    modeltap.configure(
        {
            "destination": f"s3://{bucket}",
            "storage_options": moto_s3.storage_options(),
            "spool_dir": str(tmp_path / "spool"),
        }
    )
    Collector(name="model_inputs").collect([{"a": 1}])
    assert modeltap.flush(timeout=60)
    stats = modeltap.stats()
    assert stats.total("files_committed") == 1
    assert stats.commit_failures == 0
    assert stats.spool_segments == 0 and stats.spool_bytes == 0


def test_missing_extra_fails_at_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A destination whose library is not installed fails at configure() with the hint."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        """Pretend gcsfs is not installed."""
        return None if name == "gcsfs" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError, match=r'pip install "modeltap\[gcs\]"'):
        modeltap.configure({"destination": "gs://bucket/root"})


class _RestartableStore(Protocol):
    """A store server on loopback that a test can stop and start again, keeping its data."""

    def start(self) -> None:
        """Listen (again) on the same port."""

    def stop(self) -> None:
        """Stop listening."""

    def storage_options(self) -> dict[str, Any]:
        """The fsspec options that reach this server."""


def _outage_then_recovery(
    server: _RestartableStore, new_root: Callable[[], str], tmp_path: Path
) -> None:
    """Start ``server``, collect, stop it, collect, start it again: every event is committed
    exactly once and the ones of the outage waited in the spool."""
    server.start()
    try:
        url = new_root()
        modeltap.configure(
            {
                "endpoint_name": "ep",
                "name": "dep",
                "data_collector": {
                    "destination": url,
                    "storage_options": server.storage_options(),
                    "spool_dir": str(tmp_path / "spool"),
                    "segment_max_age": 0.5,
                },
            }
        )
        inputs = Collector(name="model_inputs")
        for i in range(10):
            inputs.collect([{"i": i}], BasicCorrelationContext(id=f"e{i}"))
        assert modeltap.flush(timeout=60)
        server.stop()
        for i in range(10, 20):
            inputs.collect([{"i": i}], BasicCorrelationContext(id=f"e{i}"))
        assert not modeltap.flush(timeout=3), "the store is down: nothing can be committed"
        waiting = modeltap.stats()
        server.start()
        assert modeltap.flush(timeout=90)
        destination = open_destination(url, server.storage_options())
        ids = [
            record["correlationid"]
            for name in destination.list_files("ep/dep/model_inputs")
            if name.endswith(".jsonl")
            for record in decode_records(destination.read_bytes(name))
        ]
    finally:
        modeltap.shutdown(timeout=30)
        server.stop()
    assert waiting.spool_segments >= 1, "the events collected during the outage waited"
    assert sorted(ids) == sorted(f"e{i}" for i in range(20))


@pytest.mark.slow
def test_azure_outage_then_recovery_commits_everything_once(tmp_path: Path) -> None:
    """Events collected while Azurite is down wait in the spool and are committed once it is
    back; events committed before the outage are not committed again."""
    server = Azurite(tmp_path / "azurite")
    _outage_then_recovery(server, lambda: f"az://{server.new_container()}/root", tmp_path)


@pytest.mark.slow
def test_gcs_outage_then_recovery_commits_everything_once(tmp_path: Path) -> None:
    """Events collected while the GCS emulator is down wait in the spool and are committed once
    it is back; events committed before the outage are not committed again."""
    server = GcsEmulator(tmp_path / "gcs")
    _outage_then_recovery(server, lambda: f"gs://{server.new_bucket()}/root", tmp_path)


def test_yaml_storage_options_and_a_collection_path_on_another_bucket(
    moto_s3: MotoS3, tmp_path: Path
) -> None:
    """storage_options come from the deployment YAML; a collection's data.path may point at
    another bucket, reached with the same options."""
    main, other = moto_s3.new_bucket(), moto_s3.new_bucket()
    options = moto_s3.storage_options()
    deployment = {
        "endpoint_name": "ep",
        "name": "dep",
        "data_collector": {
            "destination": f"s3://{main}/root",
            "storage_options": options,
            "spool_dir": str(tmp_path / "spool"),
            "collections": {
                "model_inputs": {"enabled": True},
                "model_outputs": {"enabled": True, "data": {"path": f"s3://{other}/outs"}},
            },
        },
    }
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(deployment))
    modeltap.configure(path)
    Collector(name="model_inputs").collect([{"a": 1}])
    Collector(name="model_outputs").collect([{"b": 2}])
    assert modeltap.flush(timeout=60)
    inputs = open_destination(f"s3://{main}/root", options).list_files("ep/dep/model_inputs")
    outputs = [
        f for f in open_destination(f"s3://{other}/outs", options).list_files() if "jsonl" in f
    ]
    assert len(inputs) == 1 and inputs[0].endswith(".jsonl")
    assert len(outputs) == 1 and len(outputs[0].split("/")) == 5  # yyyy/MM/dd/HH/name
