"""Events as the queue holds them: packed into flat tuples and back."""

from __future__ import annotations

import pandas as pd

from modeltap.event import Event, pack_event
from modeltap.snapshot import take_snapshot


def test_pack_event_is_the_packed_event_without_making_one() -> None:
    """``pack_event`` (the request path's form) packs as ``Event.pack`` does, and unpacks."""
    snapshot = take_snapshot(pd.DataFrame({"x": [1.5, 2.5], "s": ["a", "b"]}))
    fields = ("model_inputs", 123, "cid", "xid", "pandas.core.frame.DataFrame")
    event = Event(*fields, snapshot, "ep/dep/model_inputs", {"k": 1})
    packed = pack_event(*fields, snapshot, "ep/dep/model_inputs", {"k": 1})
    assert packed == event.pack()
    back = Event.unpack(packed)
    assert (back.collection, back.time_ns, back.correlation_id, back.xrequest_id) == fields[:4]
    assert (back.data_type, back.root, back.extra) == (fields[4], "ep/dep/model_inputs", {"k": 1})
    assert back.snapshot.to_json_rows() == snapshot.to_json_rows()
