"""Correlation contexts: the id that ties the inputs, outputs and payloads of one request together.

The current request's context lives in a contextvar. The scoring server sets it for every request
and ``with modeltap.correlation(...)`` sets it by hand, so every ``collect()`` inside one request
shares its id without passing a context around.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

from modeltap._ids import new_uuid4

__all__ = [
    "BasicCorrelationContext",
    "CorrelationContext",
    "correlation",
    "current_context",
    "reset_current_context",
    "set_current_context",
]


class CorrelationContext(ABC):
    """What a collect() call is correlated by: an id, a timestamp (epoch seconds) and headers."""

    @abstractmethod
    def get_id(self) -> str:
        """The correlation id shared by every record of one request."""

    @abstractmethod
    def get_timestamp(self) -> int:
        """When the request started, in whole seconds since the epoch."""

    @abstractmethod
    def get_headers(self) -> dict[str, str]:
        """Request headers that travel with the context (e.g. ``x-request-id``)."""

    def __str__(self) -> str:
        return self.get_id()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.get_id()!r})"


class BasicCorrelationContext(CorrelationContext):
    """A correlation context with a caller-chosen or generated id."""

    __slots__ = ("headers", "id", "timestamp")

    def __init__(
        self,
        id: str | None = None,
        timestamp: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.id = str(id) if id else new_uuid4()
        self.timestamp = int(timestamp) if timestamp is not None else int(time.time())
        self.headers: dict[str, str] = dict(headers) if headers else {}

    def get_id(self) -> str:
        """The correlation id."""
        return self.id

    def get_timestamp(self) -> int:
        """Epoch seconds when the context was made (or as given)."""
        return self.timestamp

    def get_headers(self) -> dict[str, str]:
        """Headers given to the context."""
        return self.headers


_current: ContextVar[CorrelationContext | None] = ContextVar("modeltap_correlation", default=None)


def current_context() -> CorrelationContext | None:
    """The correlation context of the current request, if one is set."""
    return _current.get()


def set_current_context(context: CorrelationContext) -> Token[CorrelationContext | None]:
    """Make ``context`` the current request's context; pass the token to reset it."""
    return _current.set(context)


def reset_current_context(token: Token[CorrelationContext | None]) -> None:
    """Restore the context that was current before ``set_current_context``."""
    _current.reset(token)


@contextmanager
def correlation(
    id: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> Iterator[CorrelationContext]:
    """Run a block as one request: collect() calls inside it share one correlation id."""
    context = BasicCorrelationContext(id=id, headers=headers)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
