"""Run every benchmark in order: ``python -m benchmarks [--quick] [--repeat N]``.

Why a runner: ``make bench`` must cover every benchmark with one command, and each module keeps
the same two knobs (a small smoke-run file, and how many repetitions the medians are taken over).
A benchmark is a measurement, not a test: a missed target is printed as FAIL, the exit code stays
0; only a crash (e.g. PostgreSQL unreachable) exits non-zero.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Benchmark modules of this package, run in this order; each has ``run(*, quick, repeat)``.
MODULES: tuple[str, ...] = (
    "import_throughput", "live_cycle", "dagster_backfill", "dagster_event_cost", "dagster_pg_storage",
    "dagster_celery",
    "dagster_fleet_ui", "api_latency", "api_hardening", "faults", "hostile", "shapes_busy_day",
    "missed_calls",
    "calls_search",
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small input: a smoke run, not figures")
    parser.add_argument("--repeat", type=_positive, default=3, help="repetitions (medians are quoted)")
    parser.add_argument("--only", choices=MODULES, action="append", help="run just these (repeatable)")
    args = parser.parse_args(argv)
    for name in args.only or MODULES:
        module = importlib.import_module(f"benchmarks.{name}")
        module.run(quick=args.quick, repeat=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
