"""The formats by name (the configuration's ``format``) and by committed file name."""

from __future__ import annotations

from functools import cache

from modeltap.errors import ConfigError
from modeltap.formats.base import Format

__all__ = ["DATA_EXTENSIONS", "FORMAT_NAMES", "format_for_path", "get_format"]

FORMAT_NAMES = ("jsonl", "parquet")
DATA_EXTENSIONS = tuple(f".{name}" for name in FORMAT_NAMES)
"""The suffixes of committed data files (every format's extension is its name)."""


@cache
def get_format(name: str) -> Format:
    """The format called ``name`` (one shared instance per process)."""
    if name == "jsonl":
        from modeltap.formats.jsonl import JsonLinesFormat

        return JsonLinesFormat()
    if name == "parquet":
        from modeltap.formats.parquet import ParquetFormat

        return ParquetFormat()
    raise ConfigError(f"unknown record format {name!r}: use one of {', '.join(FORMAT_NAMES)}")


def format_for_path(path: str) -> Format | None:
    """The format of a committed file or spool segment by its name (``*.parquet``,
    ``*.jsonl.part`` ...), or None for other files."""
    name = path.rsplit("/", 1)[-1].removesuffix(".part")
    for extension in FORMAT_NAMES:
        if name.endswith(f".{extension}"):
            return get_format(extension)
    return None
