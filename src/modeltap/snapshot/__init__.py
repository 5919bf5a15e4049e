"""Snapshots of collected data: taken cheaply on the request thread, encoded later by the writer.

A snapshot keeps the data exactly as it was when ``collect()`` returned, whatever the caller does
to its frame afterwards. Small pandas frames keep frozen copies of their blocks (``blocks``:
Arrow arrays as they are, numpy arrays copied); larger ones share their blocks' arrays under
copy-on-write (pandas >= 3: a shallow copy of each block registers a reference, so the caller's
frame copies before it writes) or take a deep copy otherwise (``frames``); Arrow tables are
immutable and polars frames are cloned (``tables``); row dicts are encoded at once (their
encoding *is* the snapshot) and column dicts have each column copied (``records``); HTTP bodies
of payload logging are kept as bytes (``payload``).
"""

from modeltap.snapshot.batch import json_rows_many
from modeltap.snapshot.frames import PandasSnapshot
from modeltap.snapshot.payload import PayloadSnapshot, payload_from_parts
from modeltap.snapshot.protocol import ACCEPTED_TYPES, Snapshot, type_fullname
from modeltap.snapshot.take import take_snapshot

__all__ = [
    "ACCEPTED_TYPES",
    "PandasSnapshot",
    "PayloadSnapshot",
    "Snapshot",
    "json_rows_many",
    "payload_from_parts",
    "take_snapshot",
    "type_fullname",
]
