"""The fault table (issue 12): every scenario of ``tests/support/faults/scenario_*.py``, run for real.

Each scenario gets its own temporary directory and starts its own services (a private PostgreSQL
cluster, Dagster's webserver and daemon, the sidecar); a scenario that crashes becomes a row with
``ok = NO`` and its error, never a crash of the bench. ``--quick`` and ``--repeat`` change
nothing: each fault is injected once (a fault is an event, not a median).
"""
from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*, quick: bool, repeat: int) -> None:
    del quick, repeat  # one injection per fault; see the module docstring
    if str(ROOT) not in sys.path:  # the scenarios live in the test package
        sys.path.insert(0, str(ROOT))
    from tests.support.faults.report import FaultResult, scenarios, table

    print("== faults: each fault injected for real, compared with a clean import ==", flush=True)
    results: list[FaultResult] = []
    for name, scenario in _discover(scenarios, FaultResult, results):
        began = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"fault-{name}-") as tmp:
            try:
                result = scenario(Path(tmp))
            except BaseException as exc:  # a crashing scenario (pytest outcomes too) is a row
                if isinstance(exc, KeyboardInterrupt):
                    raise
                label = getattr(scenario, "__name__", name)
                result = FaultResult(fault=f"{name}: {label}", behaviour="scenario crashed",
                                     rows_lost=0, rows_duplicated=0, recovery_seconds=None, ok=False,
                                     details=f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
        results.append(result)
        print(f"  {result.fault}: {'ok' if result.ok else 'NOT OK'} in {time.monotonic() - began:.0f} s"
              + ("" if result.ok else f" — {result.details}"), flush=True)
    print(table(results), flush=True)
    for result in results:
        if not result.ok:
            print(f"FAIL  <<< {result.fault}: {result.details}", flush=True)


def _discover(scenarios, fault_result, results):  # type: ignore[no-untyped-def]
    """The scenarios; a module that fails to import becomes a failed row too."""
    try:
        yield from scenarios()
    except Exception as exc:  # noqa: BLE001
        results.append(fault_result(fault="scenario discovery", behaviour="import failed", rows_lost=0,
                                    rows_duplicated=0, recovery_seconds=None, ok=False,
                                    details=f"{type(exc).__name__}: {exc}"))
