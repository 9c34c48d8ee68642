"""The SSH transport against real OpenSSH sshd processes on 127.0.1.x (tests/support/ssh_fixtures.py)."""
from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.pbx.files import DayFile
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import live_cycle, sync_history_day, sync_live
from tests.support.pbx import NOON, ssh_enterprise, ssh_settings
from tests.support.snapshot import count

DAY = date(2025, 7, 3)
FILE = f"Listen_AMI_{DAY.isoformat()}.db"


def _pbx(sshd_factory, address: str, *, calls: int = 60, seed: int = 1, **options):  # type: ignore[no-untyped-def]
    server = sshd_factory(address=address, **options)
    write_day_file(server.served_dir / FILE, token="375001", day=DAY, calls=calls, seed=seed,
                   start_id=int(address.rsplit(".", 1)[1]) * 100_000)
    return server


def _with(settings: Settings, changes: dict) -> Settings:
    """A changed copy, validated like the original (model_copy would skip validation)."""
    return Settings(**{**settings.model_dump(), **changes})


def _today(outcomes):  # type: ignore[no-untyped-def]
    return next(o for o in outcomes if o.file_date == DAY.isoformat())


def test_key_auth_incremental_live_sync(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.11")
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    ent = ssh_enterprise(engine, "0327", server.host)
    first = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    assert first.ok and first.rows_read > 300 and first.new_calls > 0
    size = (server.served_dir / FILE).stat().st_size
    added = append_calls(server.served_dir / FILE, token="375001", day=DAY, calls=3, seed=5,
                         tables=("AlternativeAPIlogs",), live_share_undelivered=1.0)
    second = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    assert second.ok and second.rows_read == int(added) and second.new_calls == 3
    assert 0 < second.bytes_transferred < size / 10  # only the new rows crossed the network


def test_password_auth(engine: Engine, sshd_factory, ssh_client_key, ssh_password_user, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.12")
    settings = ssh_settings(tmp_path, server, ssh_client_key, ssh_key_file=None,
                         ssh_user=ssh_password_user.user, ssh_password=ssh_password_user.password)
    ent = ssh_enterprise(engine, "0327", server.host)
    outcome = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    assert outcome.ok and outcome.new_calls > 0
    wrong = _with(settings, {"ssh_password": "not-the-password"})
    failed = _today(sync_live(engine, Fleet.load(wrong), ent, now=NOON))
    assert failed.error_kind == "auth_failed" and "not-the-password" not in (failed.error or "")


def test_changed_host_key_is_refused_without_retrying(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.13")
    settings = ssh_settings(tmp_path, server, ssh_client_key, ssh_retries=5, ssh_trust_on_first_use=True)
    ent = ssh_enterprise(engine, "0327", server.host)
    server.rotate_host_key()
    began = time.monotonic()
    outcome = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    assert outcome.error_kind == "host_key_mismatch" and server.host in (outcome.error or "")
    assert time.monotonic() - began < 5  # no backoff retries for a host-key failure
    assert count(engine, "calls") == 0


def test_unknown_host_key_refused_then_pinned_on_first_use(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.14")
    settings = ssh_settings(tmp_path, server, ssh_client_key, known=[])
    ent = ssh_enterprise(engine, "0327", server.host)
    refused = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    assert refused.error_kind == "host_key_unknown"
    tofu = _with(settings, {"ssh_trust_on_first_use": True})
    assert _today(sync_live(engine, Fleet.load(tofu), ent, now=NOON)).ok
    pinned = settings.known_hosts_path.read_text()
    assert server.host_public_key.split()[1] in pinned
    assert _today(sync_live(engine, Fleet.load(settings), ent, now=NOON)).ok  # pinned, no TOFU needed


def test_pbx_without_sqlite3_falls_back_to_a_verified_copy(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.15", path_env="/nonexistent")
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    ent = ssh_enterprise(engine, "0327", server.host)
    outcome = _today(sync_live(engine, Fleet.load(settings), ent, now=NOON))
    size = (server.served_dir / FILE).stat().st_size
    assert outcome.ok and outcome.new_calls > 0 and outcome.bytes_transferred >= size
    rows = sum(len(c) for c in DayFile(server.served_dir / FILE).read_rows("AlternativeAPIlogs"))
    assert outcome.rows_read == rows


# The PBX's own .backup copes with a writer committing every few milliseconds; a plain copy
# needs a quiet moment between two calls to verify (a PBX with a call every ~0.3 s has many).
@pytest.mark.slow
@pytest.mark.parametrize(
    "path_env, pause", [(None, 0.02), ("/nonexistent", 0.3)], ids=["backup", "copy-and-verify"]
)
def test_copy_of_a_file_being_written_is_consistent(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path, path_env, pause):
    server = _pbx(sshd_factory, "127.0.1.16", calls=3000, path_env=path_env)
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    ent = ssh_enterprise(engine, "0327", server.host)
    stop = threading.Event()

    def writer() -> None:
        seed = 100
        while not stop.wait(pause):
            # one plain call (~8 rows) per pause: the write rate this test was sized for; a
            # transfer chain is ~60 single-row commits and keeps the file changing nonstop
            append_calls(server.served_dir / FILE, token="375001", day=DAY, calls=1, seed=seed,
                         complex_share=0.0)
            seed += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        outcome = sync_history_day(engine, Fleet.load(settings), ent, DAY)
    finally:
        stop.set()
        thread.join()
    assert outcome.ok, outcome
    copy = settings.cache_dir / "0327" / FILE
    assert outcome.rows_read == sum(len(c) for c in DayFile(copy).read_rows("APIlogs"))
    # whatever was appended after the snapshot arrives with the next sync, nothing twice
    final = sync_history_day(engine, Fleet.load(settings), ent, DAY)
    total = sum(len(c) for c in DayFile(server.served_dir / FILE).read_rows("APIlogs"))
    assert final.ok and outcome.rows_read + final.rows_read == total


@pytest.mark.slow
def test_connection_dropped_mid_transfer_is_retried(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    server = _pbx(sshd_factory, "127.0.1.17", calls=20_000, path_env="/nonexistent")
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    ent = ssh_enterprise(engine, "0327", server.host)
    dropped = []

    def dropper() -> None:
        partials = settings.cache_dir / "0327"
        for _ in range(400):  # drop the connection once the copy has started
            if partials.is_dir() and any(p.name.endswith(".part") for p in partials.iterdir()):
                dropped.append(server.drop_connections())
                return
            time.sleep(0.01)

    thread = threading.Thread(target=dropper, daemon=True)
    thread.start()
    outcome = sync_history_day(engine, Fleet.load(settings), ent, DAY)
    thread.join()
    assert dropped and dropped[0] >= 1, "the transfer finished before it could be dropped"
    assert outcome.ok, outcome
    assert outcome.rows_read == sum(len(c) for c in DayFile(server.served_dir / FILE).read_rows("APIlogs"))


def test_a_host_that_never_answers_times_out_while_others_finish(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    servers = [_pbx(sshd_factory, f"127.0.1.{n}", seed=n) for n in (21, 22, 23)]
    settings = ssh_settings(tmp_path, servers[0], ssh_client_key, known=servers,
                         ssh_connect_timeout_s=1.0, ssh_retries=1)
    for index, server in enumerate(servers):
        ssh_enterprise(engine, f"05{index}0", server.host)
    # all three share one port number only if the factory could bind it; otherwise per-host ports
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text("".join(
        f'[enterprises."05{i}0"]\nport = {s.port}\n' for i, s in enumerate(servers)))
    settings = _with(settings, {"fleet_file": fleet_file})
    servers[1].freeze()
    try:
        began = time.monotonic()
        report = live_cycle(engine, Fleet.load(settings), now=NOON)
        elapsed = time.monotonic() - began
    finally:
        servers[1].thaw()
    today = {o.enterprise: o for o in report.outcomes if o.file_date == DAY.isoformat()}
    assert today["0500"].ok and today["0520"].ok
    assert today["0510"].error_kind == "timeout" and servers[1].host in (today["0510"].error or "")
    assert elapsed < 15
    with engine.connect() as conn:
        error = conn.execute(text("SELECT last_error_message FROM download_sync WHERE enterprise_id = '0510'")).scalar_one()
    assert "timed out" in error or "no SSH answer" in error


def test_history_range_lists_over_sftp_and_skips_unchanged_copies(engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path):
    from datetime import timedelta

    from asterisk_pipeline.sync import SyncRun, sync_history_range
    from asterisk_pipeline.warehouse.stats import DayRange

    server = _pbx(sshd_factory, "127.0.1.18")
    for offset in (1, 2):
        day = DAY - timedelta(days=offset)
        write_day_file(server.served_dir / f"Listen_AMI_{day.isoformat()}.db", token="375001",
                       day=day, calls=30, seed=offset, start_id=offset * 1000)
    (server.served_dir / "Listen_AMI_2025-07-03.db-journal").write_bytes(b"")  # not a day file
    (server.served_dir / "notes.txt").write_text("x")
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    ent = ssh_enterprise(engine, "0327", server.host)
    first = sync_history_range(engine, Fleet.load(settings), ent, DayRange(DAY - timedelta(days=10), DAY))
    assert [o.file_date for o in first] == ["2025-07-01", "2025-07-02", "2025-07-03"]
    assert all(o.ok and o.bytes_transferred > 0 and o.new_calls > 0 for o in first)
    again = sync_history_range(engine, Fleet.load(settings), ent, DayRange(DAY - timedelta(days=10), DAY))
    assert all(o.ok and o.bytes_transferred == 0 and o.rows_read == 0 for o in again)
    only_one = sync_history_range(engine, Fleet.load(settings), ent, DayRange(DAY, DAY), run=SyncRun(force=True))
    assert len(only_one) == 1 and only_one[0].rows_read > 0 and only_one[0].new_events == 0
