"""The Collector: what a scoring script calls. Validate, sample, snapshot, enqueue; never I/O.

A drop-in for the platform data collector's ``Collector``. Failures raise unless ``on_error`` is
given, in which case the handler is called and collect() returns the context. A collection that is
merely disabled by configuration never raises: its collect() calls are counted no-ops.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from modeltap.config import CollectionPolicy, check_collection_name, warn_if_not_listed
from modeltap.context import BasicCorrelationContext, CorrelationContext, current_context
from modeltap.errors import (
    CollectionDisabledError,
    DataDroppedError,
    InvalidCollectionNameError,
    InvalidDataError,
    ModelTapError,
    QueueFullError,
    UnsupportedDataError,
)
from modeltap.event import QueuedEvent, pack_event, pack_payload
from modeltap.pipeline import runtime as _runtime_module
from modeltap.pipeline.runtime import Runtime, get_runtime
from modeltap.snapshot import Snapshot, take_snapshot, type_fullname

__all__ = ["Collector", "is_sampled"]

logger = logging.getLogger("modeltap")

_HASH_SCALE = float(2**64)


def is_sampled(correlation_id: str, rate: float) -> bool:
    """Keep or drop by a hash of the correlation id, so one request's records stay together."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(correlation_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SCALE < rate


def _request_id(context: CorrelationContext) -> str:
    headers = context.get_headers()
    if headers:
        for key in ("x-request-id", "X-Request-Id", "X-Request-ID", "x-ms-client-request-id"):
            value = headers.get(key)
            if value:
                return str(value)
    return context.get_id()


class Collector:
    """Collects one named collection (``model_inputs``, ``model_outputs``, ...)."""

    __slots__ = ("__weakref__", "_invalid", "_policy", "_runtime", "name", "on_error")

    def __init__(self, *, name: str, on_error: Callable[[Exception], Any] | None = None) -> None:
        self.name = name
        self.on_error = on_error
        self._runtime: Runtime | None = None
        self._policy: CollectionPolicy | None = None
        self._invalid: InvalidCollectionNameError | None = None
        try:
            check_collection_name(name)
        except InvalidCollectionNameError as exc:
            if on_error is None:
                raise
            self._invalid = exc
            on_error(exc)
            return
        policy = self._resolve()
        if not policy.enabled:
            warn_if_not_listed(get_runtime().settings, name)

    def __repr__(self) -> str:
        return f"Collector(name={self.name!r})"

    def _resolve(self) -> CollectionPolicy:
        runtime = get_runtime()
        policy = runtime.settings.collection(self.name)
        self._runtime = runtime
        self._policy = policy
        runtime.register_handler(self.name, self)
        return policy

    def _fail(self, runtime: Runtime | None, error: ModelTapError, reason: str) -> None:
        if runtime is not None:
            runtime.stats.dropped(self.name, reason)
            runtime.stats.error(str(error))
            runtime.drop_log.warn(self.name, reason, str(error))
        if self.on_error is None:
            raise error
        self.on_error(error)

    def collect(
        self, data: Any, correlation_context: CorrelationContext | None = None
    ) -> CorrelationContext:
        """Capture ``data`` (a DataFrame, Arrow/polars table, row dicts or column dict) and
        return the correlation context it was recorded with."""
        context = correlation_context or current_context() or BasicCorrelationContext()
        admitted = self._admit(context)
        if admitted is None:
            return context
        runtime, policy = admitted
        try:
            snapshot = take_snapshot(data)
        except (UnsupportedDataError, InvalidDataError) as exc:
            self._fail(runtime, exc, "invalid_data")
            return context
        self._enqueue(runtime, policy, context, snapshot, type_fullname(data), None)
        return context

    def emit(
        self,
        snapshot: Snapshot,
        context: CorrelationContext,
        *,
        data_type: str,
        extra: dict[str, Any] | None = None,
        time_ns: int | None = None,
    ) -> None:
        """Enqueue an already-taken snapshot with extra envelope fields (payload capture,
        ingest), at ``time_ns`` (the record's time and partition; now when None). Follows the
        collection's switch and sampling like collect()."""
        admitted = self._admit(context)
        if admitted is not None:
            self._enqueue(*admitted, context, snapshot, data_type, extra, time_ns)

    def emit_payload(
        self,
        context: CorrelationContext,
        parts: tuple[Any, ...],
        *,
        data_type: str,
        approx_bytes: int,
    ) -> None:
        """Enqueue one side of an HTTP call for the writer to make its snapshot of: ``parts``
        are the arguments of ``modeltap.snapshot.payload_from_parts`` (bytes, strings and
        numbers), so the request path builds no snapshot (payload capture). Follows the
        collection's switch and sampling like collect()."""
        admitted = self._admit(context)
        if admitted is not None:
            runtime, policy = admitted
            queued = pack_payload(
                approx_bytes,
                self.name,
                time.time_ns(),
                context.get_id(),
                _request_id(context),
                data_type,
                policy.root,
                parts,
            )
            self._put(runtime, queued)

    def _admit(self, context: CorrelationContext) -> tuple[Runtime, CollectionPolicy] | None:
        """The pipeline and policy to enqueue into, or None when the name is invalid, the
        collection disabled or the request sampled out (each counted and reported)."""
        if self._invalid is not None:
            self._fail(get_runtime(), self._invalid, "invalid_name")
            return None
        runtime = self._runtime
        policy = self._policy
        if (
            runtime is None
            or policy is None
            or runtime.closed  # shut down: collect() starts a new pipeline
            or runtime is not _runtime_module._runtime
        ):
            policy = self._resolve()
            runtime = self._runtime
            assert runtime is not None
        if not policy.enabled:
            runtime.stats.dropped(self.name, "disabled")
            if self.on_error is not None:
                self.on_error(
                    CollectionDisabledError(
                        f"collection {self.name!r} is disabled by configuration "
                        f"({runtime.settings.source}); the data was not collected"
                    )
                )
            return None
        if policy.sampling_rate < 1.0 and not is_sampled(context.get_id(), policy.sampling_rate):
            runtime.stats.sampled_out(self.name)
            return None
        return runtime, policy

    def _enqueue(
        self,
        runtime: Runtime,
        policy: CollectionPolicy,
        context: CorrelationContext,
        snapshot: Snapshot,
        data_type: str,
        extra: dict[str, Any] | None,
        time_ns: int | None = None,
    ) -> None:
        queued = pack_event(
            self.name,
            time.time_ns() if time_ns is None else time_ns,
            context.get_id(),
            _request_id(context),
            data_type,
            snapshot,
            policy.root,
            extra,
        )
        self._put(runtime, queued)

    def _put(self, runtime: Runtime, queued: QueuedEvent) -> None:
        """Queue one event, counting it, or the drop the queue's full policy made."""
        try:
            evicted = runtime.queue.put_packed(queued)
        except DataDroppedError as exc:
            self._fail(runtime, exc, "queue_full")
            return
        runtime.stats.collected(self.name)
        if evicted is not None:
            error = QueueFullError(
                f"queue full: dropped the oldest queued event (collection "
                f"{evicted.collection!r}) to make room (full_policy drop_oldest)"
            )
            runtime.stats.dropped(evicted.collection, "queue_full")
            runtime.drop_log.warn(evicted.collection, "queue_full", str(error))
            if self.on_error is not None:
                self.on_error(error)
