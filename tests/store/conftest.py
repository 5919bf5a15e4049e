"""Object-store servers for the store tests, started once per session on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.store.servers import Azurite, GcsEmulator, MotoS3

Server = TypeVar("Server", MotoS3, Azurite, GcsEmulator)


def _serving(server: Server) -> Iterator[Server]:
    """Start ``server``, hand it out, and stop it when the session ends."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server, running for the whole session."""
    yield from _serving(MotoS3())


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service, running for the whole session."""
    yield from _serving(Azurite(tmp_path_factory.mktemp("azurite")))


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """The GCS emulator (JSON API), running for the whole session."""
    yield from _serving(GcsEmulator(tmp_path_factory.mktemp("gcs")))
