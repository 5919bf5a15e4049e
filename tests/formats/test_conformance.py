"""The format interface: every registered format passes the same round trip, repair and
bad-input checks, so the writer, committer and reader can rely on any of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from modeltap.errors import BadRecordError, ConfigError
from modeltap.event import Event
from modeltap.formats import (
    FORMAT_NAMES,
    BadRecords,
    Encoded,
    EnvelopeSource,
    FileRead,
    Format,
    format_for_path,
    get_format,
)
from modeltap.snapshot import take_snapshot

ENVELOPE = EnvelopeSource("ep", "dep", "v1", "agent")
T0 = 1_714_564_800 * 1_000_000_000  # 2024-05-01T12:00:00Z
UTC = dt.UTC


@pytest.fixture(params=FORMAT_NAMES)
def fmt(request: pytest.FixtureRequest) -> Format:
    """Each registered format in turn."""
    return get_format(str(request.param))


def event(index: int, data: Any) -> Event:
    """An event of collection ``model_inputs`` at ``T0 + index`` seconds."""
    return Event(
        collection="model_inputs",
        time_ns=T0 + index * 1_000_000_000,
        correlation_id=f"c{index}",
        xrequest_id=f"x{index}",
        data_type="pandas.core.frame.DataFrame",
        snapshot=take_snapshot(data),
        root="ep/dep/model_inputs",
    )


def frames() -> list[Event]:
    """Three events: two of one schema, one with a new column."""
    return [
        event(0, pd.DataFrame({"a": [1, 2], "s": ["x", "ü"]})),
        event(1, pd.DataFrame({"a": [3], "s": ["y"]})),
        event(2, pd.DataFrame({"a": [4], "s": ["z"], "b": [0.5]})),
    ]


def write_segment(path: Path, encoded: list[Encoded]) -> None:
    """Append encoded events as the writer does, piece by piece."""
    with open(path, "wb") as handle:
        for item in encoded:
            pieces = item.pieces if isinstance(item.pieces, list) else [item.pieces]
            for piece in pieces:
                handle.write(memoryview(piece))


def committed(fmt: Format, tmp_path: Path, encoded: list[Encoded]) -> Path:
    """The committed file of a segment holding ``encoded``."""
    spooled = tmp_path / f"seg.{fmt.extension}.part"
    write_segment(spooled, encoded)
    target = tmp_path / f"seg.{fmt.extension}"
    fmt.commit_file(spooled, target, committed_as=f"{tmp_path}/ep/dep/model_inputs/x")
    return target


def decode(fmt: Format, path: Path, **options: Any) -> pa.Table:
    """The rows of a committed file, hidden columns dropped."""
    table = fmt.decode(FileRead(name=str(path), content=pa.py_buffer(path.read_bytes()), **options))
    return table.drop_columns([c for c in ("__id", "__ev") if c in table.column_names])


def test_registry_finds_formats_by_name_and_file_name(fmt: Format) -> None:
    """A format is found by its configured name and by committed and spooled file names."""
    assert fmt.name in FORMAT_NAMES
    assert format_for_path(f"a/b/x-000001.{fmt.extension}") is fmt
    assert format_for_path(f"x-000001.{fmt.extension}.part") is fmt
    assert format_for_path("x-000001.csv") is None


def test_unknown_format_names_the_known_ones() -> None:
    """An unknown format name is a ConfigError listing the formats there are."""
    with pytest.raises(ConfigError, match="jsonl, parquet"):
        get_format("avro")


def test_events_round_trip_to_rows(fmt: Format, tmp_path: Path) -> None:
    """Encoded one by one, committed and decoded, events come back as their rows with the
    envelope columns in front, in order."""
    path = committed(fmt, tmp_path, [fmt.encode(e, ENVELOPE) for e in frames()])
    table = decode(fmt, path)
    assert table.column_names[:4] == ["correlationid", "xrequestid", "time", "row_index"]
    assert table.column("correlationid").to_pylist() == ["c0", "c0", "c1", "c2"]
    assert table.column("row_index").to_pylist() == [0, 1, 0, 0]
    assert table.column("a").to_pylist() == [1, 2, 3, 4]
    assert table.column("s").to_pylist() == ["x", "ü", "y", "z"]
    assert table.column("b").to_pylist() == [None, None, None, 0.5]
    assert table.column("time").to_pylist()[2] == dt.datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)


def test_batches_encode_like_single_events(fmt: Format, tmp_path: Path) -> None:
    """encode_batch keeps order, never mixes keys in a group, and decodes to the same rows."""
    events = frames()
    groups = fmt.encode_batch(events, ENVELOPE, lambda e: e.time_ns >= T0 + 2_000_000_000)
    assert [e for group, _ in groups for e in group] == events
    encoded = [item for _, item in groups]
    assert all(isinstance(item, Encoded) for item in encoded)
    assert all(len({e.time_ns >= T0 + 2_000_000_000 for e in g}) == 1 for g, _ in groups)
    path = committed(fmt, tmp_path, [e for e in encoded if isinstance(e, Encoded)])
    assert decode(fmt, path).column("a").to_pylist() == [1, 2, 3, 4]


def test_spool_counts_and_repairs_a_torn_tail(fmt: Format, tmp_path: Path) -> None:
    """A segment counts its events; a crash mid-append is cut back to the last whole event."""
    encoded = [fmt.encode(e, ENVELOPE) for e in frames()]
    path = tmp_path / f"seg.{fmt.extension}.part"
    write_segment(path, encoded)
    whole = path.stat().st_size
    assert _count(fmt, path) == 3
    extra = fmt.encode(event(3, pd.DataFrame({"a": [5]})), ENVELOPE)
    write_segment(tmp_path / "extra", [extra])
    with open(path, "ab") as handle:
        handle.write((tmp_path / "extra").read_bytes()[: extra.size // 2])
    with open(path, "rb+") as handle:
        assert fmt.repair(handle) == extra.size // 2
    assert path.stat().st_size == whole
    assert _count(fmt, path) == 3


def _count(fmt: Format, path: Path) -> int:
    """The events ``fmt`` counts in the segment at ``path``."""
    with open(path, "rb") as handle:
        return fmt.count_events(handle)


def test_segment_schema_takes_the_first_table(fmt: Format) -> None:
    """A format either needs no segment schema or its schema accepts a segment's first event."""
    schema = fmt.segment_schema()
    if schema is None:
        return
    assert schema.accept(fmt.encode(frames()[0], ENVELOPE).table)


def test_decode_keeps_the_window(fmt: Format, tmp_path: Path) -> None:
    """Rows outside [start, end) are left out."""
    path = committed(fmt, tmp_path, [fmt.encode(e, ENVELOPE) for e in frames()])
    table = decode(
        fmt,
        path,
        start=dt.datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
        end=dt.datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC),
    )
    assert table.column("correlationid").to_pylist() == ["c1"]


def test_unreadable_content_is_skipped_and_named(fmt: Format, tmp_path: Path) -> None:
    """Content that is not the format is skipped with the file named, or raises in raise mode."""
    path = tmp_path / f"bad.{fmt.extension}"
    path.write_bytes(b"\x00not a record\n")
    bad = BadRecords()
    table = fmt.decode(FileRead(name=str(path), content=pa.py_buffer(path.read_bytes()), bad=bad))
    assert table.num_rows == 0
    assert [s.file for s in bad.skipped] == [str(path)]
    with pytest.raises(BadRecordError, match="bad\\."):
        fmt.decode(
            FileRead(
                name=str(path),
                content=pa.py_buffer(path.read_bytes()),
                bad=BadRecords("raise"),
            )
        )
