"""Frames to and from the writer process: what goes in comes out, object arrays as tuples."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd

from modeltap.event import Event, QueuedEvent, pack_event
from modeltap.pipeline.writer_process import wire
from modeltap.snapshot import take_snapshot


def _through_a_pipe(message: object) -> object:
    """``message`` framed, sent through a pipe and received."""
    read_end, write_end = os.pipe()
    try:
        wire.send(write_end, wire.frame(message))
        return wire.receive(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_frame_carries_arrays_of_every_kind_unchanged() -> None:
    """Object vectors, numeric and 2-D object arrays come back equal, in dtype and shape."""
    strings = np.array(["a", None, ["nested", "list"], np.nan], dtype=object)
    numbers = np.arange(6, dtype=np.int32).reshape(2, 3)
    objects = np.array([[1, "x"], [None, 2.5]], dtype=object)
    back = _through_a_pipe(("events", 7, [(strings, numbers, objects)]))
    assert isinstance(back, tuple) and back[:2] == ("events", 7)
    got_strings, got_numbers, got_objects = back[2][0]
    assert got_strings.dtype == object and got_strings.shape == (4,)
    assert got_strings[2] == ["nested", "list"] and got_strings[1] is None
    assert np.isnan(got_strings[3])
    assert got_numbers.dtype == np.int32 and (got_numbers == numbers).all()
    assert got_objects.shape == (2, 2) and got_objects.tolist() == objects.tolist()


def test_object_vectors_travel_as_tuples_not_numpy_reductions() -> None:
    """A small frame's string column is pickled as a tuple of strings: numpy's reduction
    (which pickles the array's dtype and reconstructs it on the other side) is not used."""
    snapshot = take_snapshot(pd.DataFrame({"s": pd.array(["a", "b"], "string")}))
    packed = pack_event("model_inputs", 1, "cid", "xid", "pandas", snapshot, "root")
    data = wire.events_frame(0, [packed])
    assert b"numpy" not in data
    assert pickle.dumps(packed).count(b"numpy") > 0  # plain pickle would have used it
    assert Event.unpack(_events_through_a_pipe([packed])[0]).snapshot.to_json_rows() == (
        b'[{"s":"a"},{"s":"b"}]'
    )


def test_queued_events_travel_as_plain_tuples() -> None:
    """An events frame holds each event as its plain tuple (a small frame's with no class to
    reduce), and the receiver gets equal queued events back."""
    events = [
        pack_event("model_inputs", n, f"cid{n}", "xid", "pandas", take_snapshot(frame), "root")
        for n, frame in enumerate([pd.DataFrame({"x": [1.5]}), pd.DataFrame({"y": ["a"]})])
    ]
    events.append(pack_event("rows", 9, "cid", "xid", "list", take_snapshot([{"a": 1}]), "r"))
    assert b"modeltap.event" not in wire.events_frame(3, events)  # no class of the envelope
    back = _events_through_a_pipe(events)
    assert all(type(event) is tuple for event in back)
    assert [e[:9] for e in back] == [e[:9] for e in events]
    assert [Event.unpack(e).snapshot.to_json_rows() for e in back] == [
        b'[{"x":1.5}]', b'[{"y":"a"}]', b'[{"a":1}]'
    ]


def _events_through_a_pipe(events: list[QueuedEvent]) -> list[QueuedEvent]:
    """``events`` sent in an events frame through a pipe, and received as queued events."""
    read_end, write_end = os.pipe()
    try:
        wire.send(write_end, wire.events_frame(0, events))
        kind, first, fields = wire.receive(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert (kind, first) == ("events", 0)
    return list(fields)


def test_a_frame_starts_with_its_body_length() -> None:
    """The 8-byte little-endian prefix is the length of the pickle that follows it."""
    data = wire.frame({"key": list(range(100))})
    assert int.from_bytes(data[:8], "little") == len(data) - 8
    assert pickle.loads(data[8:]) == {"key": list(range(100))}
