"""Real server processes on free loopback ports: start, wait until ready, read what they stored."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from modeltap.formats.jsonl import decode_records

SCRIPTS = Path(__file__).resolve().parent / "scripts"
_ANNOUNCE = re.compile(r"server on (http://\S+) with")
_START_TIMEOUT = 60.0
_MAIN = "import sys; from modeltap.cli import main; sys.exit(main())"


class ServerProcess:
    """A running ``modeltap serve`` / ``modeltap ingest`` process and its data folder."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, data_dir: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.data_dir = data_dir
        self.url = ""

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server."""
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def wait_started(self) -> None:
        """Block until the server announced itself and /ready answers 200."""
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.url:
            match = _ANNOUNCE.search(self.log())
            if match:
                self.url = match.group(1)
                break
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{self.log()}")
            time.sleep(0.05)
        with self.client() as client:
            while client.get("/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise AssertionError(f"server never became ready:\n{self.log()}")
                time.sleep(0.05)

    def wait_exit(self, timeout: float = 60.0) -> int:
        """The exit code, once the process ends."""
        return self.process.wait(timeout)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for a graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every committed record of a collection (any endpoint/deployment), file by file."""
        found: list[dict[str, Any]] = []
        for path in sorted(self.data_dir.rglob("*.jsonl")):
            parts = path.relative_to(self.data_dir).parts
            if parts[0].startswith(".") or collection not in parts:
                continue
            found.extend(decode_records(path.read_bytes()))
        return found

    def wait_records(
        self, collection: str, count: int, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` records of ``collection`` are committed."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.records(collection)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def write_deployment(folder: Path, **document: Any) -> Path:
    """Write a deployment YAML into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deployment.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def launch(
    folder: Path, *args: str, env: dict[str, str] | None = None, open_files: int | None = None
) -> ServerProcess:
    """Start ``modeltap <args> --port 0 --data-dir folder/data`` without waiting (with an
    open-file limit of ``open_files`` when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = folder / "data"
    log_path = folder / "server.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AZUREML_MDC")}
    environment.update(env or {})
    environment["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _MAIN, *args, "--port", "0", "--data-dir", str(data_dir)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            preexec_fn=None if open_files is None else lambda: resource.setrlimit(
                resource.RLIMIT_NOFILE, (open_files, open_files)
            ),
        )
    return ServerProcess(process, log_path, data_dir)


@contextmanager
def running(
    folder: Path, *args: str, env: dict[str, str] | None = None, open_files: int | None = None
) -> Iterator[ServerProcess]:
    """A started server, stopped (or killed) when the block ends."""
    server = launch(folder, *args, env=env, open_files=open_files)
    try:
        server.wait_started()
        yield server
    finally:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(60)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    """A folder for one test's server (deployment, log, data)."""
    return tmp_path / "server"
