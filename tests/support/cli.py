"""The CLI as a real process, as an operator runs it (tests/cli, tests/hostile)."""
from __future__ import annotations

import subprocess
import sys


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,  # checked below
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result
