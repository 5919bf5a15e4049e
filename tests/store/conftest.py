"""Object-store servers for the store tests, started once per session on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store.servers import Azurite, GcsEmulator, MotoS3


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server, running for the whole session."""
    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service, running for the whole session."""
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """The GCS emulator (JSON API), running for the whole session."""
    server = GcsEmulator(tmp_path_factory.mktemp("gcs"))
    server.start()
    yield server
    server.stop()
