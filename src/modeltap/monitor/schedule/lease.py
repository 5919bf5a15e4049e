"""The per-monitor lease: of all schedulers sharing a store, one at a time works on a monitor
(runs its windows, checks its late data, updates its alert state).

Under ``_monitoring/{monitor}/schedule/lease/``, one file per holder, numbered:
``{NNNNNNNNNN}.json`` with the ``owner``, ``state`` (``held``, then ``released``) and
``renewed_at``. A scheduler takes the lease by creating the next number **only if it is
absent** (the same create as the window claims), so of two schedulers exactly one gets it; it
may when the newest file is ``released``, or ``held`` but not renewed for the stale limit (its
scheduler died). The holder renews it while it works and releases it when done; it removes the
older numbers, and gives a number up again when it finds a newer one (it was stale when it
looked), so the newest file always names the one holder.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from modeltap.errors import MonitorError
from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import to_utc

__all__ = ["LeaseHold", "MonitorLease"]

_log = logging.getLogger("modeltap.monitor.schedule")
_FOLDER = "lease"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def _name(number: int) -> str:
    return f"{_FOLDER}/{number:010d}.json"


@dataclass
class LeaseHold:
    """This scheduler's hold of a monitor's lease: :meth:`renew` while working, then
    :meth:`release`."""

    lease: MonitorLease
    number: int
    body: dict[str, Any] = field(default_factory=dict)

    def held(self) -> bool:
        """Whether the lease is still this hold's (no newer holder took it over)."""
        return self.lease.newest() == self.number and self.body.get("state") == "held"

    def renew(self, now: dt.datetime) -> bool:
        """Show that the holder is alive; False (and nothing written) when it lost the lease."""
        if not self.held():
            return False
        self.body["renewed_at"] = _iso(now)
        self.lease.store.replace(_name(self.number), _json(self.body))
        return True

    def release(self, now: dt.datetime) -> None:
        """Give the lease up (when it is still this hold's)."""
        if not self.held():
            return
        self.body.update(state="released", renewed_at=_iso(now), released_at=_iso(now))
        self.lease.store.replace(_name(self.number), _json(self.body))


class MonitorLease:
    """The lease of one monitor in its ``schedule/`` folder."""

    def __init__(self, store: ScheduleStore, owner: str, stale_after: dt.timedelta) -> None:
        self.store = store
        self.owner = owner
        self.stale_after = stale_after

    def _numbers(self) -> list[int]:
        names = self.store.list(_FOLDER)
        return sorted(
            int(n.removesuffix(".json"))
            for n in names
            if n.endswith(".json") and n.removesuffix(".json").isdigit()
        )

    def newest(self) -> int | None:
        """The number of the newest lease file, None when there is none."""
        numbers = self._numbers()
        return numbers[-1] if numbers else None

    def holder(self) -> dict[str, Any] | None:
        """The newest lease file's content (``owner``, ``state``, ``renewed_at``)."""
        newest = self.newest()
        if newest is None:
            return None
        data = self.store.read(_name(newest))
        return orjson.loads(data) if data else None

    def acquire(self, now: dt.datetime) -> LeaseHold | None:
        """Take the lease; None when another scheduler holds it (or took it at this moment)."""
        numbers = self._numbers()
        number = 1
        if numbers:
            data = self.store.read(_name(numbers[-1]))
            if data is None:  # removed by a newer holder since the listing
                return None
            current = orjson.loads(data)
            renewed = to_utc(current.get("renewed_at") or current["acquired_at"])
            if current.get("state") == "held":
                if now - renewed < self.stale_after:
                    return None
                _log.warning(
                    "monitor %s: the lease of %s was not renewed since %s; taking over",
                    self.store.url.rsplit("/", 2)[-2],
                    current.get("owner"),
                    _iso(renewed),
                )
            number = numbers[-1] + 1
        hold = LeaseHold(
            self,
            number,
            {
                "owner": self.owner,
                "state": "held",
                "acquired_at": _iso(now),
                "renewed_at": _iso(now),
            },
        )
        if not self.store.create(_name(number), _json(hold.body)):
            return None
        later = self._numbers()
        if later[-1] != number:  # older files were removed and a newer holder came first
            self.store.remove(_name(number))
            return None
        for older in later[:-1]:
            try:
                self.store.remove(_name(older))
            except MonitorError as exc:  # only tidiness: the newest file decides
                _log.debug("cannot remove an old lease file: %s", exc)
        return hold
