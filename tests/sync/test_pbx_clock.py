"""The PBX clock's offset (SPEC §4.8 "when known"): measured by each live sync over SSH (the
PBX's own `date +%s`, here a real sshd on this machine), kept in pbx_clocks, shown by fleet health."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.sync import sync_live
from asterisk_pipeline.sync.health import fleet_health
from tests.support.pbx import ssh_enterprise, ssh_settings


def test_live_sync_over_ssh_records_the_clock_offset(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    server = sshd_factory(address="127.0.1.51")
    today = datetime.now(ZoneInfo("Europe/Minsk")).date()
    write_day_file(server.served_dir / f"Listen_AMI_{today.isoformat()}.db", token="375001", day=today,
                   calls=5, seed=3, start_id=1000)
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    enterprise = ssh_enterprise(engine, "0327", server.host)
    behind = datetime.now(UTC) - timedelta(seconds=90)  # the central clock 90 s behind the PBX's
    outcomes = sync_live(engine, Fleet.load(settings), enterprise, now=behind)
    assert outcomes and all(o.ok for o in outcomes)
    with engine.connect() as conn:
        health = fleet_health(conn, Fleet.load(settings))[0]
    offset = health.evidence.clock_offset_s
    assert offset is not None and 85 <= offset <= 100, offset  # PBX clock minus central clock


def test_the_clock_exec_tells_which_yesterday_files_are_absent(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """One exec answers the clock and which of the possible yesterdays' files exist; a live sync
    then fetches only a yesterday that is there, and never fails for one that is not."""
    server = sshd_factory(address="127.0.1.52")
    zone = ZoneInfo("Europe/Minsk")
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    write_day_file(server.served_dir / f"Listen_AMI_{today.isoformat()}.db", token="375001", day=today,
                   calls=3, seed=3, start_id=1000)
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    enterprise = ssh_enterprise(engine, "0327", server.host)
    fleet = Fleet.load(settings)
    transport = fleet.pbx(enterprise).transport()
    try:
        told = transport.pbx_clock([today - timedelta(days=2), yesterday, today])
    finally:
        transport.close()
    assert told.now is not None and abs((told.now - now).total_seconds()) < 60
    assert told.absent == {today - timedelta(days=2), yesterday}
    outcomes = sync_live(engine, fleet, enterprise, now=now)
    assert [(o.file_date, o.ok) for o in outcomes] == [(today.isoformat(), True)]

    write_day_file(server.served_dir / f"Listen_AMI_{yesterday.isoformat()}.db", token="375001",
                   day=yesterday, calls=3, seed=4, start_id=5000)
    outcomes = sync_live(engine, fleet, enterprise, now=datetime.now(UTC))
    assert [(o.file_date, o.ok) for o in outcomes] == [(yesterday.isoformat(), True), (today.isoformat(), True)]
    assert outcomes[0].rows_read > 0
