"""Starting syncs as Dagster runs/backfills, one at a time per enterprise and flow.

Why reservations plus a look at Dagster: a request reserves its (flow, enterprises) in this
process before it asks Dagster anything, so "is one running? no → launch" is atomic inside the
sidecar (50 concurrent requests start one sync; the other 49 wait for that launch and answer
409 with its id) without a lock held across GraphQL calls: requests that do not overlap never
wait for each other, and waiting costs no thread. Asking Dagster for queued/running runs and
requested backfills carrying our tags catches syncs started earlier, by the schedule, or by
another request. Runs started from the UI without our tags are not seen; Dagster's own
run-queue limits (dagster.yaml) still keep live runs one at a time.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..names import (
    ALL_ENTERPRISES,
    ENTERPRISES_PARTITIONS,
    FLOW_HISTORY,
    FLOW_LIVE,
    HISTORY_ASSETS,
    HISTORY_OP,
    LIVE_JOB,
    LIVE_OP,
    TAG_COVERED,
    TAG_ENTERPRISES,
    TAG_FLOW,
    TAG_TRIGGER,
    TRIGGER_REST,
)
from .dagster_client import DagsterClient, DagsterUnavailable
from .gate import DagsterGate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A sync handed to Dagster: a run (live) or a backfill (history)."""

    kind: str  # "run" | "backfill"
    id: str
    url: str
    enterprises: list[str]
    flow: str
    partitions: int = 0


@dataclass
class AlreadyRunning(Exception):
    """A sync of the same flow for one of these enterprises is queued or running."""

    kind: str
    id: str
    url: str
    enterprises: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    done: bool
    status: str
    run_ids: list[str]


def covered_enterprises(tags: dict[str, str]) -> set[str] | None:
    """Enterprises a run/backfill covers. None: every active one (a run "for all" that has not
    read the registry yet, so it will sync an enterprise added now too)."""
    value = tags.get(TAG_ENTERPRISES, ALL_ENTERPRISES)
    if value != ALL_ENTERPRISES:
        return set(value.split(","))
    covered = tags.get(TAG_COVERED)
    return None if covered is None else set(filter(None, covered.split(",")))


def overlaps(tags: dict[str, str], wanted: Sequence[str] | None) -> bool:
    covered = covered_enterprises(tags)
    return covered is None or wanted is None or bool(covered & set(wanted))


def _reservations_overlap(a: Sequence[str] | None, b: Sequence[str] | None) -> bool:
    return a is None or b is None or bool(set(a) & set(b))


@dataclass(frozen=True)
class _Reservation:
    """A launch in progress in this process: what it covers, and how it ends."""

    flow: str
    wanted: Sequence[str] | None
    outcome: asyncio.Future[Started]


def history_partition_keys(numbers: Sequence[str], first: date, last: date) -> list[str]:
    """Multi-partition keys of the history assets: ``YYYY-MM-DD|number`` (dimensions by name)."""
    days = (last - first).days + 1
    return [f"{first + timedelta(days=d)}|{n}" for n in numbers for d in range(days)]


class SyncLauncher:
    def __init__(self, client: DagsterClient, gate: DagsterGate) -> None:
        self.client = client
        self.gate = gate
        self._reserved: dict[int, _Reservation] = {}
        #: Syncs launched by this process; a change tells /sync/status its cached list is old.
        self.launches = 0

    async def _exclusive(self, flow: str, wanted: Sequence[str] | None, launch: Callable[[], Started]) -> Started:
        """Run ``launch`` (busy check and launch, on a gate thread) unless an overlapping launch
        is in progress here: then its outcome, as 409 (AlreadyRunning) or the same 503."""
        while True:
            other = next((r for r in self._reserved.values()
                          if r.flow == flow and _reservations_overlap(r.wanted, wanted)), None)
            if other is None:
                break
            try:
                started = await asyncio.shield(other.outcome)
            except AlreadyRunning as busy:
                raise AlreadyRunning(busy.kind, busy.id, busy.url, busy.enterprises) from None
            except DagsterUnavailable as exc:
                raise DagsterUnavailable(str(exc)) from None
            except Exception as exc:  # noqa: BLE001 - that request's own failure (its answer says so): try ours
                log.warning("an overlapping %s sync request failed (%s); trying this one", flow,
                            type(exc).__name__)
                continue
            raise AlreadyRunning(started.kind, started.id, started.url, started.enterprises)
        outcome: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
        key = id(outcome)
        self._reserved[key] = _Reservation(flow, wanted, outcome)
        try:
            started = await self.gate.call(launch)
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else DagsterUnavailable("the request was cancelled")
            outcome.set_exception(failure)
            outcome.exception()  # nobody may be waiting: mark it retrieved
            raise
        else:
            self.launches += 1
            outcome.set_result(started)
            return started
        finally:
            del self._reserved[key]

    def _busy(self, flow: str, wanted: Sequence[str] | None) -> AlreadyRunning | None:
        for run in self.client.active_runs({TAG_FLOW: flow}):
            if overlaps(run.tags, wanted):
                backfill_id = run.tags.get("dagster/backfill")
                if backfill_id:
                    return AlreadyRunning("backfill", backfill_id, self.client.backfill_url(backfill_id),
                                          sorted(covered_enterprises(run.tags) or []))
                return AlreadyRunning("run", run.run_id, self.client.run_url(run.run_id),
                                      sorted(covered_enterprises(run.tags) or []))
        if flow == FLOW_HISTORY:
            for backfill in self.client.active_backfills():
                if backfill.tags.get(TAG_FLOW) == flow and overlaps(backfill.tags, wanted):
                    return AlreadyRunning("backfill", backfill.backfill_id,
                                          self.client.backfill_url(backfill.backfill_id),
                                          sorted(covered_enterprises(backfill.tags) or []))
        return None

    def _tags(self, flow: str, numbers: Sequence[str] | None,
              covered: Sequence[str] | None = None) -> dict[str, str]:
        tags = {TAG_FLOW: flow,
                TAG_ENTERPRISES: ALL_ENTERPRISES if numbers is None else ",".join(numbers),
                TAG_TRIGGER: TRIGGER_REST}
        if covered is not None:
            tags[TAG_COVERED] = ",".join(covered)
        return tags

    def _ensure_partitions(self, numbers: Sequence[str]) -> None:
        """The sensor adds new enterprises within a minute; a request must not wait for it."""
        for number in numbers:
            self.client.add_dynamic_partition(LIVE_JOB, ENTERPRISES_PARTITIONS, number)

    async def start_live(self, numbers: Sequence[str], *, everyone: bool) -> Started:
        """One live run for ``numbers`` (or every active enterprise when ``everyone``)."""
        wanted = None if everyone else list(numbers)

        def launch() -> Started:
            busy = self._busy(FLOW_LIVE, wanted)
            if busy:
                raise busy
            self._ensure_partitions(numbers)
            config = {} if everyone else {"ops": {LIVE_OP: {"config": {"enterprises": list(numbers)}}}}
            run_id = self.client.launch_run(LIVE_JOB, run_config=config, tags=self._tags(FLOW_LIVE, wanted))
            return Started("run", run_id, self.client.run_url(run_id), list(numbers), FLOW_LIVE)

        return await self._exclusive(FLOW_LIVE, wanted, launch)

    async def start_history(
        self, numbers: Sequence[str], first: date, last: date, *, force: bool, everyone: bool
    ) -> Started:
        """One asset backfill over (day, enterprise); Dagster batches it into few runs."""
        wanted = None if everyone else list(numbers)
        keys = history_partition_keys(numbers, first, last)

        def launch() -> Started:
            busy = self._busy(FLOW_HISTORY, wanted)
            if busy:
                raise busy
            self._ensure_partitions(numbers)
            config = {"ops": {HISTORY_OP: {"config": {"force": force}}}}
            title = f"history {first}..{last} for {ALL_ENTERPRISES if everyone else ','.join(numbers)}"
            backfill_id = self.client.launch_backfill(
                asset_keys=HISTORY_ASSETS, partition_names=keys, run_config=config,
                tags=self._tags(FLOW_HISTORY, wanted, covered=numbers), title=title[:200],
            )
            return Started("backfill", backfill_id, self.client.backfill_url(backfill_id),
                           list(numbers), FLOW_HISTORY, partitions=len(keys))

        return await self._exclusive(FLOW_HISTORY, wanted, launch)

    async def wait(self, started: Started, timeout_s: float, poll_s: float = 0.5) -> Finished:
        """Until the run/backfill ends or ``timeout_s`` passes (each poll is one gate call;
        between polls nothing is held)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if started.kind == "run":
                run = await self.gate.call(lambda: self.client.run(started.id))
                status, run_ids, done = (run.status, [run.run_id], run.finished) if run else ("UNKNOWN", [], False)
            else:
                backfill = await self.gate.call(lambda: self.client.backfill(started.id))
                if backfill is None:
                    status, run_ids, done = "UNKNOWN", [], False
                else:
                    status, run_ids, done = backfill.status, [r.run_id for r in backfill.runs], backfill.finished
            if done or time.monotonic() >= deadline:
                return Finished(done, status, run_ids)
            await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
