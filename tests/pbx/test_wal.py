"""PBX files in WAL mode (SPEC §4.1): read with their ``-wal`` over every transport, or failed
loudly (kind ``unreadable``), never a silent short read; a cached copy is keyed on the ``-wal``.

Each file is held open by a writer with automatic checkpoints off, as a listener would keep it:
part of the rows sits in the main file (checkpointed), the rest only in the ``-wal``. The
reference is the same rows in an ordinary (rollback-journal) file.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import token_for
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.files import DayFile, is_wal_mode, wal_path
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import sync_history_day, sync_live
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.pbx import ssh_settings

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK)
FILE = f"Listen_AMI_{DAY.isoformat()}.db"
TABLES = ("APIlogs", "AlternativeAPIlogs")


class WalWriter:
    """A listener's connection to a WAL-mode day file; rows come from a reference file."""

    def __init__(self, path: Path, reference: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA wal_autocheckpoint=0")  # only explicit checkpoints
        self.conn.execute("PRAGMA synchronous=OFF")  # test speed; durability is not under test
        with closing(sqlite3.connect(reference)) as ref:
            for (sql,) in ref.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"):
                self.conn.execute(sql)
        self.conn.execute("ATTACH DATABASE ? AS ref", (str(reference),))
        self.lock = threading.Lock()

    def copy_rows(self, table: str, low: int, high: int) -> int:
        """Rows low < id <= high of the reference, committed one by one (as the listener does)."""
        ids = [r[0] for r in self.conn.execute(
            f"SELECT id FROM ref.{table} WHERE id > ? AND id <= ? ORDER BY id", (low, high))]
        for row_id in ids:
            with self.lock:
                self.conn.execute(f"INSERT INTO {table} SELECT * FROM ref.{table} WHERE id = ?", (row_id,))
        return len(ids)

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.conn.close()


def _ids(path: Path, table: str) -> list[int]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def _count(path: Path, table: str) -> int:
    return sum(len(chunk) for chunk in DayFile(path).read_rows(table))


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    path = tmp_path / "reference" / FILE
    write_day_file(path, token=token_for("0327"), day=DAY, calls=80, seed=7, start_id=70_000)
    return path


@pytest.fixture
def wal_file(tmp_path: Path, reference: Path) -> Iterator[tuple[WalWriter, Path]]:
    """A served day file: the first half of every table checkpointed, the second only in -wal."""
    served = tmp_path / "served"
    served.mkdir()
    writer = WalWriter(served / FILE, reference)
    for table in TABLES:
        ids = _ids(reference, table)
        writer.copy_rows(table, 0, ids[len(ids) // 2])
    writer.checkpoint()
    for table in TABLES:
        writer.copy_rows(table, _ids(reference, table)[len(_ids(reference, table)) // 2], 10**12)
    assert is_wal_mode(served / FILE) and wal_path(served / FILE).stat().st_size > 0
    # the defect this guards against: the main file alone holds only the checkpointed half
    with closing(sqlite3.connect(f"{(served / FILE).as_uri()}?immutable=1", uri=True)) as alone:
        assert alone.execute("SELECT count(*) FROM APIlogs").fetchone()[0] < _count(reference, "APIlogs")
    try:
        yield writer, served
    finally:
        writer.close()


def _enterprise(engine: Engine, number: str, host: str | None = None) -> Enterprise:
    enterprise = Enterprise(number, f"E{number}", host, "secret", host, token_for("0327"))
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, enterprise)
    return enterprise


def _calls(engine: Engine, number: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM calls WHERE enterprise_id = :n"), {"n": number}).scalar_one())


def _today(outcomes):  # type: ignore[no-untyped-def]
    return next(o for o in outcomes if o.file_date == DAY.isoformat())


def _ssh_settings(tmp_path: Path, server, key, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    """tests.support.pbx's settings for one PBX, with a single retry (a copy that keeps
    changing should fail fast)."""
    return ssh_settings(tmp_path, server, key, **{"ssh_retries": 1, **overrides})


def _same_as_reference(engine: Engine, fleet: Fleet, wal: Enterprise, ref: Enterprise, reference: Path) -> None:
    """Live and history syncs of the WAL file read every row, and give the calls the same rows
    give from a checkpointed file."""
    for ent in (wal, ref):
        live = _today(sync_live(engine, fleet, ent, now=NOON))
        history = sync_history_day(engine, fleet, ent, DAY)
        assert live.ok and history.ok, (live, history)
        assert live.rows_read == _count(reference, "AlternativeAPIlogs")
        assert history.rows_read == _count(reference, "APIlogs")
    assert _calls(engine, "0327") == _calls(engine, "0328") > 0


def test_wal_file_read_in_place_on_a_local_mirror(engine: Engine, tmp_path: Path, reference: Path, wal_file):
    _writer, served = wal_file
    logs = tmp_path / "logs"
    (logs / "0328").mkdir(parents=True)
    (logs / "0328" / FILE).write_bytes(reference.read_bytes())
    fleet_file = tmp_path / "fleet.toml"  # 0327's mirror is the live directory itself
    fleet_file.write_text(f'[enterprises."0327"]\nlocal_dir = "{served}"\n')
    settings = Settings(home=tmp_path / "home", transport="local", local_logs_dir=logs, fleet_file=fleet_file)
    wal, ref = _enterprise(engine, "0327"), _enterprise(engine, "0328")
    _same_as_reference(engine, Fleet.load(settings), wal, ref, reference)


@pytest.mark.parametrize("path_env", [None, "/nonexistent"], ids=["sqlite3-on-pbx", "sftp-copy"])
def test_wal_file_over_ssh_imports_every_row(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path, reference: Path, wal_file, path_env
):
    _writer, served = wal_file
    server = sshd_factory(address="127.0.1.42", served_dir=served, path_env=path_env)
    (served / "ref").mkdir()
    (served / "ref" / FILE).write_bytes(reference.read_bytes())
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(f'[enterprises."0328"]\nremote_dir = "{served / "ref"}"\n')
    settings = _ssh_settings(tmp_path, server, ssh_client_key, fleet_file=fleet_file)
    wal, ref = _enterprise(engine, "0327", server.host), _enterprise(engine, "0328", server.host)
    _same_as_reference(engine, Fleet.load(settings), wal, ref, reference)
    # the cached copy is one self-contained file: no -wal or -shm needed to read it
    cached = settings.cache_dir / "0327" / FILE
    assert not is_wal_mode(cached) and not wal_path(cached).exists()
    assert _ids(cached, "APIlogs") == _ids(reference, "APIlogs")


def test_cache_is_refreshed_when_only_the_wal_changes(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path, reference: Path, wal_file
):
    writer, served = wal_file
    server = sshd_factory(address="127.0.1.43", served_dir=served, path_env="/nonexistent")
    settings = _ssh_settings(tmp_path, server, ssh_client_key)
    ent = _enterprise(engine, "0327", server.host)
    fleet = Fleet.load(settings)
    # start from a file whose -wal lacks the reference's last rows
    full = _ids(reference, "APIlogs")
    writer.conn.execute("DELETE FROM APIlogs WHERE id > ?", (full[-20],))
    first = sync_history_day(engine, fleet, ent, DAY)
    assert first.ok and first.bytes_transferred > 0 and first.rows_read == len(full) - 19
    again = sync_history_day(engine, fleet, ent, DAY)
    assert again.ok and again.bytes_transferred == 0 and again.rows_read == 0  # served from the cache
    main = (served / FILE).stat()
    added = writer.copy_rows("APIlogs", full[-20], 10**12)
    assert added == 19
    changed = (served / FILE).stat()
    assert (changed.st_size, changed.st_mtime_ns) == (main.st_size, main.st_mtime_ns)  # only the -wal moved
    third = sync_history_day(engine, fleet, ent, DAY)
    assert third.ok and third.bytes_transferred > 0 and third.rows_read == added


# A commit every 2 ms leaves no quiet moment for a copy (the sync fails ``unreadable``); one
# every 0.3 s leaves many (a retried copy lands between two commits and the sync succeeds).
@pytest.mark.slow
@pytest.mark.parametrize("pause, expect_ok", [(0.002, None), (0.3, True)], ids=["nonstop", "quiet-moments"])
def test_wal_changing_during_the_copy_is_never_a_short_success(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path, reference: Path, wal_file,
    pause: float, expect_ok: bool | None,
):
    """A writer committing into the -wal during the copy: each copy is re-checked against the
    file and its -wal; the sync either gets a consistent snapshot (every row committed before it
    began, none torn) or fails ``unreadable``; nothing unverified is cached."""
    writer, served = wal_file
    server = sshd_factory(address="127.0.1.44", served_dir=served, path_env="/nonexistent")
    settings = _ssh_settings(tmp_path, server, ssh_client_key)
    ent = _enterprise(engine, "0327", server.host)
    extra = tmp_path / "extra.db"
    write_day_file(extra, token=token_for("0327"), day=DAY, calls=3000, seed=8, start_id=200_000)
    with closing(sqlite3.connect(extra)) as conn:  # ids after the reference's, in the writer's source
        conn.execute("UPDATE APIlogs SET id = id + ?", (10**9,))
        conn.commit()
    writer.conn.execute("DETACH DATABASE ref")
    writer.conn.execute("ATTACH DATABASE ? AS ref", (str(extra),))
    before = _count(served / FILE, "APIlogs")
    stop = threading.Event()

    def keep_writing() -> None:
        for row_id in _ids(extra, "APIlogs"):
            if stop.wait(pause):  # for as long as the sync runs
                return
            with writer.lock:
                writer.conn.execute("INSERT INTO APIlogs SELECT * FROM ref.APIlogs WHERE id = ?", (row_id,))

    thread = threading.Thread(target=keep_writing, daemon=True)
    thread.start()
    try:
        outcome = sync_history_day(engine, Fleet.load(settings), ent, DAY)
    finally:
        stop.set()
        thread.join()
    cached = settings.cache_dir / "0327" / FILE
    if expect_ok is not None:
        assert outcome.ok is expect_ok, outcome
    if outcome.ok:
        ids = _ids(cached, "APIlogs")
        assert outcome.rows_read == len(ids) >= before
        assert ids == _ids(served / FILE, "APIlogs")[: len(ids)]  # a prefix of the file: no gap
    else:
        assert outcome.error_kind == "unreadable" and "-wal" in (outcome.error or ""), outcome
        assert not cached.exists()
    # once the writer is quiet the next sync reads every row, none twice
    final = sync_history_day(engine, Fleet.load(settings), ent, DAY)
    assert final.ok, final
    assert (outcome.rows_read if outcome.ok else 0) + final.rows_read == _count(served / FILE, "APIlogs")


_READ_AS_OTHER_USER = """
import sys
from pathlib import Path
from asterisk_pipeline.pbx.files import DayFile, SourceError
try:
    print(sum(len(c) for c in DayFile(Path(sys.argv[1])).read_rows("APIlogs")))
except SourceError as exc:
    print(exc.kind.value, exc.message)
"""


@pytest.mark.parametrize("with_shm", [True, False], ids=["shm-present", "no-shm"])
def test_wal_file_in_a_directory_the_reader_cannot_write(reference: Path, wal_file, with_shm: bool):
    """A mirror owned by someone else: with the -shm there SQLite reads the -wal through it;
    without it (and no right to create it) the read fails ``unreadable``, never short."""
    _writer, served = wal_file
    mirror = Path(tempfile.mkdtemp(prefix="wal-mirror-"))
    try:
        for suffix in ("", "-wal", *(("-shm",) if with_shm else ())):
            shutil.copyfile(served / f"{FILE}{suffix}", mirror / f"{FILE}{suffix}")
            (mirror / f"{FILE}{suffix}").chmod(0o644)
        mirror.chmod(0o755)
        # root writes anywhere: read as nobody (as the pipeline's own user would read a mirror it does not own)
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        if os.geteuid() != 0:
            mirror.chmod(0o555)
        answer = subprocess.run(
            [*drop, sys.executable, "-c", _READ_AS_OTHER_USER, str(mirror / FILE)],
            capture_output=True, text=True, timeout=60, check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        ).stdout.strip()
    finally:
        mirror.chmod(0o755)
        shutil.rmtree(mirror)
    if with_shm:
        assert answer == str(_count(reference, "APIlogs"))
    else:
        assert answer.startswith("unreadable ") and "WAL mode" in answer and "-wal" in answer, answer


def test_wal_file_the_pbx_user_cannot_index_fails_loudly_with_sqlite3_and_is_copied_without(
    engine: Engine, sshd_factory, ssh_client_key, ssh_password_user, tmp_path: Path, reference: Path, wal_file
):
    """A WAL file (with its -wal, no -shm) in a PBX directory the SSH user cannot write: the
    PBX's sqlite3 cannot open it (kind ``unreadable``, not ``missing_file``, which a finished
    yesterday would skip quietly); an SFTP copy of the file and its -wal reads every row."""
    _writer, served = wal_file
    locked = Path(tempfile.mkdtemp(prefix="wal-pbx-"))  # reachable by the password user, not writable
    locked.chmod(0o755)
    for suffix in ("", "-wal"):
        shutil.copyfile(served / f"{FILE}{suffix}", locked / f"{FILE}{suffix}")
        (locked / f"{FILE}{suffix}").chmod(0o644)
    results = {}
    try:
        for path_env, number in ((None, "0327"), ("/nonexistent", "0328")):
            server = sshd_factory(address="127.0.1.45", path_env=path_env)
            (tmp_path / number).mkdir()
            settings = _ssh_settings(
                tmp_path / number, server, ssh_client_key, ssh_key_file=None, remote_dir=str(locked),
                ssh_user=ssh_password_user.user, ssh_password=ssh_password_user.password)
            ent = _enterprise(engine, number, server.host)
            live = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
            history = sync_history_day(engine, Fleet.load(settings), ent, DAY)
            results[number] = (live, history)
            server.close()
        files_left = sorted(p.name for p in locked.iterdir())
    finally:
        shutil.rmtree(locked)
    for outcome in results["0327"]:
        assert outcome.error_kind == "unreadable" and "-shm" in (outcome.error or ""), outcome
    live, history = results["0328"]
    assert live.ok and live.rows_read == _count(reference, "AlternativeAPIlogs")
    assert history.ok and history.rows_read == _count(reference, "APIlogs")
    assert files_left == [FILE, f"{FILE}-wal"]  # nothing was written on the PBX
