"""The one Listen_AMI row builder: the listener's key order and encoding, raw values kept as they
are, and rows written with the PBX's DDL (explicit ids for hand-made damaged files)."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from asterisk_pipeline.devtools import rows


def test_bodies_in_the_listeners_key_order() -> None:
    body = rows.event_body("1", "dial", "7.1", Phone="+375", Extensions=["201"])
    assert list(body) == ["Token", "UniqueId", "Phone", "Extensions"]
    assert list(rows.event_body("1", "bridge_create", "", BridgeUniqueid="b")) == ["Token", "BridgeUniqueid"]
    assert rows.body("1", "7.1", UniqueId="other")["UniqueId"] == "other"  # the fields win
    at = rows.timestamp(datetime(2025, 7, 3, 9, 5, 1))
    assert rows.row(at, "dial", "7.1", {"Token": "1", "Name": "Иван"}, "ok") == (
        "2025-07-03 09:05:01", "dial", "7.1", '{"Token": "1", "Name": "Иван"}', "ok")
    assert rows.row(None, None, None, "not json", None)[3] == "not json"
    assert rows.stored(rows.row("t", "e", "u", None, "s")) == ("t", "e", "u", None, "s", "", 0.0)


def test_append_rows_with_the_pbx_ddl_and_explicit_ids(tmp_path: Path) -> None:
    path = rows.create_tables(tmp_path / "0327" / "Listen_AMI_2025-07-03.db", ("APIlogs",))
    got = rows.append_rows(path, "AlternativeAPIlogs",
                           [rows.row("t", "dial", "7.1", {"Token": "1"}, "ok")] * 2, ids=[-5, 2**62])
    assert got == [-5, 2**62]
    with closing(sqlite3.connect(path)) as con:
        ddl = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"))
        stored = con.execute("SELECT * FROM AlternativeAPIlogs ORDER BY id").fetchall()
    assert ddl == {name: rows.API_DDL.format(name=name) for name in ("APIlogs", "AlternativeAPIlogs")}
    assert stored[0] == (-5, "t", "dial", "7.1", '{"Token": "1"}', "ok", "", 0.0)
