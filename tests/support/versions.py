"""An earlier release's package, exported from git, to write a warehouse the way it did; the
recorded conversations as a PBX mirror; a fresh import of them to compare an upgrade with."""
from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import Engine

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.conversations.examples import example_names, load_example, strip_bridge_ids
from tests.support.factories import append, create_day_file
from tests.support.pg import database_url, new_pg_database
from tests.support.snapshot import snapshot

REPO = Path(__file__).resolve().parents[2]


def export_version(tmp_path: Path, commit: str) -> Path:
    """``asterisk_pipeline`` as of ``commit`` under a new directory (put it on PYTHONPATH).

    CI runs on a clone with history; a checkout without it fails here, loudly."""
    target = tmp_path / f"version-{commit}"
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit, "asterisk_pipeline"],
            capture_output=True, check=True,
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.fail(f"cannot export version {commit} from git: {exc}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


ENT = Enterprise("0327", "VOS", "vos.vochi.lan", "secret-327", "10.88.10.25", "375000000003")


def recorded_mirror(tmp_path: Path, simulated_days: int = 0) -> Path:
    """The recorded conversations, as production writes them, in a local mirror of the PBX
    (plus simulated days of every conversation shape)."""
    root = tmp_path / "mirror"
    for offset in range(simulated_days):
        day = date(2025, 7, 1 + offset)
        write_day_file(day_file_path(root, ENT.number, day), token=token_for(ENT.number),
                           day=day, calls=1500, seed=offset, dirty_share=0.01)
    for name in example_names():
        example = load_example(name)
        day = example["rows"][0]["DateTime"][:10]
        path = root / ENT.number / f"Listen_AMI_{day}.db"
        if not path.exists():
            create_day_file(path)
        rows = [(r["DateTime"], r["event"], r["Uniqueid"], r["request"], "<Response [200]>") for r in example["rows"]]
        append(path, [(a, e, u, strip_bridge_ids(q, e), s) for a, e, u, q, s in rows], "APIlogs")
        append(path, [(a, e, u, q, "Timeout") for a, e, u, q, s in rows], "AlternativeAPIlogs")
    return root


def day_files(mirror: Path) -> list[Path]:
    return sorted((mirror / ENT.number).glob("Listen_AMI_*.db"))


def import_with_version(previous: Path, db: str, files: list[Path], home: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(previous), "ASTERISK_HOME": str(home)}

    def cli(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "asterisk_pipeline.cli", *args, "--db", db],
                              capture_output=True, text=True, env=env, check=False, cwd=previous)
        assert done.returncode == 0, done.stdout + done.stderr

    cli("db", "upgrade")
    cli("enterprise", "add", ENT.number, "--name", "VOS", "--host", "vos.vochi.lan", "--secret", "secret-327")
    for path in files:
        for flow in ("history", "live"):
            cli("import-file", str(path), "--enterprise", ENT.number, "--flow", flow)


def import_fresh(engine: Engine, files: list[Path], settings: Settings) -> None:
    upgrade(engine)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, Enterprise(ENT.number, "VOS", "vos.vochi.lan", "secret-327"))
    for path in files:
        day = date.fromisoformat(path.stem.removeprefix("Listen_AMI_"))
        for flow in (Flow.HISTORY, Flow.LIVE):
            outcome = import_day_file(engine, Fleet.load(settings), ENT, LocalDayFile(path, flow, day))
            assert outcome.ok, outcome


def conversation_tables(engine: Engine) -> dict[str, list[tuple]]:
    picture = snapshot(engine)
    picture.pop("cursors")
    return picture


@contextmanager
def empty_database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty warehouse URL (no schema: the previous version migrates it itself)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    with new_pg_database(f"ap_{name}") as database:
        yield database_url(database)
