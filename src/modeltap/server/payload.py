"""Payload logging's records as the server uses them: snapshots of HTTP bodies and the sink of
their out-of-line bodies. They live in ``modeltap.snapshot`` (the writer restores payload events
without importing the server); this module names them for the server's modules."""

from __future__ import annotations

from modeltap.snapshot.blobs import PAYLOAD_FOLDER, BlobSink, resolve_dataref
from modeltap.snapshot.payload import DEFAULT_MAX_EVENT_BYTES, PayloadSnapshot, encode_body

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "PAYLOAD_FOLDER",
    "BlobSink",
    "PayloadSnapshot",
    "encode_body",
    "resolve_dataref",
]
