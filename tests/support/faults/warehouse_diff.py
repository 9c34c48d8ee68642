"""Rows lost and duplicated against a clean import, by natural keys (fault scenarios D–F).

The clean import reads the final PBX files once, with the same flow, into a fresh SQLite
warehouse; the faulted warehouse is compared with it table by table (events, calls, participants,
rejects). A row is lost when its key is in the clean import only, duplicated when the faulted
warehouse holds its key more often; ``differing`` counts rows whose key matches but whose other
columns do not.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from asterisk_pipeline.model import Enterprise, Flow
from asterisk_pipeline.pbx.files import date_from_name
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import LocalDayFile, import_day_file
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.snapshot import snapshot

# Natural key = the first columns of each snapshot row (tests/support/snapshot.py's order).
KEYS = {"events": (0, 4), "calls": (0, 2), "participants": (0, 3), "rejected": (0, 4)}


@dataclass
class Diff:
    lost: int = 0
    duplicated: int = 0
    differing: int = 0
    per_table: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    clean_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return "; ".join(f"{t}: {self.clean_counts[t]} clean, lost {lo}, dup {d}, differing {x}"
                         for t, (lo, d, x) in self.per_table.items())


def diff(faulted: Engine, clean: Engine) -> Diff:
    got, want = snapshot(faulted), snapshot(clean)
    result = Diff()
    for table, (a, b) in KEYS.items():
        got_keys = Counter(row[a:b] for row in got[table])
        want_keys = Counter(row[a:b] for row in want[table])
        lost = sum((want_keys - got_keys).values())
        dup = sum((got_keys - want_keys).values())
        differing = sum((Counter(want[table]) - Counter(got[table])).values()) - lost
        result.per_table[table] = (lost, dup, differing)
        result.clean_counts[table] = len(want[table])
        result.lost += lost
        result.duplicated += dup
        result.differing += differing
    return result


def new_sqlite(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def add_enterprises(engine: Engine, enterprises: list[Enterprise]) -> None:
    with write_transaction(engine) as conn:
        for enterprise in enterprises:
            upsert_enterprise(conn, enterprise)


def clean_import(workdir: Path, enterprises: list[Enterprise], files: list[tuple[str, Path]],
                 flow: str, settings: Settings | None = None) -> Engine:
    """A fresh warehouse holding one import (what ``import-file`` runs) of each (enterprise, file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "clean.db"
    db.unlink(missing_ok=True)
    engine = new_sqlite(db)
    add_enterprises(engine, enterprises)
    by_number = {e.number: e for e in enterprises}
    for number, path in files:
        outcome = import_day_file(engine, Fleet.load(settings or Settings()), by_number[number], LocalDayFile(path, Flow(flow), date_from_name(path.name)))
        if not outcome.ok:
            raise RuntimeError(f"clean import of {path} failed: {outcome.error}")
    return engine
