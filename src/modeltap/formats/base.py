"""The format interface: what every record format (JSON lines, Parquet) implements.

A format turns events into bytes appended to a spool segment (``encode``, ``encode_batch``),
repairs and counts a segment after a crash (``repair``, ``count_events``), turns a closed
segment into the committed file (``commit_file``: as is, or converted), and decodes a committed
file into the reader's rows (``decode``). The writer, the committer, the spool and the reader
only ever talk to this interface; the registry in ``modeltap.formats`` finds a format by name
or by file name.
"""

from __future__ import annotations

import datetime as dt
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal

from modeltap.errors import BadRecordError, ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

    from modeltap.event import Event
    from modeltap.formats.envelope import EnvelopeSource
    from modeltap.store.tree import Tree

__all__ = [
    "BadRecords",
    "Encoded",
    "FileRead",
    "Format",
    "SegmentSchema",
    "SkippedRecord",
]

OnBadRecord = Literal["skip", "raise"]


@dataclass(frozen=True, slots=True)
class Encoded:
    """What one or more events become in a spool segment: ``pieces`` written one after the
    other (bytes or buffers), their ``size`` in bytes, and ``table``, the Arrow form a segment
    schema checks (None for formats without one)."""

    pieces: bytes | list[Any]
    size: int
    table: Any = None


class SegmentSchema(ABC):
    """The schema of one open segment: refuses what it cannot hold without loss, so the writer
    starts a new segment instead."""

    @abstractmethod
    def accept(self, table: Any) -> bool:
        """Merge ``table``'s schema in; False (state unchanged) when it would lose information."""


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A record (or a whole file, ``line`` None) the reader could not read and skipped."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        return f"{where}: {self.reason}"


class BadRecords:
    """What a read skipped; in ``raise`` mode the first bad record raises BadRecordError."""

    def __init__(self, on_bad_record: OnBadRecord = "skip") -> None:
        if on_bad_record not in ("skip", "raise"):
            raise ConfigError(f"on_bad_record must be 'skip' or 'raise', not {on_bad_record!r}")
        self.raises = on_bad_record == "raise"
        self.skipped: list[SkippedRecord] = []

    def skip(self, file: str, line: int | None, reason: str) -> None:
        """Note a record that cannot be read (or raise, in ``raise`` mode)."""
        record = SkippedRecord(file, line, reason)
        if self.raises:
            raise BadRecordError(
                f"{record} (pass on_bad_record='skip' to skip such records and read the rest)"
            )
        self.skipped.append(record)  # list.append is atomic: readers of several threads


@dataclass(slots=True)
class FileRead:
    """One committed file to decode into rows, with what the read asks for.

    ``name`` is the file's full path or URL (for messages); ``event_base`` numbers the file's
    events (``event_base``, ``event_base + 1`` ...) so duplicates can be found across files;
    ``load_ref`` reads an out-of-line payload by the ``dataref`` of its record (the reader
    enforces which references it follows); ``bad`` collects what cannot be read."""

    name: str
    content: pa.Buffer
    event_base: int = 0
    columns: Sequence[str] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    payload: bool = False
    load_ref: Callable[[str], bytes] | None = None
    bad: BadRecords = field(default_factory=BadRecords)


class Format(ABC):
    """A record format. ``name`` is what the configuration's ``format`` says, ``extension`` the
    committed files' suffix (without the dot)."""

    name: ClassVar[str]
    extension: ClassVar[str]
    gathers_lines: ClassVar[bool] = False
    """Whether encoded events are independent lines that may be gathered and appended in one
    write, in any grouping (JSON lines); else each ``Encoded`` is appended on its own."""

    # -- writing -----------------------------------------------------------------------------

    @abstractmethod
    def encode(self, event: Event, envelope: EnvelopeSource) -> Encoded:
        """One event as spool bytes."""

    @abstractmethod
    def encode_batch(
        self,
        events: Sequence[Event],
        envelope: EnvelopeSource,
        key: Callable[[Event], Hashable],
    ) -> list[tuple[list[Event], Encoded | Exception]]:
        """Consecutive events, in order, as groups appended one after the other (a group never
        mixes two ``key`` values); a group whose encoding failed carries the exception."""

    def encode_lines(
        self, events: Sequence[Event], envelope: EnvelopeSource
    ) -> list[bytes | Exception]:
        """For formats that gather lines: each event's line, or the exception its encoding
        raised (cheaper than ``encode_batch`` where every event is its own group)."""
        raise NotImplementedError(f"the {self.name} format does not gather lines")

    def segment_schema(self) -> SegmentSchema | None:
        """A fresh schema for a new segment; None when any record fits any segment."""
        return None

    # -- the spool ---------------------------------------------------------------------------

    @abstractmethod
    def repair(self, handle: BinaryIO) -> int:
        """Cut a torn tail of a spool segment open for reading and writing (a crash
        mid-write); return the bytes cut. The spool opens the file (never through a symbolic
        link), so formats only see its content."""

    @abstractmethod
    def count_events(self, handle: BinaryIO) -> int:
        """How many events a (repaired) spool segment, open for reading, holds."""

    # -- committing --------------------------------------------------------------------------

    converts: ClassVar[bool] = False
    """Whether the committed file differs from the spool segment (``commit_file`` converts)."""

    def commit_file(
        self,
        source: Path,
        target: Path,
        *,
        durable: bool = False,
        committed_as: str = "",
        history: Tree | None = None,
    ) -> int:
        """Write the committed form of the spool segment ``source`` to ``target``. The default
        copies it as is. ``committed_as`` is the URL or path the file is published under (its
        collection's folder is in it), for formats that keep a schema per collection;
        ``history`` is that collection's folder in the destination (None when it cannot be
        read back), where such formats find the earlier files. Returns the bytes or rows
        written (for logs)."""
        shutil.copyfile(source, target)
        return target.stat().st_size

    # -- reading -----------------------------------------------------------------------------

    @abstractmethod
    def decode(self, file: FileRead) -> pa.Table:
        """The rows of one committed file, in the reader's row shape (see
        ``modeltap.formats.rows``), filtered to ``file.start``/``file.end``."""

    stores_records: ClassVar[bool] = False
    """Whether committed files hold the records as collected (envelope and ``data``), which
    ``records`` gives back; else they hold rows only."""

    def records(self, content: bytes) -> Iterator[dict[str, Any]]:
        """The records of one committed file as collected, for formats that store records."""
        raise NotImplementedError(f"the {self.name} format stores rows, not records")
