"""Record formats behind one interface (``Format``): events to spool bytes, spool segments to
committed files, committed files to rows. ``get_format(name)`` and ``format_for_path(path)``
find one."""

from modeltap.formats.base import (
    BadRecords,
    Encoded,
    FileRead,
    Format,
    SegmentSchema,
    SkippedRecord,
)
from modeltap.formats.envelope import EnvelopeSource
from modeltap.formats.jsonl import decode_records, encode_event
from modeltap.formats.registry import DATA_EXTENSIONS, FORMAT_NAMES, format_for_path, get_format

__all__ = [
    "DATA_EXTENSIONS",
    "FORMAT_NAMES",
    "BadRecords",
    "Encoded",
    "EnvelopeSource",
    "FileRead",
    "Format",
    "SegmentSchema",
    "SkippedRecord",
    "decode_records",
    "encode_event",
    "format_for_path",
    "get_format",
]
