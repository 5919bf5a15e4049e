"""Correlation contexts and the current request's context."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

import modeltap
from modeltap.context import (
    BasicCorrelationContext,
    CorrelationContext,
    current_context,
    reset_current_context,
    set_current_context,
)


def test_basic_context_generates_a_uuid() -> None:
    """Without an id, a context gets a fresh UUID, a timestamp of now and no headers."""
    before = int(time.time())
    first = BasicCorrelationContext()
    second = BasicCorrelationContext()
    assert uuid.UUID(first.get_id())
    assert first.get_id() != second.get_id()
    assert before <= first.get_timestamp() <= int(time.time())
    assert first.get_headers() == {}


def test_basic_context_with_given_values() -> None:
    """A given id, timestamp and headers are kept (headers copied)."""
    headers = {"x-request-id": "r1"}
    context = BasicCorrelationContext(id="my-id", timestamp=1_700_000_000, headers=headers)
    headers["x-request-id"] = "changed"
    assert context.get_id() == "my-id"
    assert context.get_timestamp() == 1_700_000_000
    assert context.get_headers() == {"x-request-id": "r1"}
    assert str(context) == "my-id"
    assert repr(context) == "BasicCorrelationContext(id='my-id')"
    assert isinstance(context, CorrelationContext)


def test_correlation_context_is_abstract() -> None:
    """CorrelationContext cannot be made without its three methods."""
    with pytest.raises(TypeError):
        CorrelationContext()  # type: ignore[abstract]


def test_correlation_block_sets_and_restores() -> None:
    """``with correlation()`` sets the current context and restores the previous one, nested."""
    assert current_context() is None
    with modeltap.correlation("outer") as outer:
        assert current_context() is outer
        assert outer.get_id() == "outer"
        with modeltap.correlation(headers={"x-request-id": "r"}) as inner:
            assert current_context() is inner
            assert inner.get_id() != "outer"
            assert inner.get_headers() == {"x-request-id": "r"}
        assert current_context() is outer
    assert current_context() is None


def test_correlation_block_restores_after_an_exception() -> None:
    """The previous context comes back even when the block raises."""
    with pytest.raises(RuntimeError), modeltap.correlation("x"):
        raise RuntimeError("boom")
    assert current_context() is None


def test_set_and_reset() -> None:
    """set_current_context returns a token that reset_current_context restores."""
    context = BasicCorrelationContext(id="a")
    token = set_current_context(context)
    try:
        assert current_context() is context
    finally:
        reset_current_context(token)
    assert current_context() is None


def test_other_threads_do_not_see_the_context() -> None:
    """A request's context does not leak into another thread."""
    seen: list[object] = []
    with modeltap.correlation("main"):
        thread = threading.Thread(target=lambda: seen.append(current_context()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_concurrent_tasks_keep_their_own_context() -> None:
    """Interleaved asyncio tasks each see the id of their own correlation block."""

    async def request(name: str, gate: asyncio.Event, other: asyncio.Event) -> str:
        with modeltap.correlation(name):
            gate.set()
            await other.wait()
            context = current_context()
            assert context is not None
            return context.get_id()

    async def main() -> list[str]:
        a, b = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(request("one", a, b), request("two", b, a)))

    assert asyncio.run(main()) == ["one", "two"]
