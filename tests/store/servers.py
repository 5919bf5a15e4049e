"""Real object-store servers on loopback for the tests: moto (S3 protocol), Azurite (Azure Blob)
and gcp-storage-emulator (the GCS JSON API). Each can be stopped and started again on the same
port, keeping its data, to play an outage."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
AZURITE_PREFIX = REPO / ".cache" / "azurite"
AZURITE_BIN = AZURITE_PREFIX / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
S3_KEY = "testing"
S3_SECRET = "testing"  # moto accepts any credentials
GCS_PROJECT = "modeltap-tests"  # the emulator takes any project and needs no credentials


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``port`` (raise after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class InProcessServer:
    """A server thread of this process on a loopback port that stays the same across
    stop/start; subclasses start it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening: clients get connection refused."""
        if self._server is not None:
            self._server.stop()
            self._server = None


class MotoS3(InProcessServer):
    """moto's S3 server in this process (its data lives in the process, so it survives a
    stop/start)."""

    def __init__(self) -> None:
        super().__init__()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", S3_KEY)
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", S3_SECRET)

    def start(self) -> None:
        """Listen (again) on the same port."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        wait_for_port(self.port)

    def storage_options(self) -> dict[str, Any]:
        """s3fs options for this server (short timeouts, no client-side retry storms)."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"region_name": "us-east-1"},
            "config_kwargs": {
                "connect_timeout": 2,
                "read_timeout": 10,
                "retries": {"max_attempts": 1},
            },
        }

    def new_bucket(self) -> str:
        """Create a fresh bucket; return its name."""
        import boto3

        name = f"bucket-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        return name


def ensure_azurite() -> Path:
    """The azurite-blob launcher, installed with npm into ``.cache/azurite`` if missing."""
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("Azurite tests need Node.js and npm (npm install azurite)")
    subprocess.run(
        [npm, "install", "--prefix", str(AZURITE_PREFIX), "--no-audit", "--no-fund", "azurite"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return AZURITE_BIN


class Azurite:
    """Azurite's blob service as a child process; its data lives in a folder, so it survives a
    stop/start."""

    def __init__(self, location: Path) -> None:
        self.binary = ensure_azurite()
        self.location = location
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        """The well-known development-storage connection string for this server."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};"
        )

    def start(self) -> None:
        """Start (again) on the same port and data folder."""
        self.location.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                str(self.binary),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(self.location),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=60)

    def stop(self) -> None:
        """Stop the process (gracefully, so it saves its metadata)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
            self._process = None

    def storage_options(self) -> dict[str, Any]:
        """adlfs options for this server."""
        return {"connection_string": self.connection_string}

    def new_container(self) -> str:
        """Create a fresh container; return its name."""
        from azure.storage.blob import BlobServiceClient

        name = f"c{uuid.uuid4().hex[:12]}"
        client = BlobServiceClient.from_connection_string(self.connection_string)
        client.create_container(name)
        return name


class GcsEmulator(InProcessServer):
    """gcp-storage-emulator (the GCS JSON API, uploads simple and resumable) in this process; its
    data lives in a folder, so it survives a stop/start."""

    def __init__(self, location: Path) -> None:
        super().__init__()
        self.location = location
        logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)

    def start(self) -> None:
        """Listen (again) on the same port, with the data of the same folder."""
        from gcp_storage_emulator.server import create_server  # type: ignore[import-untyped]

        self.location.mkdir(parents=True, exist_ok=True)
        self._server = create_server(
            "127.0.0.1", self.port, in_memory=False, data_dir=str(self.location)
        )
        self._server.start()
        wait_for_port(self.port)

    def storage_options(self) -> dict[str, Any]:
        """gcsfs options for this server: its endpoint, no credentials, a project.

        No ``retry_timeout``: modeltap sets it for a gs:// destination with an ``endpoint_url``
        (see ``modeltap.store.fsspec_store``), and these tests would hang without it.
        """
        return {"endpoint_url": self.endpoint_url, "token": "anon", "project": GCS_PROJECT}

    def new_bucket(self) -> str:
        """Create a fresh bucket (a JSON API insert); return its name."""
        name = f"bucket-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project={GCS_PROJECT}",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        with direct.open(request, timeout=10) as response:
            assert json.loads(response.read())["name"] == name
        return name
