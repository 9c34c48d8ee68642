"""Which syncs Dagster has queued, running or requested — asked at most every 2 s, and never
waited for longer than ``STATUS_DAGSTER_WAIT_S``.

Why a small object of its own: ``GET /sync/status`` is polled by scripts; a hung webserver
must hold at most one gate thread for it (one question at a time), and a reader must get its
answer — without the running list — within two seconds whatever Dagster does.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .dagster_client import DagsterClient, DagsterUnavailable
from .gate import DagsterGate
from .models import RunningSync
from .status import running_syncs

#: How long /sync/status waits for Dagster's list of running syncs before answering without it.
STATUS_DAGSTER_WAIT_S = 2.0
#: How long Dagster's answer is reused (unless this process launched something since).
REUSE_S = 2

Answer = tuple[list[RunningSync] | None, str]


class RunningSyncs:
    def __init__(self, client: DagsterClient, gate: DagsterGate, launches: Callable[[], int],
                 dagster_url: str, wait_s: float = STATUS_DAGSTER_WAIT_S) -> None:
        self.client = client
        self.gate = gate
        self.launches = launches
        self.dagster_url = dagster_url
        self.wait_s = wait_s
        self._marker: tuple[int, int] | None = None
        self._value: Answer | None = None
        self._pending: asyncio.Future[list[RunningSync]] | None = None

    def _collect(self) -> list[RunningSync]:
        return running_syncs(self.client.active_runs({}), self.client.active_backfills(),
                             self.client.run_url, self.client.backfill_url)

    async def get(self) -> Answer:
        """(the running syncs, "ok"), or (None, why they are unknown)."""
        marker = (int(time.monotonic() // REUSE_S), self.launches())
        if self._marker == marker and self._value is not None:
            return self._value
        pending = self._pending
        if pending is None or pending.done():
            pending = asyncio.ensure_future(self.gate.call(self._collect))
            self._pending = pending

            def keep(done: asyncio.Future[list[RunningSync]]) -> None:
                if done.cancelled():
                    return
                failure = done.exception()
                self._marker = marker
                self._value = (None, str(failure)) if failure else (done.result(), "ok")
            pending.add_done_callback(keep)
        try:
            return await asyncio.wait_for(asyncio.shield(pending), self.wait_s), "ok"
        except DagsterUnavailable as exc:
            return None, str(exc)
        except TimeoutError:
            return None, f"Dagster webserver at {self.dagster_url} did not answer within {self.wait_s:g} s"
