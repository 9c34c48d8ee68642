"""A process killed (SIGKILL) in the middle of a large import, then run again, leaves exactly the
database one clean import leaves: no partial rows, no duplicates."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.warehouse.db import make_engine
from asterisk_pipeline.warehouse.migrate import upgrade
from tests.support.snapshot import count, snapshot

DAY = date(2025, 7, 3)


def _import(url: str, path: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "ASTERISK_DATABASE_URL": url, "ASTERISK_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "asterisk_pipeline.cli", "import-file", str(path),
         "--enterprise", "0327", "--flow", "live"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _prepare(url: str, home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "asterisk_pipeline.cli", "enterprise", "add", "0327",
         "--host", "vos.lan", "--secret", "s"],
        env={**os.environ, "ASTERISK_DATABASE_URL": url, "ASTERISK_HOME": str(home)}, check=True,
    )


@pytest.mark.slow
def test_sigkill_mid_import_then_rerun_equals_one_clean_import(db_url: str, tmp_path: Path):
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    write_day_file(path, token="375001", day=DAY, calls=12_000, seed=11, dirty_share=0.02)

    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = make_engine(clean_url)
    upgrade(clean)
    _prepare(clean_url, tmp_path)
    _prepare(db_url, tmp_path)
    started = time.monotonic()
    reference = _import(clean_url, path, tmp_path)
    assert reference.wait(timeout=600) == 0, reference.stderr.read() if reference.stderr else ""
    clean_seconds = time.monotonic() - started

    engine = make_engine(db_url)
    killed_mid_way = 0
    for fraction in (0.3, 0.6):
        victim = _import(db_url, path, tmp_path)
        time.sleep(max(0.5, clean_seconds * fraction))
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            killed_mid_way += 1
        victim.wait(timeout=60)
        if victim.returncode == -signal.SIGKILL:
            assert count(engine, "calls") == 0 and count(engine, "call_events") == 0
            assert count(engine, "sync_cursors") == 0 and count(engine, "rejected_events") == 0
    assert killed_mid_way >= 1, "the import finished before it could be killed; grow the file"

    survivor = _import(db_url, path, tmp_path)
    assert survivor.wait(timeout=600) == 0
    assert snapshot(engine) == snapshot(clean)
    assert count(engine, "calls") > 1000
    engine.dispose()
    clean.dispose()
