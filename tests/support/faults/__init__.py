"""The fault scenarios (issue 12): each fault injected for real, checked against a clean import.

Every scenario lives in ``tests/support/faults/scenario_<name>.py`` and lists its entry points in
a module-level ``SCENARIOS`` tuple of callables ``(workdir: Path) -> FaultResult``. Each one sets
up its own services (databases, sshd, Dagster) under ``workdir``, injects the fault, lets the
system recover and compares with a clean import. The tests (``tests/faults/test_<name>.py``)
assert on the result; ``make bench`` prints the same results as the fault table
(``benchmarks/faults.py``).
"""
