"""One row of the fault table: what was injected, what the system did, and what it cost."""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FaultResult:
    """``rows_lost``/``rows_duplicated`` are counted against a clean import of the same files."""

    fault: str
    behaviour: str
    rows_lost: int
    rows_duplicated: int
    recovery_seconds: float | None
    ok: bool = True
    details: str = ""


Scenario = Callable[[Path], FaultResult]


def scenarios() -> Iterator[tuple[str, Scenario]]:
    """Every ``SCENARIOS`` entry of ``tests/support/faults/scenario_*.py``, in module order."""
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if info.name.startswith("scenario_"):
            module = importlib.import_module(f"tests.support.faults.{info.name}")
            for scenario in getattr(module, "SCENARIOS", ()):
                yield info.name.removeprefix("scenario_"), scenario


def table(results: list[FaultResult]) -> str:
    """The fault table as fixed-width text."""
    header = ("fault", "what the system did", "lost", "duplicated", "recovery s", "ok")
    rows = [
        (r.fault, r.behaviour, str(r.rows_lost), str(r.rows_duplicated),
         "-" if r.recovery_seconds is None else f"{r.recovery_seconds:.1f}", "yes" if r.ok else "NO")
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join
    return "\n".join(line(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in [header, *rows])
