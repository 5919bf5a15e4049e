"""What a server says at start (collections on, where their data goes, where the writer runs)
and at stop (one line per collection: collected, written, dropped)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from modeltap.config import WRITER_VARIABLE, Settings
from modeltap.stats import PipelineStats

__all__ = ["shutdown_lines", "startup_lines", "writer_placement"]

_PAYLOAD_COLLECTIONS = ("request", "response")  # what payload logging of /score writes


def writer_placement(settings: Settings, environment: Mapping[str, str]) -> str:
    """Where a server's writer runs: the YAML's ``writer`` key, else ``MODELTAP_WRITER`` from
    the deployment's environment variables or this process's, else a process (the server's
    default)."""
    configured = settings.collector.writer
    if configured is not None:
        return configured
    chosen = environment.get(WRITER_VARIABLE) or os.environ.get(WRITER_VARIABLE) or "process"
    return chosen.strip().lower()


def _where(settings: Settings, name: str) -> str:
    root = settings.collection(name).root
    if "://" in root or os.path.isabs(root):
        return root
    return f"{settings.destination.rstrip('/')}/{root}"


def _how(settings: Settings, name: str) -> str:
    rate = settings.collection(name).sampling_rate
    sampling = "every request" if rate >= 1.0 else f"sampling {rate:.0%} of requests"
    return f"{settings.collector.format}, {sampling}"


def startup_lines(
    settings: Settings,
    *,
    kind: str,
    environment: Mapping[str, str],
    mlflow_without_collect: bool = False,
) -> list[str]:
    """The start-up lines of a server of ``kind`` (``scoring``, ``mlflow`` or ``ingest``)."""
    lines: list[str] = []
    listed = settings.collector.collections
    if listed is None:
        unnamed = {
            "scoring": "every collection the scoring script names",
            "mlflow": "every collection",
            "ingest": "every collection a client sends",
        }[kind]
        if kind == "scoring":
            for name in _PAYLOAD_COLLECTIONS:
                lines.append(f"collecting {name} (payloads of /score) -> {_where(settings, name)}"
                             f" ({_how(settings, name)})")
        pattern = _where(settings, "COLLECTION").replace("COLLECTION", "<collection>")
        lines.append(f"collecting {unnamed} -> {pattern} ({_how(settings, 'COLLECTION')}; "
                     "no collections are listed in the configuration)")
    else:
        on = sorted(name for name, entry in listed.items() if entry.enabled)
        off = sorted(name for name, entry in listed.items() if not entry.enabled)
        for name in on:
            payload = " (payloads of /score)" if name in _PAYLOAD_COLLECTIONS else ""
            lines.append(f"collecting {name}{payload} -> {_where(settings, name)} "
                         f"({_how(settings, name)})")
        if off:
            lines.append(f"not collecting {', '.join(off)} (disabled in {settings.source})")
        if not on:
            if mlflow_without_collect:
                lines.append("nothing will be collected: --mlflow-model without --collect "
                             "(add --collect to capture model_inputs and model_outputs)")
            else:
                lines.append(f"nothing will be collected: no collection is enabled in "
                             f"{settings.source}")
    if any(line.startswith("collecting") for line in lines):
        placement = writer_placement(settings, environment)
        if placement == "process":
            lines.append("writer: a process of its own beside each worker (writer: thread "
                         "in the YAML writes on a thread of the worker instead)")
        else:
            lines.append("writer: a thread in each worker (writer: process in the YAML moves "
                         "it to a process of its own)")
    return lines


def shutdown_lines(stats: PipelineStats) -> list[str]:
    """One line per collection: events collected, written, dropped (with the reasons)."""
    if not stats.collections:
        return ["nothing was collected"]
    lines = []
    for name in sorted(stats.collections):
        counters = stats.collections[name]
        dropped = f"dropped {counters.dropped_total}"
        if counters.dropped_total:
            reasons = ", ".join(f"{reason} {count}" for reason, count
                                in sorted(counters.dropped.items()) if count)
            dropped += f" ({reasons})"
        sampled = f", sampled out {counters.sampled_out}" if counters.sampled_out else ""
        lines.append(f"{name}: collected {counters.collected}, written "
                     f"{counters.events_written}, {dropped}{sampled}")
    return lines
