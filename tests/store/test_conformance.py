"""One conformance suite for every destination: local, memory, S3 (moto), Azure (Azurite) and GCS
(gcp-storage-emulator)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from modeltap.errors import StoreError
from modeltap.store import Destination, LocalDestination, open_destination
from modeltap.store.fsspec_store import FsspecDestination
from tests.store.servers import Azurite, GcsEmulator, MotoS3


class DestinationConformance:
    """Behaviour every destination must have; subclasses provide the ``destination`` fixture."""

    def _file(self, tmp_path: Path, content: bytes) -> Path:
        """A local file to publish (outside any destination)."""
        path = tmp_path / "outbox" / uuid.uuid4().hex
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def test_publish_then_read_back(self, destination: Destination, tmp_path: Path) -> None:
        """A published file reads back byte for byte and the local file is consumed."""
        local = self._file(tmp_path, b'{"a": 1}\n')
        destination.publish(local, "ep/dep/inputs/2024/05/01/10/i-000001.jsonl")
        assert destination.read_bytes("ep/dep/inputs/2024/05/01/10/i-000001.jsonl") == (
            b'{"a": 1}\n'
        )
        assert not local.exists()

    def test_retry_overwrites_instead_of_duplicating(
        self, destination: Destination, tmp_path: Path
    ) -> None:
        """Publishing the same name twice (a retry) leaves one file with the last content."""
        name = "ep/dep/inputs/2024/05/01/10/i-000002.jsonl"
        destination.publish(self._file(tmp_path, b"first\n"), name)
        destination.publish(self._file(tmp_path, b"second\n"), name)
        assert destination.list_files("ep/dep/inputs") == [name]
        assert destination.read_bytes(name) == b"second\n"

    def test_list_is_sorted_and_filtered_by_prefix(
        self, destination: Destination, tmp_path: Path
    ) -> None:
        """Listing returns the relative paths under a prefix, sorted, and nothing else."""
        names = [
            "ep/dep/outputs/2024/05/01/11/i-000004.jsonl",
            "ep/dep/outputs/2024/05/01/10/i-000003.jsonl",
            "ep/dep/inputs/2024/05/01/10/i-000009.jsonl",
        ]
        for name in names:
            destination.publish(self._file(tmp_path, name.encode()), name)
        assert destination.list_files("ep/dep/outputs") == sorted(names[:2])
        assert set(names) <= set(destination.list_files())

    def test_list_of_a_missing_prefix_is_empty(self, destination: Destination) -> None:
        """A prefix nothing was published under lists as empty, not as an error."""
        assert destination.list_files("nothing/here") == []

    def test_join_names_the_full_location(self, destination: Destination) -> None:
        """join() puts a relative path under the destination's URL or folder."""
        joined = destination.join("ep/dep/inputs/x.jsonl")
        assert joined.endswith("ep/dep/inputs/x.jsonl")
        assert joined.startswith(destination.url.rstrip("/"))

    def test_reading_a_missing_file_raises(self, destination: Destination) -> None:
        """Reading a file that was never published raises (never returns empty data)."""
        with pytest.raises((OSError, StoreError)):
            destination.read_bytes("ep/dep/inputs/missing.jsonl")


class TestLocalConformance(DestinationConformance):
    """A folder on this machine (commit is a rename)."""

    @pytest.fixture
    def destination(self, tmp_path: Path) -> Destination:
        """A fresh local destination."""
        return LocalDestination(tmp_path / "data", durable=False)


class TestMemoryConformance(DestinationConformance):
    """fsspec's in-memory file system."""

    @pytest.fixture
    def destination(self) -> Destination:
        """A fresh memory:// destination."""
        return open_destination(f"memory://conformance-{uuid.uuid4().hex}/root")


class TestS3Conformance(DestinationConformance):
    """An S3-protocol server (moto) through s3fs."""

    @pytest.fixture
    def destination(self, moto_s3: MotoS3) -> Destination:
        """A prefix in a fresh bucket."""
        bucket = moto_s3.new_bucket()
        return open_destination(f"s3://{bucket}/root", moto_s3.storage_options())


class TestAzureConformance(DestinationConformance):
    """Azure Blob (Azurite) through adlfs."""

    @pytest.fixture
    def destination(self, azurite: Azurite) -> Destination:
        """A prefix in a fresh container."""
        container = azurite.new_container()
        return open_destination(f"az://{container}/root", azurite.storage_options())


class TestGcsConformance(DestinationConformance):
    """Google Cloud Storage (gcp-storage-emulator, JSON API) through gcsfs."""

    @pytest.fixture
    def destination(self, gcs_emulator: GcsEmulator) -> Destination:
        """A prefix in a fresh bucket."""
        bucket = gcs_emulator.new_bucket()
        return open_destination(f"gs://{bucket}/root", gcs_emulator.storage_options())


def test_failed_upload_keeps_the_local_file(tmp_path: Path, moto_s3: MotoS3) -> None:
    """An upload to an unreachable store raises StoreError and keeps the spooled file."""
    options = moto_s3.storage_options()
    options["endpoint_url"] = "http://127.0.0.1:9"  # the discard port: nothing listens
    destination = FsspecDestination("s3://nowhere/root", options)
    local = tmp_path / "segment.jsonl"
    local.write_bytes(b"kept\n")
    with pytest.raises(StoreError):
        destination.publish(local, "ep/dep/inputs/x.jsonl")
    assert local.read_bytes() == b"kept\n"


def test_storage_options_reach_the_file_system(moto_s3: MotoS3) -> None:
    """storage_options from the configuration configure the client (endpoint URL here)."""
    bucket = moto_s3.new_bucket()
    destination = open_destination(f"s3://{bucket}", moto_s3.storage_options())
    assert isinstance(destination, FsspecDestination)
    assert destination.fs.client_kwargs.get("region_name") == "us-east-1"
    assert destination.fs.endpoint_url == moto_s3.endpoint_url
