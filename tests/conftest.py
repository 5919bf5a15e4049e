"""Shared fixtures: an isolated environment per test and a pipeline writing under tmp_path."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import modeltap
from modeltap.config import Settings
from modeltap.formats.jsonl import decode_records
from modeltap.pipeline import runtime as runtime_module
from modeltap.store.local import LocalDestination

# The test tiers. ``make test-fast`` runs ``-m "not integration and not slow"``: unit tests only,
# no servers, emulators, subprocesses, forks or sockets. A test is ``integration`` when it, or a
# fixture it uses, matches INTEGRATION_SOURCE (how this suite starts servers, emulators, writer
# processes and forks), or when its module is listed in INTEGRATION_MODULES (its helpers do), so
# new tests are sorted without a marker of their own; ``slow`` stays for long end-to-end tests.
# With MODELTAP_TEST_TIER=fast (set by ``make test-fast``) a test that still starts a process,
# forks or opens a socket fails, naming the marker it needs.
INTEGRATION_SOURCE = re.compile(
    r"\bsubprocess\b|\bPopen\b|\bos\.fork\b|\bmultiprocessing\b|\buvicorn\b|\bpyspark\b"
    r"|\bsocket\.(?:socket|create_connection|create_server)\b|\b(?:running|launch)\("
    r"|[\"']process[\"']|writer: process"
    r"|\bmoto_s3\b|\bazurite\b|\bgcs_emulator\b|\bServerProcess\b"
)
INTEGRATION_MODULES = frozenset({
    "pipeline/test_outage.py",  # a store server on loopback through the module's helpers
    "server/test_process.py",  # listening sockets, `modeltap serve` processes
    "server/test_run_threads.py",  # `modeltap serve` processes through the module's helper
})
TIER_VARIABLE = "MODELTAP_TEST_TIER"


def _source(function: object) -> str:
    try:
        return inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _is_integration(item: pytest.Item) -> bool:
    """Whether a test, or a fixture it uses, starts servers, emulators, processes or sockets."""
    path = Path(str(item.path)).resolve()
    if path.relative_to(Path(__file__).resolve().parent).as_posix() in INTEGRATION_MODULES:
        return True
    sources = [_source(getattr(item, "function", None))]
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        if name == "unit_tier_guard":
            continue
        for definition in (info.name2fixturedefs.get(name, ()) if info else ()):
            sources.append(_source(definition.func))
    return any(INTEGRATION_SOURCE.search(source) for source in sources)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that is not a unit test ``integration`` (see INTEGRATION_SOURCE)."""
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


# Libraries whose import runs a command (croniter and mlflow ask `file` and `uname` about the
# machine through the platform module): in the fast tier they are imported before any guard, so a
# unit test that merely imports them is not taken for one that starts a process.
_RUN_A_COMMAND_ON_IMPORT = ("croniter", "mlflow.pyfunc")


def pytest_configure(config: pytest.Config) -> None:
    """In the fast tier, import the libraries that run a command on import (see above)."""
    if os.environ.get(TIER_VARIABLE) == "fast":
        for module in _RUN_A_COMMAND_ON_IMPORT:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)


@pytest.fixture(autouse=True)
def unit_tier_guard(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """In the fast tier, fail a test that starts a process, forks or opens a socket."""
    if os.environ.get(TIER_VARIABLE) != "fast" or request.node.get_closest_marker("integration"):
        yield
        return

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(
                f"{request.node.nodeid} {what} in the fast tier: mark it "
                "@pytest.mark.integration (or see INTEGRATION_MODULES in tests/conftest.py)"
            )

        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))
    monkeypatch.setattr(os, "fork", refuse("forks"))
    monkeypatch.setattr(socket.socket, "connect", refuse("opens a connection"))
    monkeypatch.setattr(socket.socket, "bind", refuse("binds a socket"))
    yield


ConfigureTap = Callable[..., Settings]
ReadRecords = Callable[[str], list[dict[str, Any]]]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_script(path: Path) -> ModuleType:
    """Import a scoring script from a file, as a scoring server does."""
    spec = importlib.util.spec_from_file_location(f"score_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No deployment file from the environment, data under tmp_path, no pipeline left behind."""
    monkeypatch.delenv("MODELTAP_DEPLOYMENT", raising=False)
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(tmp_path / "default-data"))
    yield
    modeltap.shutdown(timeout=30)
    with runtime_module._lock:
        runtime_module._runtime = None
        runtime_module._settings = None


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The destination folder the ``configure_tap`` pipeline commits to."""
    return tmp_path / "data"


@pytest.fixture
def configure_tap(data_dir: Path) -> Iterator[ConfigureTap]:
    """``configure_tap(**data_collector_keys)`` configures modeltap to write under ``data_dir``
    (a deployment named endpoint ``ep`` / deployment ``dep``); shut down after the test."""

    def configure(**options: Any) -> Settings:
        section: dict[str, Any] = {"destination": str(data_dir), "fsync": "never"}
        section.update(options)
        return modeltap.configure(
            {"endpoint_name": "ep", "name": "dep", "data_collector": section}
        )

    yield configure
    modeltap.shutdown(timeout=30)


@pytest.fixture
def read_records(data_dir: Path) -> ReadRecords:
    """``read_records(collection)`` flushes and returns every committed record of it, in order."""

    def read(collection: str) -> list[dict[str, Any]]:
        assert modeltap.flush(timeout=30), "flush did not finish in 30 s"
        destination = LocalDestination(data_dir, durable=False)
        records: list[dict[str, Any]] = []
        for relative in destination.list_files(f"ep/dep/{collection}"):
            records.extend(decode_records(destination.read_bytes(relative)))
        return records

    return read
