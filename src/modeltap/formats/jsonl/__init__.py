"""JSON lines: one CloudEvents-style record per collect() call, one line per record."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from modeltap.event import Event
from modeltap.formats.base import Encoded, FileRead, Format
from modeltap.formats.envelope import EnvelopeSource
from modeltap.formats.jsonl.decode import decode_file, decode_records
from modeltap.formats.jsonl.encode import EXTENSION, encode_event, encode_events
from modeltap.formats.jsonl.repair import cut_torn_line

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EXTENSION",
    "EnvelopeSource",
    "JsonLinesFormat",
    "decode_records",
    "encode_event",
    "encode_events",
]


class JsonLinesFormat(Format):
    """Records as lines: spooled as they are committed, appendable in any grouping."""

    name = "jsonl"
    extension = EXTENSION
    gathers_lines = True

    def encode(self, event: Event, envelope: EnvelopeSource) -> Encoded:
        """One record line."""
        line = encode_event(event, envelope)
        return Encoded(line, len(line))

    def encode_batch(
        self,
        events: Sequence[Event],
        envelope: EnvelopeSource,
        key: Callable[[Event], Hashable],
    ) -> list[tuple[list[Event], Encoded | Exception]]:
        """One group per event (the writer gathers lines per segment itself)."""
        lines = encode_events(events, envelope)
        return [
            ([event], line if isinstance(line, Exception) else Encoded(line, len(line)))
            for event, line in zip(events, lines, strict=True)
        ]

    def encode_lines(
        self, events: Sequence[Event], envelope: EnvelopeSource
    ) -> list[bytes | Exception]:
        """Each event's record line (small frames of one schema encoded together)."""
        return encode_events(events, envelope)

    def repair(self, handle: BinaryIO) -> int:
        """Cut a partial last line."""
        return cut_torn_line(handle)

    def count_events(self, handle: BinaryIO) -> int:
        """One event per line."""
        handle.seek(0)
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))

    def decode(self, file: FileRead) -> pa.Table:
        """See ``modeltap.formats.jsonl.decode``."""
        return decode_file(file)

    stores_records = True

    def records(self, content: bytes) -> Iterator[dict[str, Any]]:
        """Every record line of the file, parsed (blank lines skipped)."""
        return decode_records(content)
