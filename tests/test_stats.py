"""Pipeline counters: per collection and reason, frozen snapshots, totals, plain-data form."""

from __future__ import annotations

import json
import threading

import modeltap
from modeltap.stats import CollectionStats, PipelineStats, StatsRecorder


def test_counters_per_collection_and_reason() -> None:
    """Each counter is kept per collection, drops per reason."""
    recorder = StatsRecorder()
    recorder.collected("model_inputs")
    recorder.collected("model_inputs")
    recorder.sampled_out("model_inputs")
    recorder.dropped("model_inputs", "queue_full")
    recorder.dropped("model_inputs", "queue_full", 3)
    recorder.dropped("model_outputs", "disabled")
    recorder.written("model_inputs", rows=10, nbytes=100)
    recorder.written("model_inputs", rows=5, nbytes=50)
    recorder.committed("model_inputs")
    stats = recorder.snapshot()
    inputs = stats.collections["model_inputs"]
    assert inputs == CollectionStats(
        collected=2,
        sampled_out=1,
        dropped={"queue_full": 4},
        events_written=2,
        rows_written=15,
        bytes_written=150,
        files_committed=1,
    )
    assert stats.collections["model_outputs"].dropped == {"disabled": 1}
    assert stats.collections["model_outputs"].collected == 0
    assert list(stats.collections) == ["model_inputs", "model_outputs"]


def test_totals() -> None:
    """total() sums a counter over collections; dropped_total sums every reason."""
    recorder = StatsRecorder()
    recorder.collected("b")
    recorder.collected("a")
    recorder.collected("a")
    recorder.dropped("a", "disabled", 2)
    recorder.dropped("b", "spool_full")
    recorder.dropped("b", "queue_full", 4)
    stats = recorder.snapshot()
    assert stats.total("collected") == 3
    assert stats.total("files_committed") == 0
    assert stats.collections["b"].dropped_total == 5
    assert stats.dropped_total == 7


def test_snapshot_is_a_frozen_copy() -> None:
    """Counting after a snapshot does not change the snapshot."""
    recorder = StatsRecorder()
    recorder.dropped("a", "disabled")
    before = recorder.snapshot()
    recorder.dropped("a", "disabled")
    recorder.collected("c")
    assert before.collections["a"].dropped == {"disabled": 1}
    assert "c" not in before.collections
    assert recorder.snapshot().collections["a"].dropped == {"disabled": 2}


def test_gauges_and_errors_in_snapshot() -> None:
    """The snapshot carries the measured gauges, commit counters and the last error."""
    recorder = StatsRecorder()
    recorder.commit_failures = 2
    recorder.commit_retries = 1
    assert recorder.snapshot().last_error is None
    recorder.error("store down")
    stats = recorder.snapshot(
        queue_depth=3, queue_bytes=300, spool_bytes=1000, spool_segments=2, oldest_waiting_age=1.5
    )
    assert (stats.queue_depth, stats.queue_bytes) == (3, 300)
    assert (stats.spool_bytes, stats.spool_segments, stats.oldest_waiting_age) == (1000, 2, 1.5)
    assert (stats.commit_failures, stats.commit_retries) == (2, 1)
    assert stats.last_error == "store down"
    assert stats.last_error_time is not None


def test_as_dict_is_plain_data() -> None:
    """as_dict gives nested plain dicts that serialize to JSON."""
    recorder = StatsRecorder()
    recorder.collected("model_inputs")
    recorder.dropped("model_inputs", "invalid_data")
    data = recorder.snapshot(queue_depth=1).as_dict()
    assert data["collections"]["model_inputs"]["collected"] == 1
    assert data["collections"]["model_inputs"]["dropped"] == {"invalid_data": 1}
    assert data["queue_depth"] == 1
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {f for f in PipelineStats.__dataclass_fields__}


def test_counting_is_thread_safe() -> None:
    """Counts from many threads at once add up exactly."""
    recorder = StatsRecorder()
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(5_000):
            recorder.collected("a")
            recorder.dropped("a", "queue_full")
            recorder.written("a", 2, 10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = recorder.snapshot().collections["a"]
    assert stats.collected == 20_000
    assert stats.dropped == {"queue_full": 20_000}
    assert (stats.events_written, stats.rows_written, stats.bytes_written) == (
        20_000, 40_000, 200_000
    )


def test_stats_without_a_pipeline_is_empty() -> None:
    """modeltap.stats() before anything ran returns empty counters."""
    stats = modeltap.stats()
    assert stats.collections == {}
    assert stats.dropped_total == 0
    assert stats.queue_depth == 0
