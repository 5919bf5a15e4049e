"""The scheduler: runs each monitor at its due times, exactly once per window, and survives
restarts.

Each :meth:`Scheduler.tick` looks at every monitor: it takes the monitor's lease in the store
(see :mod:`~modeltap.monitor.schedule.lease`; a monitor another scheduler holds is left to it),
finds the due times since the last tick (since scheduling began, on the first tick: at most
``trigger.catch_up`` of the latest, oldest first, each run with its own ``at``), claims each
unsettled window (see :mod:`~modeltap.monitor.schedule.claims`) and runs it, renewing the lease
and the claim while it runs, and releases the lease. So across schedulers a monitor runs one
window at a time, and its listeners (alerts, metrics) hear of every attempt while the lease is
held. A window that fails (the run raised, or a signal failed) is recorded with its error and
retried with backoff (:class:`RetryPolicy`), and never stops the other monitors.
:meth:`Scheduler.serve` ticks until its stop event is set, sleeping until the next due time; the
current run is finished first, or released for another scheduler when a ``KeyboardInterrupt``
abandons it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modeltap.monitor.definition import MonitorDefinition
from modeltap.monitor.runner import MonitorRun
from modeltap.monitor.schedule.claims import Claim, Ledger, WindowState
from modeltap.monitor.schedule.clock import Clock, SystemClock
from modeltap.monitor.schedule.due_times import DueTimes, due_times
from modeltap.monitor.schedule.late_data import count_rows, recorded_counts
from modeltap.monitor.schedule.lease import LeaseHold, MonitorLease
from modeltap.monitor.schedule.retry import RetryPolicy
from modeltap.monitor.schedule.store import ScheduleStore
from modeltap.monitor.windows import parse_duration

__all__ = ["RunReport", "Runner", "Scheduler", "SchedulerListener"]

_log = logging.getLogger("modeltap.monitor.schedule")
_POLL = dt.timedelta(minutes=1)


class Runner(Protocol):
    """``modeltap.monitor.run``'s shape."""

    def __call__(
        self,
        definition_or_path: MonitorDefinition,
        at: dt.datetime,
        destination: str | None,
        *,
        storage_options: dict[str, Any] | None = ...,
    ) -> MonitorRun:
        """Run the monitor for the windows ending at ``at``."""


@dataclass(frozen=True)
class RunReport:
    """One attempt at one window, as listeners see it."""

    definition: MonitorDefinition
    due: dt.datetime
    attempt: int
    status: str  # succeeded | failed
    error: str | None
    run: MonitorRun | None
    seconds: float
    caught_up: bool
    final: bool  # no retry follows (succeeded, or the last attempt failed)
    recomputed: bool = False
    lease: LeaseHold | None = None  # the monitor's lease, held while listeners hear of the run

    @property
    def monitor(self) -> str:
        """The monitor's name."""
        return self.definition.name


class SchedulerListener(Protocol):
    """Told about every attempt (alerts, metrics); its errors are logged, never raised."""

    def on_run(self, report: RunReport) -> None:
        """An attempt ended."""


class _Keeper:
    """Renews a monitor's lease, and the claim of the window being run, every ``seconds``."""

    def __init__(self, hold: LeaseHold, clock: Clock, seconds: float) -> None:
        self.hold = hold
        self.clock = clock
        self.seconds = seconds
        self.lock = threading.Lock()
        self.claim: Claim | None = None
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modeltap-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def watch(self, claim: Claim | None) -> None:
        """Renew ``claim`` from now on (None: stop renewing the last one)."""
        with self.lock:
            self.claim = claim

    def _loop(self) -> None:
        while not self._done.wait(self.seconds):
            with self.lock:
                now = self.clock.now()
                try:
                    if not self.hold.renew(now) and not self.lost:
                        self.lost = True
                        _log.error(
                            "%s: the lease was taken over by another scheduler (not renewed "
                            "in time); the alerts of the current run will not be sent",
                            self.hold.lease.store.url,
                        )
                except Exception as exc:
                    _log.warning(
                        "renewing the lease of %s failed: %s", self.hold.lease.store.url, exc
                    )
                if self.claim is not None:
                    try:
                        self.claim.heartbeat(now)
                    except Exception as exc:
                        _log.warning("heartbeat of %s failed: %s", self.claim.path, exc)


@dataclass
class _Entry:
    definition: MonitorDefinition
    due: DueTimes
    ledger: Ledger
    lease: MonitorLease
    cursor: dt.datetime | None = None
    upcoming: dt.datetime | None = None  # the first due time after the cursor, when known
    upcoming_known: bool = False
    horizon: dt.datetime | None = None  # on the first pass, when older due times were not listed
    pending: list[dt.datetime] = field(default_factory=list)
    wake: dt.datetime | None = None
    late_checked: dict[dt.datetime, dt.datetime] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def catch_up(self) -> int:
        trigger = self.definition.trigger
        return max(trigger.catch_up if trigger is not None else 24, 1)

    @property
    def recompute_late(self) -> dt.timedelta | None:
        trigger = self.definition.trigger
        if trigger is None or trigger.recompute_late is None:
            return None
        return parse_duration(trigger.recompute_late)


def _default_runner() -> Runner:
    from modeltap.monitor.runner import run

    return run


def _error_of(result: MonitorRun) -> str | None:
    if result.status != "failed":
        return None
    failed = [
        f"signal {name}: {signal.get('error')}"
        for name, signal in result.signals.items()
        if signal.get("status") == "failed"
    ]
    return "; ".join(failed) or "the run failed"


class Scheduler:
    """Runs monitors on their triggers against one results store."""

    def __init__(
        self,
        definitions: Sequence[MonitorDefinition],
        destination: str,
        *,
        storage_options: dict[str, Any] | None = None,
        clock: Clock | None = None,
        runner: Runner | None = None,
        retry: RetryPolicy | None = None,
        listeners: Iterable[SchedulerListener] = (),
        owner: str | None = None,
        stale_after: dt.timedelta = dt.timedelta(minutes=5),
        heartbeat_seconds: float = 30.0,
        row_counter: Callable[[dict[str, Any]], dict[str, int]] | None = None,
    ) -> None:
        names = [d.name for d in definitions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            from modeltap.errors import MonitorDefinitionError

            raise MonitorDefinitionError(
                f"monitor names must be unique in one scheduler: {', '.join(duplicates)} given "
                "more than once"
            )
        self.destination = destination
        self.storage_options = storage_options
        self.clock: Clock = clock or SystemClock()
        self.runner: Runner = runner or _default_runner()
        self.retry = retry or RetryPolicy()
        self.listeners = list(listeners)
        self.stale_after = stale_after
        self.heartbeat_seconds = heartbeat_seconds
        self.row_counter = row_counter or (
            lambda sides: count_rows(sides, destination, storage_options)
        )
        self.stop = threading.Event()
        self.entries: list[_Entry] = []
        for definition in definitions:
            if definition.trigger is None:
                from modeltap.errors import MonitorDefinitionError

                raise MonitorDefinitionError(
                    f"monitor {definition.name!r} has no trigger: add one "
                    "({type: recurrence, frequency: day} or {type: cron, expression: '0 3 * * *'})"
                    " to schedule it"
                )
            store = ScheduleStore(destination, definition.name, storage_options)
            if not store.exclusive:
                _log.warning(
                    "%s cannot create files exclusively: two schedulers on this store could "
                    "both run a window",
                    store.url,
                )
            ledger = Ledger(store, owner)
            self.entries.append(
                _Entry(
                    definition,
                    due_times(definition.trigger),
                    ledger,
                    MonitorLease(store, ledger.owner, stale_after),
                )
            )

    # -- one pass -----------------------------------------------------------------------------

    def tick(self) -> list[RunReport]:
        """Run every window that is due now and not settled; returns the attempts made."""
        reports: list[RunReport] = []
        for entry in self.entries:
            if self.stop.is_set():
                break
            try:
                self._tick(entry, reports)
            except KeyboardInterrupt:
                raise
            except Exception:  # one monitor's trouble (a store outage) must not stop the others
                _log.exception(
                    "scheduling monitor %s failed; retrying on the next tick", entry.name
                )
                entry.wake = self.clock.now() + self.retry.first
        return reports

    def _tick(self, entry: _Entry, reports: list[RunReport]) -> None:
        now = self.clock.now()
        if entry.cursor is None:
            since = entry.ledger.since(now)
            entry.cursor = self._catch_up_from(entry, since, now)
            entry.horizon = entry.cursor if entry.cursor > since else None
        ahead = entry.upcoming_known and (entry.upcoming is None or entry.upcoming > now)
        found = [] if ahead else entry.due.between(entry.cursor, now)
        entry.cursor = now
        if not ahead:
            entry.upcoming, entry.upcoming_known = entry.due.next_after(now), True
        entry.pending = sorted(set(entry.pending) | set(found))
        waiting = entry.wake is not None and now < entry.wake
        if not found and (not entry.pending or waiting) and not self._late_due(entry, now):
            return  # nothing to do: the store is not touched
        hold = entry.lease.acquire(now)
        if hold is None:
            _log.debug("monitor %s: another scheduler holds its lease; left to it", entry.name)
            entry.wake = None  # try again on the next tick
            return
        keeper = _Keeper(hold, self.clock, self.heartbeat_seconds)
        keeper.start()
        try:
            self._work(entry, reports, keeper)
        finally:
            keeper.stop()
            try:
                hold.release(self.clock.now())
            except Exception as exc:  # it expires after stale_after then
                _log.warning("releasing the lease of monitor %s failed: %s", entry.name, exc)

    def _work(self, entry: _Entry, reports: list[RunReport], keeper: _Keeper) -> None:
        if len(entry.pending) > entry.catch_up:
            self._skip(entry, entry.pending[: -entry.catch_up])
            entry.pending = entry.pending[-entry.catch_up :]
        entry.horizon = None
        latest = entry.pending[-1] if entry.pending else None
        entry.wake = None
        for due in list(entry.pending):
            if self.stop.is_set():
                break
            report = self._window(entry, due, keeper, caught_up=due != latest)
            if report is not None:
                reports.append(report)
        self._late(entry, reports, keeper)

    def _skip(self, entry: _Entry, older: list[dt.datetime]) -> None:
        """Settle the windows older than the latest ``catch_up`` that did not run as skipped,
        with a warning (windows that ran are not missed)."""
        skipped = [due for due in older if not entry.ledger.state(due).settled]
        if not skipped:
            return
        reason = f"older than the latest catch_up={entry.catch_up} due windows when caught up"
        for due in skipped:
            outcome = self._outcome("skipped", 0, None)
            outcome["reason"] = reason
            entry.ledger.settle(due, outcome)
        _log.warning(
            "monitor %s: %d missed window(s) older than catch_up=%d are not run (%s ... %s)%s",
            entry.name,
            len(skipped),
            entry.catch_up,
            skipped[0].isoformat(),
            skipped[-1].isoformat(),
            ""
            if entry.horizon is None
            else f"; windows due before {entry.horizon.isoformat()} were not looked at",
        )

    @staticmethod
    def _catch_up_from(entry: _Entry, since: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The latest time after ``since`` from which at least ``catch_up`` windows are due by
        ``now`` (so a long downtime of a frequent trigger is not enumerated from its start)."""
        span = dt.timedelta(hours=1)
        while now - span > since:
            if len(entry.due.between(now - span, now)) > entry.catch_up:
                return now - span
            span *= 4
        return since

    def _wake_at(self, entry: _Entry, moment: dt.datetime) -> None:
        entry.wake = moment if entry.wake is None else min(entry.wake, moment)

    def _window(
        self, entry: _Entry, due: dt.datetime, keeper: _Keeper, *, caught_up: bool
    ) -> RunReport | None:
        now = self.clock.now()
        state = entry.ledger.state(due)
        if state.settled:
            entry.pending.remove(due)
            return None
        number = self._next_attempt(entry, state, now)
        if number is None:
            return None
        claim = entry.ledger.claim(due, number, now)
        if claim is None:
            _log.info("monitor %s window %s: claimed by another scheduler", entry.name, due)
            return None
        return self._run(entry, claim, keeper, caught_up=caught_up)

    def _next_attempt(self, entry: _Entry, state: WindowState, now: dt.datetime) -> int | None:
        last = state.last
        if last is None:
            return 1
        if last.state == "running":
            if now - last.heartbeat_at < self.stale_after:
                self._wake_at(entry, last.heartbeat_at + self.stale_after)
                return None
            _log.warning(
                "monitor %s window %s: attempt %d of %s went stale; taking over",
                entry.name,
                state.due,
                last.number,
                last.owner,
            )
            return last.number + 1
        if last.state == "succeeded":  # its outcome is being written (or its owner died
            if state.due in entry.pending:  # just before): the window is done either way
                entry.pending.remove(state.due)
            return None
        if last.state == "failed":
            if last.number >= self.retry.attempts:
                entry.ledger.settle(state.due, self._outcome("failed", last.number, last.error))
                entry.pending.remove(state.due)
                return None
            retry_at = (last.finished_at or now) + self.retry.delay(last.number)
            if now < retry_at:
                self._wake_at(entry, retry_at)
                return None
        return last.number + 1  # released, or failed and due for a retry

    def _outcome(self, status: str, attempts: int, error: str | None) -> dict[str, Any]:
        outcome: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "finished_at": self.clock.now().isoformat().replace("+00:00", "Z"),
        }
        if error is not None:
            outcome["error"] = error
        return outcome

    def _run(
        self,
        entry: _Entry,
        claim: Claim,
        keeper: _Keeper,
        *,
        caught_up: bool,
        recomputed: bool = False,
    ) -> RunReport:
        due = claim.due
        _log.info("monitor %s: running window %s (attempt %d)", entry.name, due, claim.number)
        keeper.watch(claim)
        started = time.monotonic()
        result: MonitorRun | None = None
        try:
            result = self.runner(
                entry.definition,
                at=due,
                destination=self.destination,
                storage_options=self.storage_options,
            )
            error = _error_of(result)
        except KeyboardInterrupt:
            keeper.watch(None)
            claim.finish("released", self.clock.now(), "abandoned: the scheduler was stopped")
            _log.warning("monitor %s window %s abandoned; released for a retry", entry.name, due)
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            keeper.watch(None)
        seconds = time.monotonic() - started
        now = self.clock.now()
        final = error is None or claim.number >= self.retry.attempts
        if error is None:
            claim.finish("succeeded", now)
            assert result is not None
            outcome = self._outcome("succeeded", claim.number, None)
            outcome["breached"] = result.breached
            sides = recorded_counts(entry.definition, result.signals)
            if entry.recompute_late is not None and sides:
                try:
                    counts = self.row_counter(sides)
                except Exception as exc:
                    _log.warning("monitor %s: late-data count failed: %s", entry.name, exc)
                    counts = {}
                outcome["late_data"] = {"sides": sides, "counts": counts}
            entry.ledger.settle(due, outcome)
            if due in entry.pending:
                entry.pending.remove(due)
        else:
            claim.finish("failed", now, error)
            _log.error(
                "monitor %s window %s attempt %d failed: %s", entry.name, due, claim.number, error
            )
            if final:
                entry.ledger.settle(due, self._outcome("failed", claim.number, error))
                if due in entry.pending:
                    entry.pending.remove(due)
            else:
                self._wake_at(entry, now + self.retry.delay(claim.number))
        report = RunReport(
            entry.definition,
            due,
            claim.number,
            "succeeded" if error is None else "failed",
            error,
            result,
            seconds,
            caught_up,
            final,
            recomputed,
            keeper.hold,
        )
        for listener in self.listeners:
            try:
                listener.on_run(report)
            except Exception:
                _log.exception("a listener failed on monitor %s window %s", entry.name, due)
        return report

    # -- late data ----------------------------------------------------------------------------

    @staticmethod
    def _late_checks(delay: dt.timedelta) -> dt.timedelta:
        """How often a window is recounted within ``recompute_late``: a quarter of the delay,
        1 to 15 minutes."""
        return max(min(delay / 4, dt.timedelta(minutes=15)), dt.timedelta(minutes=1))

    def _late_due(self, entry: _Entry, now: dt.datetime) -> bool:
        """Whether a window within ``recompute_late`` is due for a recount."""
        delay = entry.recompute_late
        if delay is None:
            return False
        check_every = self._late_checks(delay)
        return any(
            entry.late_checked.get(due) is None or now - entry.late_checked[due] >= check_every
            for due in entry.due.between(now - delay, now)
        )

    def _late(self, entry: _Entry, reports: list[RunReport], keeper: _Keeper) -> None:
        delay = entry.recompute_late
        if delay is None:
            return
        now = self.clock.now()
        check_every = self._late_checks(delay)
        recent = entry.due.between(now - delay, now)
        entry.late_checked = {d: t for d, t in entry.late_checked.items() if d in recent}
        for due in recent:
            checked = entry.late_checked.get(due)
            if checked is not None and now - checked < check_every:
                self._wake_at(entry, checked + check_every)
                continue
            entry.late_checked[due] = now
            self._wake_at(entry, now + check_every)
            state = entry.ledger.state(due)
            late = (state.outcome or {}).get("late_data")
            if state.outcome is None or state.outcome.get("status") != "succeeded" or not late:
                continue
            try:
                counts = self.row_counter(late["sides"])
            except Exception as exc:
                _log.warning("monitor %s: late-data count failed: %s", entry.name, exc)
                continue
            grown = [k for k, n in counts.items() if n > int(late["counts"].get(k, n))]
            if not grown:
                continue
            _log.info("monitor %s window %s: late rows in %s; rerun", entry.name, due, grown)
            number = (state.last.number if state.last else 0) + 1
            claim = entry.ledger.claim(due, number, now)
            if claim is not None:
                reports.append(self._run(entry, claim, keeper, caught_up=False, recomputed=True))

    # -- the loop -----------------------------------------------------------------------------

    def next_wakeup(self) -> dt.datetime:
        """When the next tick is needed: the next due time, retry or late-data check."""
        now = self.clock.now()
        moments = [now + _POLL]
        for entry in self.entries:
            following = (
                entry.upcoming
                if entry.upcoming_known
                else entry.due.next_after(entry.cursor or now)
            )
            if following is not None:
                moments.append(following)
            if entry.wake is not None:
                moments.append(entry.wake)
        return min(moments)

    def serve(self) -> None:
        """Tick until :attr:`stop` is set, sleeping until the next wakeup in between."""
        while not self.stop.is_set():
            self.tick()
            if self.stop.is_set():
                break
            seconds = (self.next_wakeup() - self.clock.now()).total_seconds()
            if self.clock.wait(max(seconds, 0.0), self.stop):
                break
