"""Claims and progress of a monitor's windows, kept in the store so that each due time runs
exactly once across restarts and across schedulers sharing the store.

Under ``_monitoring/{monitor}/schedule/``:

- ``since.json``: when scheduling of the monitor began (due times before it are never run);
- ``windows/{YYYYMMDDTHHMMSSZ}/attempt-NNNN.json``: one file per attempt at a window, created
  only if absent (:meth:`ScheduleStore.create`), so of two schedulers exactly one gets attempt N.
  Its ``state`` is ``running`` (with a ``heartbeat_at`` the owner refreshes), then
  ``succeeded``, ``failed`` (with the ``error``) or ``released`` (abandoned on shutdown);
- ``windows/{stamp}/outcome.json``: the window is settled (``succeeded``, or ``failed`` after its
  last retry), with its row counts for late-data checks.

A ``running`` attempt whose heartbeat is older than the stale limit (its scheduler died) and a
``released`` one are taken over by claiming the next attempt number.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import orjson

from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import run_stamp, to_utc

__all__ = ["Attempt", "Claim", "Ledger", "WindowState", "owner_id"]


def owner_id() -> str:
    """``host:pid`` of this process, the owner recorded in its claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


@dataclass(frozen=True)
class Attempt:
    """One attempt at a window, as read from its file."""

    number: int
    state: str
    owner: str
    heartbeat_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None

    @classmethod
    def parse(cls, number: int, data: dict[str, Any]) -> Attempt:
        """An attempt from its JSON."""
        finished = data.get("finished_at")
        return cls(
            number,
            str(data.get("state", "running")),
            str(data.get("owner", "")),
            to_utc(data.get("heartbeat_at") or data["started_at"]),
            to_utc(finished) if finished else None,
            data.get("error"),
        )


@dataclass(frozen=True)
class WindowState:
    """What the store knows of one window: its last attempt and its outcome."""

    due: dt.datetime
    last: Attempt | None
    outcome: dict[str, Any] | None

    @property
    def settled(self) -> bool:
        """Whether the window is done (succeeded, or failed after its last retry)."""
        return self.outcome is not None


@dataclass
class Claim:
    """This scheduler's attempt at a window; refresh with :meth:`heartbeat`, end with
    :meth:`finish`."""

    ledger: Ledger
    due: dt.datetime
    number: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The attempt file, relative to the schedule folder."""
        return f"windows/{run_stamp(self.due)}/attempt-{self.number:04d}.json"

    def heartbeat(self, now: dt.datetime) -> None:
        """Show that the run is alive."""
        self.body["heartbeat_at"] = _iso(now)
        self.ledger.store.replace(self.path, _json(self.body))

    def finish(self, state: str, now: dt.datetime, error: str | None = None) -> None:
        """End the attempt as ``succeeded``, ``failed`` or ``released``."""
        self.body.update(state=state, finished_at=_iso(now), heartbeat_at=_iso(now))
        if error is not None:
            self.body["error"] = error
        self.ledger.store.replace(self.path, _json(self.body))


class Ledger:
    """The windows of one monitor in the store."""

    def __init__(self, store: ScheduleStore, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or owner_id()

    def since(self, now: dt.datetime) -> dt.datetime:
        """When scheduling began: recorded by the first scheduler to ask, ``now`` then."""
        self.store.create("since.json", _json({"since": _iso(now), "owner": self.owner}))
        data = self.store.read("since.json")
        assert data is not None
        return to_utc(orjson.loads(data)["since"])

    def state(self, due: dt.datetime) -> WindowState:
        """The window's last attempt and outcome."""
        folder = f"windows/{run_stamp(due)}"
        names = self.store.list(folder)
        outcome_bytes = (
            self.store.read(f"{folder}/outcome.json") if "outcome.json" in names else None
        )
        outcome = orjson.loads(outcome_bytes) if outcome_bytes else None
        attempts = sorted(n for n in names if n.startswith("attempt-") and n.endswith(".json"))
        last = None
        if attempts:
            number = int(attempts[-1].removeprefix("attempt-").removesuffix(".json"))
            data = self.store.read(f"{folder}/{attempts[-1]}")
            if data is not None:
                last = Attempt.parse(number, orjson.loads(data))
        return WindowState(due, last, outcome)

    def claim(self, due: dt.datetime, number: int, now: dt.datetime) -> Claim | None:
        """Claim attempt ``number`` at a window; None when another scheduler has it."""
        claim = Claim(self, due, number)
        claim.body = {
            "window_end": _iso(due),
            "attempt": number,
            "owner": self.owner,
            "state": "running",
            "started_at": _iso(now),
            "heartbeat_at": _iso(now),
        }
        return claim if self.store.create(claim.path, _json(claim.body)) else None

    def settle(self, due: dt.datetime, outcome: dict[str, Any]) -> None:
        """Record the window's outcome."""
        self.store.replace(f"windows/{run_stamp(due)}/outcome.json", _json(outcome))

    def windows(self) -> list[str]:
        """Stamps of every window with a claim, oldest first."""
        return self.store.list("windows")
