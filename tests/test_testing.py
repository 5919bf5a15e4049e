"""modeltap.testing: capture() runs user code through the real pipeline into memory, shows what
it collected, leaves nothing on disk and restores the configuration it replaced."""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path

import fsspec
import pandas as pd
import pytest

import modeltap
import modeltap.testing
from modeltap import BasicCorrelationContext, Collector
from modeltap.errors import ConfigError, ModelTapError
from modeltap.pipeline import runtime as runtime_module
from modeltap.reading import ENVELOPE_COLUMNS
from tests.conftest import EXAMPLES, ConfigureTap, ReadRecords, load_script


def _files(root: Path) -> list[Path]:
    """Every file under ``root``."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def _memory_paths(url: str) -> list[str]:
    """What fsspec's memory file system holds under ``url``."""
    fs, root = fsspec.core.url_to_fs(url)
    return [k for k in fs.store if k.startswith(root + "/")]


@pytest.fixture
def clean_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders, the working directory, the user cache and the default data folder
    all under one folder, so a test can see everything written to disk."""
    root = tmp_path / "disk"
    for name in ("tmp", "cwd", "cache"):
        (root / name).mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(root / "tmp"))
    monkeypatch.chdir(root / "cwd")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    monkeypatch.setenv("MODELTAP_DATA_DIR", str(root / "data"))
    return root


def test_how_to_script_records_both_collections_with_one_correlation_id() -> None:
    """The how-to scoring script inside capture(): inputs and outputs per request, correlated."""
    script = load_script(EXAMPLES / "score.py")
    bodies = [{"data": {"a": [i, i + 1], "b": [0.5, 1.5]}} for i in range(3)]
    with modeltap.testing.capture() as captured:
        script.init()
        for body in bodies:
            script.run(json.dumps(body))
        assert captured.collections() == ["model_inputs", "model_outputs"]
    inputs = captured.records("model_inputs")
    outputs = captured.records("model_outputs")
    sent = [pd.DataFrame(b["data"]).to_dict("records") for b in bodies]
    assert [r["data"] for r in inputs] == sent
    assert [r["correlationid"] for r in inputs] == [r["correlationid"] for r in outputs]
    assert len({r["correlationid"] for r in inputs}) == len(bodies)
    assert {r["specversion"] for r in inputs} == {"1.0"}
    assert outputs[0]["type"] == "modeltap.inference.model_outputs"
    frame = captured.frame("model_inputs")
    assert frame["a"].tolist() == [0, 1, 1, 2, 2, 3]
    assert frame["correlationid"].tolist() == [r["correlationid"] for r in inputs for _ in "ab"]
    joined = modeltap.join(frame, captured.frame("model_outputs"))
    assert len(joined) == 6 and joined["prediction"].notna().all()
    assert captured.stats.total("collected") == 6
    assert captured.stats.total("files_committed") == 2


def test_records_are_visible_inside_the_block() -> None:
    """records() and frame() commit first, so what was collected so far is seen in the block."""
    with modeltap.testing.capture() as captured:
        assert captured.active and captured.records("model_inputs") == []
        Collector(name="model_inputs").collect([{"x": 1}], BasicCorrelationContext(id="r1"))
        assert [r["correlationid"] for r in captured.records("model_inputs")] == ["r1"]
        Collector(name="model_inputs").collect([{"x": 2}], BasicCorrelationContext(id="r2"))
        assert captured.frame("model_inputs")["x"].tolist() == [1, 2]
        picked = captured.frame("model_inputs", columns=["x", "correlationid"])
        assert picked.to_dict("list") == {"x": [1, 2], "correlationid": ["r1", "r2"]}
        assert captured.stats.total("collected") == 2
    assert not captured.active


def test_previous_configuration_is_restored(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """A collect() after the block lands in the destination configured before it, and one
    inside the block (even by a collector made before it) lands only in the capture."""
    settings = configure_tap()
    inputs = Collector(name="model_inputs")
    inputs.collect([{"when": "before"}])
    with modeltap.testing.capture() as captured:
        inputs.collect([{"when": "inside"}])
    inputs.collect([{"when": "after"}])
    assert runtime_module.current_settings() is settings
    landed = sorted(r["data"][0]["when"] for r in read_records("model_inputs"))
    assert landed == ["after", "before"]  # two pipelines, two files: no order between them
    assert [r["data"] for r in captured.records("model_inputs")] == [[{"when": "inside"}]]


def test_unconfigured_state_is_restored(clean_disk: Path) -> None:
    """Without configure() before the block, the defaults from the environment apply after it."""
    assert runtime_module._settings is None
    with modeltap.testing.capture():
        Collector(name="model_inputs").collect([{"x": 1}])
    assert runtime_module._settings is None
    Collector(name="model_inputs").collect([{"x": 2}])
    assert modeltap.flush(timeout=30)
    written = [p for p in _files(clean_disk / "data") if p.suffix == ".jsonl"]
    assert len(written) == 1 and "local/default/model_inputs" in written[0].as_posix()


def test_nothing_is_written_to_disk(clean_disk: Path) -> None:
    """Committed files exist only in memory; the spool's folder is gone after the block."""
    with modeltap.testing.capture() as captured:
        Collector(name="model_inputs").collect(pd.DataFrame({"x": range(100)}))
        assert len(captured.records("model_inputs")) == 1
        assert captured.destination.startswith("memory://")
        assert _memory_paths(captured.destination)
        assert not [p for p in _files(clean_disk) if p.suffix in (".jsonl", ".parquet")]
    assert _files(clean_disk) == []
    assert list((clean_disk / "tmp").iterdir()) == []
    assert len(captured.frame("model_inputs")) == 100, "still readable after the block"


def test_memory_is_freed_with_the_capture() -> None:
    """The in-memory store of a capture goes away when the Capture object does."""
    with modeltap.testing.capture() as captured:
        Collector(name="model_inputs").collect([{"x": 1}])
    url = captured.destination
    assert _memory_paths(url)
    del captured
    gc.collect()
    assert _memory_paths(url) == []


def test_captures_are_isolated_from_each_other() -> None:
    """Each capture has its own store: a second one does not see the first one's records."""
    with modeltap.testing.capture() as first:
        Collector(name="model_inputs").collect([{"x": 1}])
    with modeltap.testing.capture() as second:
        Collector(name="model_inputs").collect([{"x": 2}])
    assert first.destination != second.destination
    assert [r["data"] for r in first.records("model_inputs")] == [[{"x": 1}]]
    assert [r["data"] for r in second.records("model_inputs")] == [[{"x": 2}]]


def test_nested_capture_restores_the_outer_one() -> None:
    """An inner capture gets only its own records and the outer one continues after it."""
    inputs = Collector(name="model_inputs")
    with modeltap.testing.capture() as outer:
        inputs.collect([{"x": "outer-1"}])
        with modeltap.testing.capture() as inner:
            inputs.collect([{"x": "inner"}])
        inputs.collect([{"x": "outer-2"}])
    assert [r["data"][0]["x"] for r in outer.records("model_inputs")] == ["outer-1", "outer-2"]
    assert outer.frame("model_inputs")["x"].tolist() == ["outer-1", "outer-2"]
    assert [r["data"][0]["x"] for r in inner.records("model_inputs")] == ["inner"]


def test_disabled_collection_yields_no_records() -> None:
    """A collection the given configuration disables has no records, and the drop is counted."""
    config = {
        "collections": {
            "model_inputs": {"enabled": "True"},
            "model_outputs": {"enabled": "False"},
        }
    }
    with modeltap.testing.capture(config) as captured:
        context = Collector(name="model_inputs").collect([{"x": 1}])
        Collector(name="model_outputs").collect([{"y": 1}], context)
        Collector(name="unlisted").collect([{"z": 1}])
    assert captured.collections() == ["model_inputs"]
    assert captured.records("model_outputs") == []
    assert captured.records("unlisted") == []
    assert len(captured.records("model_inputs")) == 1
    assert list(captured.frame("model_outputs").columns) == list(ENVELOPE_COLUMNS)
    assert captured.stats.collections["model_outputs"].dropped == {"disabled": 1}


def test_deployment_names_and_format_of_the_config_apply(tmp_path: Path) -> None:
    """A deployment's endpoint, name and Parquet format apply; its destination and data.path
    are replaced by the capture's store."""
    elsewhere = tmp_path / "elsewhere"
    config = {
        "endpoint_name": "credit",
        "name": "blue",
        "data_collector": {
            "destination": str(tmp_path / "real-store"),
            "format": "parquet",
            "collections": {
                "model_inputs": {"enabled": True, "data": {"name": "in", "path": str(elsewhere)}}
            },
        },
    }
    with modeltap.testing.capture(config) as captured:
        Collector(name="model_inputs").collect([{"x": 1}, {"x": 2}])
    assert captured.settings.endpoint == "credit"
    assert captured.frame("model_inputs")["x"].tolist() == [1, 2]
    assert captured.collections() == ["model_inputs"]
    assert _files(tmp_path) == []
    with pytest.raises(ConfigError, match="use frame"):
        captured.records("model_inputs")


def test_records_follow_the_deployment_names(tmp_path: Path) -> None:
    """A deployment YAML path is accepted and its endpoint and name appear in the records."""
    path = tmp_path / "deploy.yaml"
    path.write_text("endpoint_name: credit\nname: blue\ndata_collector: {}\n")
    with modeltap.testing.capture(path) as captured:
        Collector(name="model_inputs").collect([{"x": 1}])
    (record,) = captured.records("model_inputs")
    assert record["source"] == "/endpoints/credit/deployments/blue"


def test_exception_in_the_block_still_restores(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """An error inside the block propagates, yet the pipeline is stopped, what was collected is
    readable and the previous configuration is back."""
    configure_tap()
    with pytest.raises(RuntimeError, match="boom"), modeltap.testing.capture() as captured:
        Collector(name="model_inputs").collect([{"x": "inside"}])
        raise RuntimeError("boom")
    assert not captured.active
    assert [r["data"] for r in captured.records("model_inputs")] == [[{"x": "inside"}]]
    Collector(name="model_inputs").collect([{"x": "after"}])
    assert [r["data"] for r in read_records("model_inputs")] == [[{"x": "after"}]]


def test_invalid_config_fails_before_anything_changes(
    configure_tap: ConfigureTap, clean_disk: Path
) -> None:
    """A bad configuration raises ConfigError, leaves no temporary folder and the previous
    settings in force."""
    settings = configure_tap()
    with pytest.raises(ConfigError, match="sampling_rate"), modeltap.testing.capture(
        {"sampling_rate": 2}
    ):
        pass
    assert runtime_module.current_settings() is settings
    assert list((clean_disk / "tmp").iterdir()) == []


def test_pipeline_not_stopping_in_time_is_an_error(
    configure_tap: ConfigureTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the pipeline does not commit and stop within the timeout, leaving the block raises
    ModelTapError (the block's own error wins if it raised); the configuration is restored."""
    settings = configure_tap()
    real = runtime_module.Runtime.shutdown

    def late_shutdown(self: runtime_module.Runtime, timeout: float | None = None) -> bool:
        """Stop the pipeline, then report that the timeout ran out."""
        real(self, timeout)
        return False

    monkeypatch.setattr(runtime_module.Runtime, "shutdown", late_shutdown)
    with pytest.raises(ModelTapError, match=r"within 0\.5 s"), modeltap.testing.capture(
        timeout=0.5
    ):
        Collector(name="model_inputs").collect([{"x": 1}])
    assert runtime_module.current_settings() is settings
    with pytest.raises(KeyError), modeltap.testing.capture():
        raise KeyError("the block's own error")
