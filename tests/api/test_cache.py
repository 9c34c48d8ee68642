"""The status cache: recomputed on a new marker, one computation at a time, stale only to
callers that arrive while it runs."""
from __future__ import annotations

import threading
import time

from asterisk_pipeline.api.cache import MarkedCache


def test_same_marker_is_served_from_cache_and_a_new_one_recomputes() -> None:
    cache, calls = MarkedCache(), []
    compute = lambda: calls.append(1) or len(calls)
    assert cache.get("x", 1, compute) == 1
    assert cache.get("x", 1, compute) == 1
    assert cache.get("x", 2, compute) == 2  # the first caller after a change sees it
    assert len(calls) == 2


def test_max_age_bounds_staleness() -> None:
    cache = MarkedCache(max_age_s=0.05)
    values = iter(range(10))
    first = cache.get("x", 1, lambda: next(values))
    time.sleep(0.1)
    assert cache.get("x", 1, lambda: next(values)) == first + 1


def test_callers_during_a_recompute_get_the_previous_value() -> None:
    cache = MarkedCache()
    cache.get("x", 1, lambda: "old")
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "new"

    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(cache.get("x", 2, slow)))
    worker.start()
    started.wait(5)
    assert cache.get("x", 2, lambda: "never computed") == "old"
    release.set()
    worker.join(5)
    assert result == ["new"] and cache.get("x", 2, lambda: "never") == "new"


def test_first_computation_is_single_flight() -> None:
    cache, calls = MarkedCache(), []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 7

    threads = [threading.Thread(target=cache.get, args=("x", 1, compute)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
