"""Parquet: one file per committed segment, one row per data row, spooled as Arrow IPC frames.

While a segment is open each event is appended as a frame (``frames``) of its Arrow table
(``tables``); the frames of a segment share a lossless schema union (``union``); at commit they
are unified into one table and written as Parquet (``convert``), which the reader reads back
(``decode``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from modeltap.event import Event
from modeltap.formats.base import Encoded, FileRead, Format, SegmentSchema
from modeltap.formats.envelope import EnvelopeSource
from modeltap.formats.parquet.convert import COMPRESSION, ROW_GROUP_ROWS, spool_to_parquet
from modeltap.formats.parquet.decode import decode_file, read_table
from modeltap.formats.parquet.frames import (
    count_frames,
    encode_frame,
    encode_frame_pieces,
    frame_size,
    read_frames,
    repair_frames,
)
from modeltap.formats.parquet.policy import CollectionSchemas, collection_key
from modeltap.formats.parquet.tables import (
    ENVELOPE_COLUMNS,
    PAYLOAD_COLLECTIONS,
    batch_tables,
    event_table,
)
from modeltap.formats.parquet.union import SchemaUnion, unify
from modeltap.store.tree import Tree

__all__ = [
    "COMPRESSION",
    "ENVELOPE_COLUMNS",
    "EXTENSION",
    "PAYLOAD_COLLECTIONS",
    "ROW_GROUP_ROWS",
    "ParquetFormat",
    "SchemaUnion",
    "batch_tables",
    "count_frames",
    "encode_frame",
    "encode_frame_pieces",
    "event_table",
    "frame_size",
    "read_frames",
    "read_table",
    "repair_frames",
    "spool_to_parquet",
    "unify",
]

EXTENSION = "parquet"


class ParquetFormat(Format):
    """Rows as Parquet: spooled as Arrow IPC frames, converted to one Parquet file at commit."""

    name = "parquet"
    extension = EXTENSION
    converts = True

    def __init__(self) -> None:
        self._schemas = CollectionSchemas()

    def encode(self, event: Event, envelope: EnvelopeSource) -> Encoded:
        """One frame holding the event's rows."""
        table = event_table(event, envelope)
        pieces = encode_frame_pieces(table)
        return Encoded(pieces, frame_size(pieces), table)

    def encode_batch(
        self,
        events: Sequence[Event],
        envelope: EnvelopeSource,
        key: Callable[[Event], Hashable],
    ) -> list[tuple[list[Event], Encoded | Exception]]:
        """One frame per run of events with the same ``key`` and data schema."""
        out: list[tuple[list[Event], Encoded | Exception]] = []
        for group, table in batch_tables(list(events), envelope, key):
            try:
                pieces = encode_frame_pieces(table, len(group))
            except Exception as exc:
                out.append((group, exc))
                continue
            out.append((group, Encoded(pieces, frame_size(pieces), table)))
        return out

    def segment_schema(self) -> SegmentSchema:
        """A lossless schema union (see ``modeltap.formats.parquet.union``)."""
        return SchemaUnion()

    def repair(self, handle: BinaryIO) -> int:
        """Cut a partial last frame."""
        return repair_frames(handle)

    def count_events(self, handle: BinaryIO) -> int:
        """The events of the whole frames."""
        return count_frames(handle)

    def commit_file(
        self,
        source: Path,
        target: Path,
        *,
        durable: bool = False,
        committed_as: str = "",
        history: Tree | None = None,
    ) -> int:
        """Convert the frames into one Parquet file, its types consistent with the earlier
        files of its collection (see ``modeltap.formats.parquet.policy``); returns its rows."""
        return spool_to_parquet(
            source,
            target,
            durable=durable,
            schemas=self._schemas,
            collection=collection_key(committed_as),
            history=history,
        )

    def decode(self, file: FileRead) -> pa.Table:
        """See ``modeltap.formats.parquet.decode``."""
        return decode_file(file)
