"""The Collector: names, data types, disabled collections, queue drops, correlation, sampling."""

from __future__ import annotations

import pandas as pd
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.collector import is_sampled
from modeltap.config import FullPolicy
from modeltap.errors import (
    CollectionDisabledError,
    DataDroppedError,
    InvalidCollectionNameError,
    QueueFullError,
    UnsupportedDataError,
)
from modeltap.pipeline import runtime as runtime_module
from modeltap.pipeline.queue import EventQueue
from modeltap.snapshot import ACCEPTED_TYPES
from tests.conftest import ConfigureTap, ReadRecords

BAD_NAMES = ["model inputs", "model/inputs", "..", "x" * 65, ""]


def frame() -> pd.DataFrame:
    """A small input frame."""
    return pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_name_raises_without_handler(name: str, configure_tap: ConfigureTap) -> None:
    """A name that cannot be a folder name raises InvalidCollectionNameError at construction."""
    configure_tap()
    with pytest.raises(InvalidCollectionNameError) as info:
        Collector(name=name)
    assert repr(name) in str(info.value)
    assert "1-64 characters" in str(info.value)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_name_goes_to_on_error(name: str, configure_tap: ConfigureTap) -> None:
    """With on_error, a bad name is reported, and collect() reports again and returns."""
    configure_tap()
    errors: list[Exception] = []
    collector = Collector(name=name, on_error=errors.append)
    assert len(errors) == 1 and isinstance(errors[0], InvalidCollectionNameError)
    context = BasicCorrelationContext(id="req-1")
    assert collector.collect(frame(), context) is context
    assert len(errors) == 2 and isinstance(errors[1], InvalidCollectionNameError)


def test_valid_name_of_64_characters(configure_tap: ConfigureTap) -> None:
    """64 letters, digits, '_' and '-' are a valid name."""
    configure_tap()
    assert Collector(name="a-_1" * 16).name == "a-_1" * 16


# -- data types ------------------------------------------------------------------------------


def test_unsupported_type_raises_type_error(configure_tap: ConfigureTap) -> None:
    """A type collect() does not accept raises UnsupportedDataError naming it and the choices."""
    configure_tap()
    collector = Collector(name="model_inputs")
    with pytest.raises(UnsupportedDataError) as info:
        collector.collect(42)
    assert isinstance(info.value, TypeError)
    assert "python.int" in str(info.value)
    assert ACCEPTED_TYPES in str(info.value)
    assert modeltap.stats().collections["model_inputs"].dropped == {"invalid_data": 1}


def test_unsupported_type_goes_to_on_error(configure_tap: ConfigureTap) -> None:
    """With on_error, the handler receives the error and collect() returns the context."""
    configure_tap()
    errors: list[Exception] = []
    collector = Collector(name="model_inputs", on_error=errors.append)
    context = BasicCorrelationContext(id="c1")
    assert collector.collect("a string", context) is context
    assert len(errors) == 1
    assert isinstance(errors[0], UnsupportedDataError)
    assert "python.str" in str(errors[0])
    assert modeltap.stats().collections["model_inputs"].dropped == {"invalid_data": 1}


# -- disabled collections --------------------------------------------------------------------


def test_disabled_collection_is_a_counted_no_op(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """An unlisted collection constructs, collects nothing, raises nothing, counts 'disabled'."""
    configure_tap(collections={"model_inputs": {"enabled": True}})
    collector = Collector(name="model_outputs")
    context = BasicCorrelationContext(id="d1")
    assert collector.collect(frame(), context) is context
    assert collector.collect(frame()) is not None
    stats = modeltap.stats().collections["model_outputs"]
    assert stats.dropped == {"disabled": 2}
    assert stats.collected == 0
    assert read_records("model_outputs") == []


def test_disabled_collection_reports_to_on_error(configure_tap: ConfigureTap) -> None:
    """With on_error, a disabled collection's collect() hands it a CollectionDisabledError."""
    configure_tap(collections={"model_outputs": {"enabled": "False"}})
    errors: list[Exception] = []
    collector = Collector(name="model_outputs", on_error=errors.append)
    assert errors == []
    collector.collect(frame())
    assert len(errors) == 1
    assert isinstance(errors[0], CollectionDisabledError)
    assert "model_outputs" in str(errors[0]) and "disabled" in str(errors[0])


# -- queue full ------------------------------------------------------------------------------


def detach_queue(max_events: int, policy: FullPolicy) -> tuple[runtime_module.Runtime, EventQueue]:
    """Give the running pipeline a small queue that its writer never drains."""
    runtime = runtime_module.get_runtime()
    original = runtime.queue
    runtime.queue = EventQueue(
        max_events=max_events, max_bytes=1 << 30, policy=policy, block_timeout=0.01
    )
    return runtime, original


def test_queue_full_drop_newest_is_counted_and_raised(configure_tap: ConfigureTap) -> None:
    """When the queue is full under drop_newest, collect() raises QueueFullError and counts it."""
    configure_tap(queue_max_events=1)
    collector = Collector(name="model_inputs")
    runtime, original = detach_queue(1, FullPolicy.DROP_NEWEST)
    try:
        collector.collect(frame())
        with pytest.raises(QueueFullError) as info:
            collector.collect(frame())
        assert isinstance(info.value, DataDroppedError)
        assert "queue full" in str(info.value)
        stats = modeltap.stats().collections["model_inputs"]
        assert stats.collected == 1
        assert stats.dropped == {"queue_full": 1}
        assert runtime.stats.last_error is not None and "queue full" in runtime.stats.last_error
    finally:
        runtime.queue = original


def test_queue_full_drop_newest_goes_to_on_error(configure_tap: ConfigureTap) -> None:
    """With on_error, a refused event is reported to the handler and collect() returns."""
    configure_tap()
    errors: list[Exception] = []
    collector = Collector(name="model_inputs", on_error=errors.append)
    runtime, original = detach_queue(2, FullPolicy.DROP_NEWEST)
    try:
        for _ in range(5):
            collector.collect(frame())
        assert len(errors) == 3
        assert all(isinstance(e, QueueFullError) for e in errors)
        assert modeltap.stats().collections["model_inputs"].dropped == {"queue_full": 3}
    finally:
        runtime.queue = original


def test_queue_full_drop_oldest_reports_the_evicted_event(configure_tap: ConfigureTap) -> None:
    """Under drop_oldest the new event is kept, the oldest is evicted, counted and reported."""
    configure_tap()
    errors: list[Exception] = []
    inputs = Collector(name="model_inputs", on_error=errors.append)
    outputs = Collector(name="model_outputs", on_error=errors.append)
    runtime, original = detach_queue(1, FullPolicy.DROP_OLDEST)
    try:
        inputs.collect(frame())
        outputs.collect(frame())
        stats = modeltap.stats().collections
        assert stats["model_inputs"].dropped == {"queue_full": 1}
        assert stats["model_outputs"].collected == 1
        assert len(errors) == 1 and isinstance(errors[0], QueueFullError)
        assert "model_inputs" in str(errors[0])
        queued = list(runtime.queue.discard_all())
        assert [e.collection for e in queued] == ["model_outputs"]
    finally:
        runtime.queue = original


# -- correlation -----------------------------------------------------------------------------


def test_same_context_gives_same_correlation_id(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """The context returned by the inputs collect() correlates the outputs record."""
    configure_tap()
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")
    context = inputs.collect(frame())
    assert outputs.collect(frame(), context) is context
    (record_in,) = read_records("model_inputs")
    (record_out,) = read_records("model_outputs")
    assert record_in["correlationid"] == record_out["correlationid"] == context.get_id()


def test_correlation_block_sets_the_id(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Inside ``with modeltap.correlation("abc")`` every record carries the id abc."""
    configure_tap()
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")
    with modeltap.correlation("abc"):
        assert inputs.collect(frame()).get_id() == "abc"
        outputs.collect(frame())
    outside = inputs.collect(frame())
    assert outside.get_id() != "abc"
    ids = [r["correlationid"] for r in read_records("model_inputs")]
    assert ids == ["abc", outside.get_id()]
    assert [r["correlationid"] for r in read_records("model_outputs")] == ["abc"]


def test_basic_correlation_context_id(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """A BasicCorrelationContext with a chosen id is recorded as correlationid and xrequestid."""
    configure_tap()
    Collector(name="model_inputs").collect(frame(), BasicCorrelationContext(id="my-id"))
    (record,) = read_records("model_inputs")
    assert record["correlationid"] == "my-id"
    assert record["xrequestid"] == "my-id"


def test_x_request_id_header_becomes_xrequestid(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """An x-request-id header in the context is recorded as xrequestid."""
    configure_tap()
    context = BasicCorrelationContext(id="corr-1", headers={"x-request-id": "req-77"})
    Collector(name="model_inputs").collect(frame(), context)
    (record,) = read_records("model_inputs")
    assert record["correlationid"] == "corr-1"
    assert record["xrequestid"] == "req-77"


# -- sampling --------------------------------------------------------------------------------


def test_sampling_keeps_inputs_and_outputs_together(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Sampling by correlation id keeps both records of a request or neither, about half."""
    configure_tap(sampling_rate=0.5)
    inputs = Collector(name="model_inputs")
    outputs = Collector(name="model_outputs")
    ids = [f"request-{i}" for i in range(400)]
    for request_id in ids:
        context = inputs.collect([{"x": 1}], BasicCorrelationContext(id=request_id))
        outputs.collect([{"y": 2}], context)
    kept_in = {r["correlationid"] for r in read_records("model_inputs")}
    kept_out = {r["correlationid"] for r in read_records("model_outputs")}
    assert kept_in == kept_out
    assert 0.3 < len(kept_in) / len(ids) < 0.7
    stats = modeltap.stats().collections
    for name in ("model_inputs", "model_outputs"):
        assert stats[name].collected == len(kept_in)
        assert stats[name].sampled_out == len(ids) - len(kept_in)
        assert stats[name].dropped == {}


def test_sampling_rate_zero_keeps_nothing(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """At rate 0 nothing is written and every call counts as sampled out (not dropped)."""
    configure_tap(collections={"model_inputs": {"sampling_rate": 0}})
    inputs = Collector(name="model_inputs")
    for _ in range(10):
        inputs.collect(frame())
    assert read_records("model_inputs") == []
    stats = modeltap.stats()
    assert stats.collections["model_inputs"].sampled_out == 10
    assert stats.dropped_total == 0


def test_collected_rows_are_written(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """A collected frame arrives as one record with its rows and the pandas type name."""
    configure_tap()
    Collector(name="model_inputs").collect(frame())
    (record,) = read_records("model_inputs")
    assert record["data"] == [{"a": 1, "b": 0.5}, {"a": 2, "b": 1.5}]
    assert record["collectdatatype"] == "pandas.core.frame.DataFrame"
    stats = modeltap.stats().collections["model_inputs"]
    assert (stats.collected, stats.events_written, stats.rows_written) == (1, 1, 2)
    assert stats.files_committed == 1


# -- pipeline restarts -----------------------------------------------------------------------


def test_collect_after_shutdown_restarts_the_pipeline(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """A collector made before shutdown() still delivers: its next collect() restarts the
    pipeline instead of queueing into the stopped one."""
    configure_tap()
    inputs = Collector(name="model_inputs")
    inputs.collect([{"n": 1}])
    assert modeltap.shutdown(timeout=30)
    inputs.collect([{"n": 2}])
    assert sorted(r["data"][0]["n"] for r in read_records("model_inputs")) == [1, 2]


def test_configure_applies_to_existing_collectors(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """After configure(), an existing collector follows the new settings."""
    configure_tap()
    outputs = Collector(name="model_outputs")
    outputs.collect([{"n": 1}])
    configure_tap(collections={"model_inputs": {"enabled": True}})  # outputs now disabled
    outputs.collect([{"n": 2}])
    assert [r["data"] for r in read_records("model_outputs")] == [[{"n": 1}]]
    assert modeltap.stats().collections["model_outputs"].dropped == {"disabled": 1}


def test_lower_sampling_rates_keep_a_subset() -> None:
    """Sampling is by a hash threshold: ids kept at a lower rate are kept at any higher rate,
    so collections with different rates still line up."""
    ids = [f"id-{i}" for i in range(2_000)]
    kept = {rate: {i for i in ids if is_sampled(i, rate)} for rate in (0.0, 0.1, 0.5, 0.9, 1.0)}
    assert kept[0.0] == set() and kept[1.0] == set(ids)
    assert kept[0.1] <= kept[0.5] <= kept[0.9]
    assert 100 < len(kept[0.1]) < 300
    assert all(is_sampled(i, 0.5) == is_sampled(i, 0.5) for i in ids[:50])


def test_block_policy_loses_nothing_with_a_tiny_queue(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Under full_policy block, a one-event queue makes collect() wait for the writer; every
    event arrives and nothing is dropped."""
    configure_tap(queue_max_events=1, full_policy="block", block_timeout=60)
    inputs = Collector(name="model_inputs")
    for n in range(200):
        inputs.collect([{"n": n}])
    assert [r["data"][0]["n"] for r in read_records("model_inputs")] == list(range(200))
    stats = modeltap.stats()
    assert stats.dropped_total == 0
    assert stats.collections["model_inputs"].events_written == 200
