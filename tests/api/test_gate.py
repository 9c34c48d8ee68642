"""The gate in front of the Dagster client: a bounded number of threads of its own, a fast 503
when they are all stuck, and a slot counted until its thread really returns."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from asterisk_pipeline.api.dagster_client import DagsterUnavailable
from asterisk_pipeline.api.gate import DagsterGate


def test_a_full_gate_fails_fast_and_frees_a_slot_only_when_its_thread_returns() -> None:
    gate = DagsterGate(workers=2, wait_s=0.3)
    release = threading.Event()
    stuck = lambda: release.wait(30)  # a hung webserver call

    async def scenario() -> None:
        callers = [asyncio.create_task(gate.call(stuck)) for _ in range(2)]
        await asyncio.sleep(0.1)
        began = time.monotonic()
        with pytest.raises(DagsterUnavailable, match="2 calls to it are still waiting"):
            await gate.call(lambda: "never runs")
        assert time.monotonic() - began < 1.0
        for caller in callers:  # the requests give up; their threads do not
            caller.cancel()
        await asyncio.sleep(0.05)
        with pytest.raises(DagsterUnavailable):
            await gate.call(lambda: "still no slot")
        release.set()
        await asyncio.sleep(0.2)
        assert await gate.call(lambda: "answered") == "answered"

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        gate.close()


def test_an_exception_of_the_call_reaches_its_caller() -> None:
    gate = DagsterGate(workers=1, wait_s=1)

    def unreachable() -> None:
        raise DagsterUnavailable("Dagster webserver at http://x unreachable: ConnectError")

    try:
        with pytest.raises(DagsterUnavailable, match="unreachable"):
            asyncio.run(gate.call(unreachable))
    finally:
        gate.close()
