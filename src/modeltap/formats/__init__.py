"""Record formats: a batch of events to bytes, and back."""

from modeltap.formats.jsonl import EnvelopeSource, decode_records, encode_event

__all__ = ["EnvelopeSource", "decode_records", "encode_event"]
