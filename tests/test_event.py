"""Events as the queue holds them: one flat tuple of a kind, and back."""

from __future__ import annotations

import gc
import subprocess
import sys

import pandas as pd

from modeltap.event import (
    APPROX_BYTES,
    COLLECTION,
    DATA,
    FROZEN_FRAME,
    KIND,
    SNAPSHOT,
    Event,
    pack_event,
    pack_payload,
)
from modeltap.snapshot import PayloadSnapshot, take_snapshot

_FIELDS = ("model_inputs", 123, "cid", "xid", "pandas.core.frame.DataFrame")


def test_pack_event_is_the_packed_event_without_making_one() -> None:
    """``pack_event`` (the request path's form) packs as ``Event.pack`` does, and unpacks."""
    snapshot = take_snapshot(pd.DataFrame({"x": [1.5, 2.5], "s": ["a", "b"]}))
    event = Event(*_FIELDS, snapshot, "ep/dep/model_inputs", {"k": 1})
    packed = pack_event(*_FIELDS, snapshot, "ep/dep/model_inputs", {"k": 1})
    assert packed == event.pack()
    assert type(packed) is tuple and packed[KIND] == FROZEN_FRAME
    assert (packed[COLLECTION], packed[APPROX_BYTES]) == ("model_inputs", snapshot.approx_bytes)
    back = Event.unpack(packed)
    assert (back.collection, back.time_ns, back.correlation_id, back.xrequest_id) == _FIELDS[:4]
    assert (back.data_type, back.root, back.extra) == (_FIELDS[4], "ep/dep/model_inputs", {"k": 1})
    assert back.snapshot.to_json_rows() == snapshot.to_json_rows()


def test_other_snapshots_are_queued_as_they_are() -> None:
    """A snapshot with no frozen form (row dicts) is the event's data itself."""
    snapshot = take_snapshot([{"a": 1}])
    packed = pack_event(*_FIELDS, snapshot, "root")
    assert packed[KIND] == SNAPSHOT and packed[DATA] is snapshot
    assert Event.unpack(packed).snapshot is snapshot


def test_payload_events_are_restored_with_their_envelope_fields() -> None:
    """An event of kind PAYLOAD becomes a PayloadSnapshot whose extra fields are the event's."""
    data = (b'{"a": 1}', "application/json", False, "/score", "POST", 200, 1.23456, "root",
            1 << 20, "x-tenant", "blue")
    queued = pack_payload(264, "request", 5, "cid", "xid", "http.request", "root", data)
    back = Event.unpack(queued)
    assert isinstance(back.snapshot, PayloadSnapshot)
    assert back.extra is back.snapshot.extra
    assert back.extra == {"path": "/score", "method": "POST", "statuscode": 200,
                          "latencyms": 1.235, "headers": {"x-tenant": "blue"}}
    assert back.snapshot.to_json_rows() == b'{"a": 1}'


def test_a_queued_small_frame_is_untracked_at_the_first_young_collection() -> None:
    """A queued small frame (numbers and strings) holds only atoms and shared tuples, so the
    garbage collector stops tracking it at the first young collection: a backlog of them never
    reaches the old generation that full collections walk."""
    frame = pd.DataFrame({"x": [1.5], "n": [3], "s": pd.array(["a"], dtype="str")})
    pack_event(*_FIELDS, take_snapshot(frame), "root")  # makes the shared tuples
    gc.collect()
    packed = [pack_event(*_FIELDS, take_snapshot(frame), "root") for _ in range(50)]
    assert all(gc.is_tracked(p) for p in packed)  # the check can fail
    gc.collect(0)
    assert not any(gc.is_tracked(p) for p in packed)
    assert all(Event.unpack(p).snapshot.to_json_rows() == b'[{"x":1.5,"n":3,"s":"a"}]'
               for p in packed)


def test_the_pipeline_never_imports_the_server() -> None:
    """Importing every module of the pipeline (the writer process's included), the collector
    and the snapshots loads no ``modeltap.server`` module: payload events are restored without
    it."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import modeltap, modeltap.collector, modeltap.event, modeltap.pipeline\n"
        "import modeltap.snapshot\n"
        "for package in (modeltap.pipeline, modeltap.snapshot):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "{extra}"
        "print(sorted(m for m in sys.modules if m.startswith('modeltap.server')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code.format(extra="")], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert "modeltap.pipeline.writer_process.child" in subprocess.run(
        [sys.executable, "-c", code.format(extra="print(sorted(sys.modules))\n")],
        capture_output=True, text=True, check=True,
    ).stdout  # the walk reached the writer process's modules
    sanity = subprocess.run(
        [sys.executable, "-c", code.format(extra="import modeltap.server.capture\n")],
        capture_output=True, text=True, check=True,
    )
    assert "modeltap.server.capture" in sanity.stdout  # the check can fail
