"""The envelope: the record fields shared by every event of one deployment."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

__all__ = ["EnvelopeSource"]


@dataclass(frozen=True, slots=True)
class EnvelopeSource:
    """The envelope fields shared by every record of one deployment."""

    endpoint: str
    deployment: str
    model_version: str
    agent: str
    _pieces: dict[str, tuple[bytes, bytes, bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this deployment."""
        return f"/endpoints/{self.endpoint}/deployments/{self.deployment}"

    def pieces(self, collection: str) -> tuple[bytes, bytes, bytes]:
        """The constant parts of a collection's records, encoded once: the fields between
        ``id`` and ``time``; ``modelversion`` up to ``collectdatatype``; ``agent`` up to the
        start of ``contentrange``."""
        pieces = self._pieces.get(collection)
        if pieces is None:
            fields = {
                "source": self.source,
                "type": f"modeltap.inference.{collection}",
                "datacontenttype": "application/json",
            }
            pieces = (
                b'",' + orjson.dumps(fields)[1:-1] + b',"time":"',
                b',"modelversion":' + orjson.dumps(self.model_version) + b',"collectdatatype":',
                b',"agent":' + orjson.dumps(self.agent) + b',"contentrange":"bytes 0-',
            )
            self._pieces[collection] = pieces
        return pieces
