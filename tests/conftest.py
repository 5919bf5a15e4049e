"""Shared fixtures: an isolated environment per test and a pipeline writing under tmp_path."""

from __future__ import annotations

import importlib.util
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
