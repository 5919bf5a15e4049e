"""The format registry: formats by name and by file name, and the only place that knows them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modeltap
from modeltap.errors import ConfigError
from modeltap.formats import DATA_EXTENSIONS, FORMAT_NAMES, format_for_path, get_format

SRC = Path(modeltap.__file__).parent
# modeltap.monitor reads files of any origin (training data in CSV, JSON, Parquet ...) by their
# suffix: those are other programs' files, not modeltap's formats
FOREIGN_FILES = ("monitor",)


def test_formats_by_name_and_by_file_name() -> None:
    """Every format is found by its name and by its committed and spooled file names."""
    for name in FORMAT_NAMES:
        kind = get_format(name)
        assert kind.name == name
        assert format_for_path(f"a/b/2026/12/06/18/x.{kind.extension}") is kind
        assert format_for_path(f"spool/x.{kind.extension}.part") is kind
    assert format_for_path("a/_payloads/x.json") is None
    assert tuple(f".{get_format(n).extension}" for n in FORMAT_NAMES) == DATA_EXTENSIONS
    with pytest.raises(ConfigError, match="jsonl, parquet"):
        get_format("csv")


def test_records_only_from_formats_that_store_them() -> None:
    """JSON lines gives back its records; a row format says it stores rows."""
    jsonl, parquet = get_format("jsonl"), get_format("parquet")
    assert jsonl.stores_records and not parquet.stores_records
    assert list(jsonl.records(b'{"id": "1", "data": [1]}\n\n{"id": "2"}\n')) == [
        {"id": "1", "data": [1]},
        {"id": "2"},
    ]
    with pytest.raises(NotImplementedError, match="rows, not records"):
        parquet.records(b"")


def test_no_module_outside_formats_names_a_data_file_extension() -> None:
    """Code outside modeltap.formats finds a file's format through the registry, never by
    comparing its name with '.jsonl' or '.parquet'."""
    extensions = set(DATA_EXTENSIONS)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        if package in ("formats", *FOREIGN_FILES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in extensions:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert not found, f"use modeltap.formats (format_for_path, DATA_EXTENSIONS): {found}"
