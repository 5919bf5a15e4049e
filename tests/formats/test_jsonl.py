"""JSON lines records: the CloudEvents-style envelope with the platform's field names."""

from __future__ import annotations

import re
import uuid

import orjson
import pandas as pd
import pytest

import modeltap
from modeltap import BasicCorrelationContext, Collector
from modeltap.event import Event, rfc3339_ms
from modeltap.formats.jsonl import EXTENSION, EnvelopeSource, decode_records, encode_event
from modeltap.snapshot import take_snapshot, type_fullname
from tests.conftest import ConfigureTap, ReadRecords

ENVELOPE = EnvelopeSource(
    endpoint="my-endpoint", deployment="blue", model_version="3", agent="modeltap/9.9.9"
)
TIME_NS = 1_714_566_896_789_123_456  # 2024-05-01T12:34:56.789123456Z
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def make_event(data: object, collection: str = "model_inputs", **fields: object) -> Event:
    """An event of ``data`` at TIME_NS."""
    values: dict[str, object] = {
        "collection": collection,
        "time_ns": TIME_NS,
        "correlation_id": "corr-1",
        "xrequest_id": "req-1",
        "data_type": type_fullname(data),
        "snapshot": take_snapshot(data),
        "root": f"my-endpoint/blue/{collection}",
    }
    values.update(fields)
    return Event(**values)  # type: ignore[arg-type]


def test_envelope_fields() -> None:
    """A record has every envelope field with the platform's names and values."""
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    line = encode_event(make_event(frame), ENVELOPE)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = orjson.loads(line)
    assert record["specversion"] == "1.0"
    assert uuid.UUID(record["id"]).version == 4
    assert record["source"] == "/endpoints/my-endpoint/deployments/blue"
    assert record["type"] == "modeltap.inference.model_inputs"
    assert record["datacontenttype"] == "application/json"
    assert record["time"] == "2024-05-01T12:34:56.789Z"
    assert RFC3339_MS.match(record["time"])
    assert record["data"] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert record["correlationid"] == "corr-1"
    assert record["xrequestid"] == "req-1"
    assert record["modelversion"] == "3"
    assert record["collectdatatype"] == "pandas.core.frame.DataFrame"
    assert record["agent"] == "modeltap/9.9.9"
    assert EXTENSION == "jsonl"


def test_record_ids_are_unique() -> None:
    """Every record gets its own id."""
    event = make_event([{"a": 1}])
    ids = {orjson.loads(encode_event(event, ENVELOPE))["id"] for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize(
    "data",
    [
        [{"a": 1}],
        [{"text": "héllo wörld ✓ 日本"}],
        pd.DataFrame({"emoji": ["🙂", "ü"], "n": [1.5, 2.5]}),
        [],
    ],
)
def test_contentrange_matches_the_data_bytes(data: object) -> None:
    """contentrange is ``bytes 0-{n-1}/{n}`` for the byte length n of the encoded data."""
    line = encode_event(make_event(data), ENVELOPE)
    raw = line.split(b'"data":', 1)[1].split(b',"correlationid":', 1)[0]
    record = orjson.loads(line)
    assert orjson.loads(raw) == record["data"]
    n = len(raw)
    assert record["contentrange"] == f"bytes 0-{n - 1}/{n}"
    assert n == len(take_snapshot(data).to_json_rows())


def test_extra_fields_are_added() -> None:
    """Extra envelope fields of an event (payload capture) are written into the record."""
    record = orjson.loads(
        encode_event(make_event([{"a": 1}], extra={"httpstatus": 200}), ENVELOPE)
    )
    assert record["httpstatus"] == 200
    assert record["correlationid"] == "corr-1"


@pytest.mark.parametrize(
    ("time_ns", "expected"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (TIME_NS, "2024-05-01T12:34:56.789Z"),
        (1_714_566_896_999_999_999, "2024-05-01T12:34:56.999Z"),
        (1_704_067_199_000_000_001, "2023-12-31T23:59:59.000Z"),
    ],
)
def test_rfc3339_ms(time_ns: int, expected: str) -> None:
    """Times are RFC 3339 in UTC with milliseconds (truncated) and a Z."""
    assert rfc3339_ms(time_ns) == expected


def test_decode_records() -> None:
    """decode_records parses each line, skipping blank lines, in order."""
    lines = b"".join(encode_event(make_event([{"i": i}]), ENVELOPE) for i in range(3))
    blob = b"\n" + lines.replace(b"\n", b"\n\n", 1) + b"  \n"
    records = list(decode_records(blob))
    assert [r["data"] for r in records] == [[{"i": 0}], [{"i": 1}], [{"i": 2}]]
    assert list(decode_records(b"")) == []


def test_decode_records_rejects_a_broken_line() -> None:
    """A line that is not JSON is an error, not silently skipped."""
    with pytest.raises(orjson.JSONDecodeError):
        list(decode_records(b'{"a":1}\n{"a":'))


def test_records_through_the_pipeline(
    configure_tap: ConfigureTap, read_records: ReadRecords
) -> None:
    """Committed records carry the deployment's names, the model version and the agent."""
    configure_tap(model_version="v7")
    context = BasicCorrelationContext(id="c-42", headers={"x-request-id": "r-42"})
    Collector(name="model_outputs").collect([{"score": 0.75}], context)
    (record,) = read_records("model_outputs")
    assert record["source"] == "/endpoints/ep/deployments/dep"
    assert record["type"] == "modeltap.inference.model_outputs"
    assert record["modelversion"] == "v7"
    assert record["agent"] == f"modeltap/{modeltap.__version__}"
    assert record["collectdatatype"] == "python.list"
    assert (record["correlationid"], record["xrequestid"]) == ("c-42", "r-42")
    assert record["data"] == [{"score": 0.75}]
    assert RFC3339_MS.match(record["time"])
