"""The process's pipeline: settings swapped atomically, the running pipeline stopped first."""

from __future__ import annotations

from pathlib import Path

from modeltap import Collector
from modeltap.config import load_settings
from modeltap.pipeline import runtime
from tests.conftest import ConfigureTap, ReadRecords


def test_swap_settings_stops_the_pipeline_and_returns_what_was_in_force(
    configure_tap: ConfigureTap, read_records: ReadRecords, tmp_path: Path
) -> None:
    """swap_settings commits what was collected, reports the final counters, returns the
    previous settings, and the next collect() runs on the new ones."""
    before = configure_tap()
    Collector(name="model_inputs").collect([{"x": 1}])
    other = load_settings({"destination": str(tmp_path / "other")})
    previous, stopped, final = runtime.swap_settings(other, timeout=30)
    assert previous is before and stopped
    assert final.collections["model_inputs"].events_written == 1
    assert len(read_records("model_inputs")) == 1
    assert runtime.peek_runtime() is None
    assert runtime.current_settings() is other
    Collector(name="model_inputs").collect([{"x": 2}])
    assert runtime.flush(30)
    assert list((tmp_path / "other").rglob("*.jsonl"))
    assert runtime.swap_settings(None)[0] is other
