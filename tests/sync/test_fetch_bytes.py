"""A live fetch over SSH holds a bounded number of bytes however big the rows (SPEC §4.1),
and still reads every row (the PBX's own sqlite3, a real sshd on 127.0.1.x)."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from asterisk_pipeline.model import BEFORE_FIRST_ROW, LIVE_TABLE, Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.pbx.ssh import SshTransport
from asterisk_pipeline.sync import sync_live
from tests.support.factories import body, create_day_file, hangup
from tests.support.pbx import NOON, ssh_enterprise, ssh_settings
from tests.support.snapshot import count

DAY = date(2025, 7, 3)
FILE = f"Listen_AMI_{DAY.isoformat()}.db"


def _big_rows(path: Path, calls: int, pad: int) -> None:
    create_day_file(path)
    with closing(sqlite3.connect(path)) as conn:
        for i in range(calls):
            uid = f"1751526000.{i + 1}"
            _, event, _, _, status = hangup(uid)
            conn.execute(
                f"INSERT INTO {LIVE_TABLE} (DateTime, event, Uniqueid, request, status) VALUES (?, ?, ?, ?, ?)",
                ("2025-07-03 10:01:40", event, uid,
                 body(UniqueId=uid, CallType=0, CallStatus="2", Extensions=["201"], Phone="+375291112233",
                      StartTime="2025-07-03 10:00:00", EndTime="2025-07-03 10:01:40", Pad="x" * pad),
                 status),
            )
        conn.commit()


def test_a_capped_exec_keeps_whole_rows_and_at_least_one(sshd_factory, ssh_client_key, tmp_path: Path) -> None:
    server = sshd_factory(address="127.0.1.41")
    _big_rows(server.served_dir / FILE, calls=12, pad=200_000)
    settings = ssh_settings(tmp_path, server, ssh_client_key)
    enterprise = Enterprise("0327", host=server.host)
    transport = Fleet.load(settings).pbx(enterprise).transport()
    assert isinstance(transport, SshTransport)
    try:
        one = transport.fetch_rows(DAY, LIVE_TABLE, BEFORE_FIRST_ROW, 1000, max_bytes=64 * 1024)
        assert [r.id for r in one] == [1]  # a single row bigger than the bound still comes
        some = transport.fetch_rows(DAY, LIVE_TABLE, BEFORE_FIRST_ROW, 1000, max_bytes=500_000)
        # whole rows only, about the bound's worth (the rest comes in the next chunk)
        assert [r.id for r in some] in ([1, 2], [1, 2, 3])
        assert all(len(str(r.request)) > 200_000 for r in some)
        rest = transport.fetch_rows(DAY, LIVE_TABLE, 3, 1000, max_bytes=10**9)
        assert [r.id for r in rest] == [1, 3, *range(4, 13)]  # the anchors, then every row left
    finally:
        transport.close()


def test_live_sync_of_big_rows_reads_all_in_bounded_chunks(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path,
) -> None:
    server = sshd_factory(address="127.0.1.42")
    _big_rows(server.served_dir / FILE, calls=15, pad=150_000)
    settings = ssh_settings(tmp_path, server, ssh_client_key, read_chunk_bytes=400_000, live_import_all=True)
    enterprise = ssh_enterprise(engine, "0327", server.host)
    outcomes = sync_live(engine, Fleet.load(settings), enterprise, now=NOON)
    today = next(o for o in outcomes if o.file_date == DAY.isoformat())
    assert today.ok and today.rows_read == 15 and today.new_calls == 15, today
    assert count(engine, "calls") == 15
