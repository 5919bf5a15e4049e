"""The storage layout: partition folders per rolling rate (UTC), instance ids, segment names."""

from __future__ import annotations

import calendar
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeltap.config import RollingRate
from modeltap.store import layout
from modeltap.store.layout import PartitionClock, instance_id, partition_folder, segment_name
from modeltap.store.tree import LocalTree

NS = 1_000_000_000


def epoch(text: str) -> int:
    """Seconds since the epoch of a UTC time written ``YYYY-MM-DDTHH:MM:SS``."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


@pytest.fixture
def far_time_zone() -> Iterator[None]:
    """Run with a local time zone far from UTC, to prove the layout ignores it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (RollingRate.MINUTE, "2024/05/01/12/34"),
        (RollingRate.HOUR, "2024/05/01/12"),
        (RollingRate.DAY, "2024/05/01"),
        (RollingRate.MONTH, "2024/05"),
        (RollingRate.YEAR, "2024"),
    ],
)
def test_partition_folder_per_rate_in_utc(
    rate: RollingRate, expected: str, far_time_zone: None
) -> None:
    """Each rolling rate stops at its own level, and folders are in UTC whatever the zone."""
    assert partition_folder(epoch("2024-05-01T12:34:56"), rate) == expected
    assert PartitionClock(rate).folder(epoch("2024-05-01T12:34:56") * NS) == expected


@pytest.mark.parametrize(
    ("rate", "before", "after"),
    [
        (RollingRate.MINUTE, "2024/05/01/12/34", "2024/05/01/12/35"),
        (RollingRate.HOUR, "2024/05/01/12", "2024/05/01/13"),
    ],
)
def test_clock_rolls_at_the_boundary(rate: RollingRate, before: str, after: str) -> None:
    """The cached bucket ends exactly at the boundary, and earlier times map back correctly."""
    clock = PartitionClock(rate)
    last = epoch("2024-05-01T12:34:59") if rate is RollingRate.MINUTE else epoch(
        "2024-05-01T12:59:59"
    )
    assert clock.folder(last * NS) == before
    assert clock.folder(last * NS + NS - 1) == before
    assert clock.folder((last + 1) * NS) == after
    assert clock.folder(last * NS) == before  # a late event goes to its own folder


@pytest.mark.parametrize(
    ("rate", "last_second", "before", "after"),
    [
        (RollingRate.DAY, "2024-02-28T23:59:59", "2024/02/28", "2024/02/29"),
        (RollingRate.MONTH, "2024-01-31T23:59:59", "2024/01", "2024/02"),
        (RollingRate.MONTH, "2024-02-29T23:59:59", "2024/02", "2024/03"),
        (RollingRate.YEAR, "2023-12-31T23:59:59", "2023", "2024"),
    ],
)
def test_clock_rolls_days_months_and_years(
    rate: RollingRate, last_second: str, before: str, after: str
) -> None:
    """Days, months (of any length) and years roll at midnight UTC of their last day."""
    clock = PartitionClock(rate)
    seconds = epoch(last_second)
    assert clock.folder((seconds - 3_600) * NS) == before
    assert clock.folder(seconds * NS) == before
    assert clock.folder((seconds + 1) * NS) == after


@pytest.mark.parametrize("rate", list(RollingRate))
def test_clock_agrees_with_partition_folder(rate: RollingRate) -> None:
    """Over many increasing (and some late) times, the cached clock equals the plain function."""
    rng = random.Random(20240501)
    clock = PartitionClock(rate)
    seconds = epoch("2023-12-30T22:00:00")
    for _ in range(3_000):
        seconds += rng.choice([0, 1, 7, 59, 60, 61, 3_599, 3_600, 86_399, 86_400, 2_000_000])
        when = seconds - rng.choice([0, 0, 0, 1, 3_600])
        nanos = when * NS + rng.randrange(NS)
        assert clock.folder(nanos) == partition_folder(when, rate), (rate, when)


def test_instance_ids_are_unique_and_path_safe() -> None:
    """Instance ids differ per call, carry the pid, and use only letters, digits and '-'."""
    ids = {instance_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"[A-Za-z0-9-]+", value), value
        assert f"-{os.getpid()}-" in value


@pytest.mark.parametrize(
    ("host", "prefix"),
    [
        ("my host.example/com_1", "my-host-example-com-1-"),
        ("..//..", "host-"),
        ("", "host-"),
        ("a" * 100, "a" * 24 + "-"),
    ],
)
def test_instance_id_sanitizes_the_host_name(
    host: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Odd host names are reduced to a safe, short prefix."""
    monkeypatch.setattr(layout.socket, "gethostname", lambda: host)
    value = instance_id()
    assert value.startswith(prefix)
    assert re.fullmatch(r"[A-Za-z0-9-]+", value)


def test_segment_name() -> None:
    """Segment names are the instance, a zero-padded sequence number and the extension."""
    assert segment_name("host-12-abcdef", 7, "jsonl") == "host-12-abcdef-000007.jsonl"
    assert segment_name("i", 1_234_567, "parquet") == "i-1234567.parquet"
    names = [segment_name("i", n, "jsonl") for n in range(0, 20_000, 997)]
    assert names == sorted(names)


def test_folder_span_covers_each_level() -> None:
    """A partition folder spans its year, month, day, hour or minute, in UTC."""
    import datetime as dt

    utc = dt.UTC
    assert layout.folder_span((2024,)) == (
        dt.datetime(2024, 1, 1, tzinfo=utc),
        dt.datetime(2025, 1, 1, tzinfo=utc),
    )
    assert layout.folder_span((2024, 12))[1] == dt.datetime(2025, 1, 1, tzinfo=utc)
    assert layout.folder_span((2024, 5, 1, 12, 30))[1] == dt.datetime(
        2024, 5, 1, 12, 31, tzinfo=utc
    )
    with pytest.raises(ValueError):
        layout.folder_span((2024, 13))


def test_trailing_partition_and_collection_of() -> None:
    """Partition values at the end of a path are found; the collection of a default-layout
    path is its third part."""
    assert layout.trailing_partition("/d/ep/dep/c/2024/05/01") == (2024, 5, 1)
    assert layout.trailing_partition("/d/ep/dep/c") == ()
    assert layout.trailing_partition("/d/99/2024/5") == (2024,)
    assert layout.collection_of("ep/dep/model_inputs/2024/x.jsonl") == "model_inputs"
    assert layout.collection_of("x.jsonl") == "unknown"


def test_partition_files_prunes_folders_outside_the_window(tmp_path: Path) -> None:
    """Only data files under partition folders overlapping the window are listed; hidden,
    underscore and non-partition entries are skipped."""
    import datetime as dt

    from modeltap.store import open_tree

    for folder, name in [
        ("2024/05/01/11", "a.jsonl"),
        ("2024/05/01/12", "b.parquet"),
        ("2024/05/01/12", "b.jsonl.part"),
        ("2024/05/01/12/_payloads", "p.jsonl"),
        ("2024/05/01/13", ".c.jsonl"),
        ("notes", "d.jsonl"),
    ]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / name).write_bytes(b"")
    tree = open_tree(str(tmp_path))
    start = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    assert layout.partition_files(tree, (".jsonl", ".parquet"), start) == [
        "2024/05/01/12/b.parquet"
    ]
    assert layout.partition_files(tree, (".jsonl",)) == ["2024/05/01/11/a.jsonl"]


def test_split_partition_separates_collection_and_partition() -> None:
    """A folder splits into its collection folder and its partition path."""
    assert layout.split_partition("s3://b/ep/dep/c/2024/05/01/") == (
        "s3://b/ep/dep/c",
        "2024/05/01",
    )
    assert layout.split_partition("/d/ep/dep/c") == ("/d/ep/dep/c", "")


def test_newest_files_come_from_the_newest_partition_that_has_any(tmp_path: Path) -> None:
    """The newest partition folder holding data files of the extension is chosen (an empty
    newer one, other tools' folders and other formats are passed over), its last files in
    name order up to the limit; a tree without any gives nothing."""
    for relative in (
        "2024/05/01/10/a-000001.parquet",
        "2024/05/01/11/a-000002.parquet",
        "2024/05/01/11/b-000001.parquet",
        "2024/05/01/11/c-000001.parquet",
        "2024/05/01/12/a-000003.jsonl",
        "2024/05/02/00/.hidden.parquet",
        "_assets/x.parquet",
        "9999-other/y.parquet",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    (tmp_path / "2024" / "05" / "03").mkdir()
    tree = LocalTree(tmp_path)
    assert layout.newest_files(tree, (".parquet",)) == [
        "2024/05/01/11/a-000002.parquet",
        "2024/05/01/11/b-000001.parquet",
        "2024/05/01/11/c-000001.parquet",
    ]
    assert layout.newest_files(tree, (".parquet",), limit=1) == ["2024/05/01/11/c-000001.parquet"]
    assert layout.newest_files(tree, (".jsonl",)) == ["2024/05/01/12/a-000003.jsonl"]
    assert layout.newest_files(tree, (".parquet",), max_listings=3) == []
    assert layout.newest_files(LocalTree(tmp_path / "absent"), (".parquet",)) == []
