"""The Dagster client's blocking calls, run on a few threads of their own.

Why: the sidecar's endpoints used to call the webserver from FastAPI's shared thread pool (40
threads) under one lock, so a hung (SIGSTOPped) webserver plus 45 POSTs held every thread and
``GET /health`` took 58 s. Here a hung webserver can hold at most ``workers`` threads that no
other endpoint uses; a call that finds them all busy for ``wait_s`` fails at once with
DagsterUnavailable (503) instead of queueing, and the waiting itself holds no thread.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .dagster_client import DagsterUnavailable

T = TypeVar("T")


class DagsterGate:
    def __init__(self, workers: int = 8, wait_s: float = 5.0) -> None:
        self.workers = workers
        self.wait_s = wait_s
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="dagster-call")
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a gate thread. A slot is freed when the thread finishes, not when the
        caller stops waiting: a call abandoned by its request still counts until it returns."""
        loop = asyncio.get_running_loop()
        slots = self._slots.setdefault(loop, asyncio.Semaphore(self.workers))
        try:
            await asyncio.wait_for(slots.acquire(), self.wait_s)
        except TimeoutError:
            raise DagsterUnavailable(
                f"Dagster webserver not answering: {self.workers} calls to it are still waiting "
                f"(none ended within {self.wait_s:g} s); try again later"
            ) from None
        future = loop.run_in_executor(self._pool, fn)

        def done(finished: asyncio.Future[T]) -> None:
            slots.release()
            if not finished.cancelled():
                finished.exception()  # retrieved: no "never retrieved" noise for abandoned calls

        future.add_done_callback(done)
        return await asyncio.shield(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
