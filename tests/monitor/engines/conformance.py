"""The conformance suite every monitor engine passes: mix ``EngineConformance`` into a test class
that provides an ``engine`` fixture (see test_embedded.py).

Exact value counts (sorted, NaN as null) for every training file format and for collected data
read by its exact window, and predictions joined with labels collected later."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.errors import MonitorError
from modeltap.monitor.definition import InputRef
from modeltap.monitor.engines import Engine, JoinSpec
from modeltap.monitor.source import resolve_source
from modeltap.monitor.windows import Window
from tests.conftest import ConfigureTap

TABLE = pa.table(
    {
        "x": [1.5, 2.0, float("nan"), None, 2.0, 1.5, 1.5],
        "n": [3, 1, 2, 3, None, 3, 3],
        "s": ["b", "a", None, "b", "c", "b", "a"],
    }
)


class EngineConformance:
    """Tests every engine passes; the subclass provides the ``engine`` fixture."""

    @pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
    def test_value_counts_of_training_files(
        self, engine: Engine, tmp_path: Path, suffix: str
    ) -> None:
        """Value counts are exact, sorted, NaN counted as null, for every training file format."""
        path = tmp_path / f"train.{suffix}"
        if suffix == "parquet":
            pq.write_table(TABLE, path)
        elif suffix == "csv":
            pacsv.write_csv(TABLE, path)
        else:
            path.write_text(
                "\n".join(json.dumps(row) for row in TABLE.to_pylist()).replace("NaN", "null")
            )
        source = resolve_source(InputRef("path", str(path)), str(tmp_path))
        assert source.kind == "files"
        side = engine.open(source, Window(None, None))
        assert side.rows == 7
        x = side.counts("x")
        assert x.numbers().tolist() == [1.5, 2.0]
        assert x.counts.tolist() == [3, 2]
        assert x.null_count == 2
        n = side.counts("n")
        assert n.numbers().tolist() == [1.0, 2.0, 3.0] and n.counts.tolist() == [1, 1, 4]
        s = side.counts("s")
        assert s.texts() == ["a", "b", "c"] and s.counts.tolist() == [2, 3, 1] and s.null_count == 1
        absent = side.counts("nope")
        assert absent.null_count == 7 and absent.distinct == 0

    def test_folder_of_parquet_files(self, engine: Engine, tmp_path: Path) -> None:
        """A folder of Parquet files is one dataset."""
        folder = tmp_path / "train"
        folder.mkdir()
        pq.write_table(TABLE, folder / "a.parquet")
        pq.write_table(TABLE, folder / "b.parquet")
        source = resolve_source(InputRef("path", str(folder)), str(tmp_path))
        assert (source.kind, source.file_format) == ("files", "parquet")
        side = engine.open(source, Window(None, None))
        assert side.rows == 14
        assert side.counts("s").counts.tolist() == [4, 6, 2]

    def test_training_files_without_time_refuse_a_window(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        """A window over training data without a time column is a clear error."""
        path = tmp_path / "train.parquet"
        pq.write_table(TABLE, path)
        source = resolve_source(InputRef("path", str(path)), str(tmp_path))
        now = dt.datetime.now(dt.UTC)
        with pytest.raises(MonitorError, match="has no 'time' column"):
            engine.open(source, Window(now - dt.timedelta(days=1), now))

    def test_unknown_inputs(self, tmp_path: Path) -> None:
        """Unknown assets and empty folders are named in the error."""
        with pytest.raises(MonitorError, match="no data asset nothing"):
            resolve_source(InputRef("asset", "nothing"), str(tmp_path))
        (tmp_path / "empty").mkdir()
        with pytest.raises(MonitorError, match="holds neither collected data"):
            resolve_source(InputRef("path", str(tmp_path / "empty")), str(tmp_path))

    def test_collected_data_by_window_and_join(
        self, engine: Engine, configure_tap: ConfigureTap, data_dir: Path
    ) -> None:
        """Collected data is read by its exact window; predictions join labels collected later."""
        modeltap.configure(
            {"endpoint_name": "ep", "name": "dep", "data_collector": {"destination": str(data_dir)}}
        )
        outputs, labels = Collector(name="model_outputs"), Collector(name="ground_truth")
        ids = []
        for index in range(3):
            context = outputs.collect(pa.table({"label": ["yes", "no", "yes"], "k": [index] * 3}))
            ids.append(context.get_id())
        assert modeltap.flush(timeout=30)
        middle = dt.datetime.now(dt.UTC)
        time.sleep(0.005)  # record times are stored to the millisecond: keep them after ``middle``
        for correlation in ids[:2]:
            labels.collect(
                pa.table({"label": ["yes", "yes", "no"]}), BasicCorrelationContext(id=correlation)
            )
        assert modeltap.flush(timeout=30)
        destination = str(data_dir)
        predictions = engine.open(
            resolve_source(InputRef("asset", "ep-dep-model_outputs"), destination),
            Window(None, None),
        )
        assert predictions.rows == 9
        truth_source = resolve_source(InputRef("asset", "ep-dep-ground_truth"), destination)
        assert engine.open(truth_source, Window(None, middle)).rows == 0
        truth = engine.open(truth_source, Window(middle, None))
        assert truth.rows == 6
        joined = engine.labelled(predictions, truth, JoinSpec("label", "label"))
        assert (joined.production_rows, joined.labelled_rows) == (9, 6)
        assert joined.pairs == {("yes", "yes"): 2, ("yes", "no"): 2, ("no", "yes"): 2}
        np.testing.assert_array_equal(predictions.counts("k").counts, [3, 3, 3])
        with pytest.raises(MonitorError, match="has no column 'score'"):
            engine.labelled(predictions, truth, JoinSpec("score", "label"))

    def test_wide_parquet_asset(
        self, engine: Engine, configure_tap: ConfigureTap, data_dir: Path
    ) -> None:
        """A Parquet asset with many columns (read a few columns at a time) gives every column's
        counts over the same rows, and joins on a column of a later group."""
        configure_tap(format="parquet")
        outputs, truth = Collector(name="model_outputs"), Collector(name="ground_truth")
        wide = {f"c{i}": [i, i, i + 1] for i in range(9)}
        contexts = [outputs.collect(pa.table({**wide, "label": ["a", "b", "a"]})) for _ in range(2)]
        for context in contexts:
            truth.collect(pa.table({"label": ["a", "a", "a"]}), context)
        assert modeltap.flush(timeout=30)
        source = resolve_source(InputRef("asset", "ep-dep-model_outputs"), str(data_dir))
        assert len(source.column_groups()) == 3
        side = engine.open(source, Window(None, None))
        assert side.rows == 6
        assert [c for c in side.schema if c.startswith("c") and c != "correlationid"] == [
            f"c{i}" for i in range(9)
        ]
        for i in range(9):
            counts = side.counts(f"c{i}")
            assert (counts.numbers().tolist(), counts.counts.tolist()) == ([i, i + 1], [4, 2])
        labels = engine.open(
            resolve_source(InputRef("asset", "ep-dep-ground_truth"), str(data_dir)),
            Window(None, None),
        )
        joined = engine.labelled(side, labels, JoinSpec("label", "label"))
        assert joined.pairs == {("a", "a"): 4, ("a", "b"): 2}

    def test_files_by_time_window(self, engine: Engine, tmp_path: Path) -> None:
        """Training files with a time column are filtered to the window, across files."""
        folder = tmp_path / "windowed"
        folder.mkdir()
        start = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
        for index in range(3):
            times = [start + dt.timedelta(hours=index, minutes=m) for m in (0, 30)]
            pq.write_table(
                pa.table({"x": [float(index)] * 2, "time": pa.array(times, pa.timestamp("us"))}),
                folder / f"part-{index}.parquet",
            )
        source = resolve_source(InputRef("path", str(folder)), str(tmp_path))
        side = engine.open(
            source, Window(start + dt.timedelta(minutes=30), start + dt.timedelta(hours=2))
        )
        assert side.rows == 3
        counts = side.counts("x")
        assert (counts.numbers().tolist(), counts.counts.tolist()) == ([0.0, 1.0], [1, 2])

    def test_nan_without_nulls_counts_as_null(self, engine: Engine, tmp_path: Path) -> None:
        """A float column with NaN and no null counts its NaN as null, in a Parquet file too."""
        path = tmp_path / "train.parquet"
        values = np.arange(20, dtype=float)
        values[::5] = np.nan
        pq.write_table(pa.table({"b": values}), path)
        side = engine.open(
            resolve_source(InputRef("path", str(path)), str(tmp_path)), Window(None, None)
        )
        counts = side.counts("b")
        assert counts.null_count == 4
        assert counts.numbers().tolist() == [v for v in values.tolist() if v == v]

    def test_regression_join_on_named_keys_skips_nan(self, engine: Engine, tmp_path: Path) -> None:
        """Predictions join labels on the columns named as keys; a NaN value is not an error."""
        predictions_path, labels_path = tmp_path / "p.parquet", tmp_path / "l.parquet"
        pq.write_table(
            pa.table({"rid": ["a", "b", "c", "d"], "y": [1.0, 2.0, float("nan"), 4.0]}),
            predictions_path,
        )
        pq.write_table(
            pa.table({"key": ["a", "b", "c", "x"], "truth": [1.5, 4.0, 3.0, 9.0]}), labels_path
        )
        sides = [
            engine.open(resolve_source(InputRef("path", str(p)), str(tmp_path)), Window(None, None))
            for p in (predictions_path, labels_path)
        ]
        joined = engine.labelled(*sides, JoinSpec("y", "truth", "rid", "key", task="regression"))
        assert (joined.production_rows, joined.labelled_rows) == (4, 2)
        assert joined.abs_error_sum == pytest.approx(2.5)
        assert joined.squared_error_sum == pytest.approx(4.25)
