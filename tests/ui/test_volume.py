"""Rows per hour from the hour folders, counted once per file; the newest folder's rows."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap.catalog import DataAsset
from modeltap.ui.volume import VolumeReader, footer_hours, hour_histogram, parse_event_time

START = dt.datetime(2024, 5, 8, 10, tzinfo=dt.UTC)


def _asset(tmp_path: Path) -> DataAsset:
    """Files in the hours 10 (3 rows), 10/30 minute folder (2 rows), 12 (4 rows)."""
    root = tmp_path / "ep" / "dep" / "model_inputs"
    layout = {"2024/05/08/10": 3, "2024/05/08/10/30": 2, "2024/05/08/12": 4}
    for index, (folder, rows) in enumerate(layout.items()):
        path = root / folder
        path.mkdir(parents=True, exist_ok=True)
        hour = int(folder.split("/")[3])
        times = [START.replace(hour=hour, minute=i) for i in range(rows)]
        table = pa.table(
            {
                "time": pa.array(times, pa.timestamp("us", tz="UTC")),
                "correlationid": [f"c{index}-{i}" for i in range(rows)],
                "id": [f"e{index}-{i}" for i in range(rows)],
                "row_index": [0] * rows,
                "x": list(range(rows)),
            }
        )
        pq.write_table(table, path / f"w-{index}.parquet")
    (root / "2024/05/08/12/.hidden.parquet").write_bytes(b"x")
    return DataAsset("a", "1", str(root), format="parquet")


def _hours(url: str) -> dict[int, int]:
    """Rows per hour of a Parquet file, read with pyarrow."""
    return hour_histogram(pq.read_table(url, columns=["time"]).column("time"))


def test_rows_per_hour(tmp_path: Path) -> None:
    """Hour 10 counts both of its folders; an empty hour is 0; hidden files are ignored."""
    reader = VolumeReader(counter=_hours)
    counts = reader.per_hour(_asset(tmp_path), START, 4)
    assert counts.counts == [5, 0, 4, 0]
    assert counts.total == 9
    assert counts.labels[0] == "05-08 10:00"


def test_each_file_is_counted_once(tmp_path: Path) -> None:
    """A second look at the same hours opens no file."""
    opened: list[str] = []

    def count(url: str) -> dict[int, int]:
        opened.append(url)
        return _hours(url)

    reader = VolumeReader(counter=count)
    asset = _asset(tmp_path)
    reader.per_hour(asset, START, 3)
    reader.per_hour(asset, START, 3)
    assert len(opened) == 3 and reader.files_read == 3


def test_a_file_changed_in_place_is_counted_again(tmp_path: Path) -> None:
    """A file of the same path and size with a new modification time is read again; the
    others are not."""
    reader = VolumeReader(counter=_hours)
    asset = _asset(tmp_path)
    assert reader.per_hour(asset, START, 3).counts == [5, 0, 4]
    path = Path(asset.root) / "2024/05/08/12/w-2.parquet"
    size = path.stat().st_size
    table = pq.read_table(path)
    later = START.replace(hour=11)
    times = pa.array([later.replace(minute=i) for i in range(4)], pa.timestamp("us", tz="UTC"))
    pq.write_table(table.set_column(0, "time", times), path)
    assert path.stat().st_size == size
    modified = path.stat().st_mtime + 10
    os.utime(path, (modified, modified))
    assert reader.per_hour(asset, START, 3).counts == [5, 4, 0]
    assert reader.files_read == 4


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    """With room for two files, a second look at three files reads again what was evicted."""
    reader = VolumeReader(counter=_hours, cache_size=2)
    asset = _asset(tmp_path)
    reader.per_hour(asset, START, 3)
    assert reader.files_read == 3
    assert reader.per_hour(asset, START, 3).counts == [5, 0, 4]
    assert reader.files_read > 3


def test_default_counter_reads_hourly_parquet_footers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a counter, hourly Parquet files are counted from their footers: no data read."""
    asset = _asset(tmp_path)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the footer should have been enough")

    monkeypatch.setattr(modeltap, "read_arrow", no_reading)
    assert VolumeReader().per_hour(asset, START, 3).counts == [5, 0, 4]


def _times_file(path: Path, times: Sequence[dt.datetime | None], **options: bool) -> None:
    """A Parquet file of ``times`` in row groups of two rows."""
    table = pa.table({"time": pa.array(times, pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, path, row_group_size=2, **options)


def test_footer_hours_counts_each_row_group_in_its_hour(tmp_path: Path) -> None:
    """Row groups in hours 10 and 11 (one null time skipped) are counted from the footer."""
    times = [START, START.replace(minute=59), START.replace(hour=11), None]
    _times_file(tmp_path / "f.parquet", times)
    hour = int(START.timestamp()) // 3600
    assert footer_hours(pq.read_metadata(tmp_path / "f.parquet")) == {hour: 2, hour + 1: 1}


def test_footer_hours_cannot_tell(tmp_path: Path) -> None:
    """A row group spanning two hours, no statistics, or text times: None (read the column)."""
    spanning = [START, START.replace(hour=11)]
    _times_file(tmp_path / "span.parquet", spanning)
    _times_file(tmp_path / "bare.parquet", [START, START], write_statistics=False)
    pq.write_table(pa.table({"time": ["2024-05-08T10:00:00Z"]}), tmp_path / "text.parquet")
    for name in ("span", "bare", "text"):
        assert footer_hours(pq.read_metadata(tmp_path / f"{name}.parquet")) is None, name


def test_files_footers_cannot_tell_are_read(tmp_path: Path) -> None:
    """A file without statistics is counted from its time column, each row in its hour."""
    root = tmp_path / "bare"
    (root / "2024/05/08/10").mkdir(parents=True)
    table = pa.table(
        {
            "time": pa.array([START, START, START.replace(hour=11)], pa.timestamp("us", tz="UTC")),
            "correlationid": ["a", "b", "c"],
            "id": ["1", "2", "3"],
            "row_index": [0, 0, 0],
        }
    )
    pq.write_table(table, root / "2024/05/08/10/w-1.parquet", write_statistics=False)
    asset = DataAsset("b", "1", str(root), format="parquet")
    assert VolumeReader().per_hour(asset, START, 2).counts == [2, 1]


def test_newest_rows_come_from_the_newest_folder_before_the_end(tmp_path: Path) -> None:
    """The newest folder is hour 12; with the end at 11:00 it is hour 10."""
    asset = _asset(tmp_path)
    reader = VolumeReader()
    rows, folder = reader.newest_rows(asset)
    assert folder is not None and folder.endswith("2024/05/08/12")
    assert list(rows["x"]) == [3, 2, 1, 0]
    rows, folder = reader.newest_rows(asset, START.replace(hour=11), limit=2)
    assert folder is not None and folder.endswith("2024/05/08/10")
    assert len(rows) == 2


def test_newest_rows_at_midnight_come_from_hour_00(tmp_path: Path) -> None:
    """Hour folder 00 of the newest day is a partition like any other."""
    root = tmp_path / "ep" / "dep" / "model_inputs"
    for folder, minute in (("2024/05/07/23", 1), ("2024/05/08/00", 2)):
        (root / folder).mkdir(parents=True)
        moment = dt.datetime(2024, 5, 7, 23, tzinfo=dt.UTC) + dt.timedelta(
            minutes=60 * (minute - 1)
        )
        table = pa.table(
            {
                "time": pa.array([moment], pa.timestamp("us", tz="UTC")),
                "correlationid": [f"c{minute}"],
                "id": [f"e{minute}"],
                "row_index": [0],
                "x": [minute],
            }
        )
        pq.write_table(table, root / folder / "w.parquet")
    rows, folder = VolumeReader().newest_rows(DataAsset("a", "1", str(root), format="parquet"))
    assert folder is not None and folder.endswith("2024/05/08/00")
    assert list(rows["x"]) == [2]


def test_no_folder_before_the_end(tmp_path: Path) -> None:
    """Nothing before the end: no rows and no folder."""
    rows, folder = VolumeReader().newest_rows(_asset(tmp_path), START - dt.timedelta(days=400))
    assert folder is None and rows.empty


def test_parse_event_time() -> None:
    """Catalog times are UTC; empty stays None."""
    assert parse_event_time("2024-05-08T10:00:00.000Z") == START
    assert parse_event_time(None) is None


def test_daily_rolled_collection(tmp_path: Path) -> None:
    """Files directly in a day folder are counted in the hours of their rows; the day folder
    is the newest partition."""
    root = tmp_path / "daily"
    folder = root / "2024" / "05" / "08"
    folder.mkdir(parents=True)
    times = [START, START, START.replace(hour=13), START.replace(day=9)]
    table = pa.table(
        {
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "correlationid": ["a", "b", "c", "d"],
            "id": ["1", "2", "3", "4"],
            "row_index": [0, 0, 0, 0],
        }
    )
    pq.write_table(table, folder / "w-1.parquet")
    asset = DataAsset("d", "1", str(root), format="parquet")
    reader = VolumeReader()
    assert reader.per_hour(asset, START, 4).counts == [2, 0, 0, 1]
    rows, newest = reader.newest_rows(asset)
    assert newest is not None and newest.endswith("2024/05/08") and len(rows) == 4


def test_hour_histogram_skips_nulls() -> None:
    """Null times are not counted."""
    times = pa.chunked_array([pa.array([START, None], pa.timestamp("us", tz="UTC"))])
    assert hour_histogram(times) == {int(START.timestamp()) // 3600: 1}


def test_footer_hours_finds_time_after_nested_columns(tmp_path: Path) -> None:
    """Nested columns before ``time`` take several Parquet columns: its statistics are found."""
    table = pa.table(
        {
            "nested": pa.array([{"a": 1, "b": 2}] * 2),
            "tags": pa.array([[1, 2]] * 2),
            "time": pa.array([START, START.replace(minute=5)], pa.timestamp("ns", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    hour = int(START.timestamp()) // 3600
    assert footer_hours(pq.read_metadata(tmp_path / "n.parquet")) == {hour: 2}


def test_rows_per_hour_on_an_fsspec_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """On an fsspec store (memory://) the footers are read through fsspec, no data read."""
    import io

    import fsspec

    root = f"memory://volume-{uuid.uuid4().hex}/ep/dep/model_inputs"
    fs, path = fsspec.core.url_to_fs(root)
    for hour, rows in ((10, 3), (12, 4)):
        times = [START.replace(hour=hour, minute=i) for i in range(rows)]
        sink = io.BytesIO()
        pq.write_table(pa.table({"time": pa.array(times, pa.timestamp("us", tz="UTC"))}), sink)
        fs.pipe(f"{path}/2024/05/08/{hour:02d}/w-1.parquet", sink.getvalue())

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the footer should have been enough")

    monkeypatch.setattr(modeltap, "read_arrow", no_reading)
    asset = DataAsset("m", "1", root, format="parquet")
    assert VolumeReader().per_hour(asset, START, 3).counts == [3, 0, 4]
