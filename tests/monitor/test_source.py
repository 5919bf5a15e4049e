"""Monitor inputs: a folder is collected data or training files by the partition layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import modeltap
from modeltap import Collector
from modeltap.monitor.definition import InputRef
from modeltap.monitor.source import resolve_source
from tests.conftest import ConfigureTap


def test_collection_and_its_partition_folders_are_collected_data(
    configure_tap: ConfigureTap, data_dir: Path
) -> None:
    """A collection's folder, its year folder and its day folder all read as collected data."""
    configure_tap()
    Collector(name="model_inputs").collect(pd.DataFrame({"x": [1, 2]}))
    assert modeltap.flush(timeout=30)
    collection = data_dir / "ep" / "dep" / "model_inputs"
    year = next(p for p in collection.iterdir() if p.is_dir())
    day = next(p for p in next(p for p in year.iterdir() if p.is_dir()).iterdir() if p.is_dir())
    for folder in (collection, year, day):
        source = resolve_source(InputRef("path", str(folder)), str(data_dir))
        assert source.kind == "collected", folder


def test_a_folder_of_files_named_like_numbers_is_training_data(tmp_path: Path) -> None:
    """Digits that are not a year's width do not make a folder of Parquet files collected data."""
    folder = tmp_path / "123"
    folder.mkdir()
    pq.write_table(pa.table({"x": [1.0]}), folder / "part.parquet")
    (folder / "99999").mkdir()  # not a year folder
    source = resolve_source(InputRef("path", str(folder)), str(tmp_path))
    assert (source.kind, source.file_format) == ("files", "parquet")
