"""The Listen_AMI reader: chunks above a cursor, and a typed error for every unreadable file."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from asterisk_pipeline.pbx.files import (
    DayFile,
    SourceError,
    SourceErrorKind,
    date_from_name,
    file_name,
)
from tests.support.factories import append, create_day_file, row


def _all(day_file: DayFile, table: str = "APIlogs", after: int = 0, chunk: int = 100):
    return [r for batch in day_file.read_rows(table, after, chunk) for r in batch]


def test_names_carry_the_pbx_date():
    assert file_name(date(2025, 7, 3)) == "Listen_AMI_2025-07-03.db"
    assert date_from_name("Listen_AMI_2025-07-03.db") == date(2025, 7, 3)
    for bad in ("Listen_AMI_2025-13-03.db", "Listen_AMI_2025-07-03.db-journal", "x.db", "Listen_AMI_.db"):
        assert date_from_name(bad) is None


def test_reads_in_chunks_above_the_cursor(tmp_path: Path):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [row("dial", f"1.{i}") for i in range(250)])
    day_file = DayFile(path)
    chunks = list(day_file.read_rows("APIlogs", 0, 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    rows = _all(day_file, after=240)
    assert [r.id for r in rows] == list(range(241, 251))
    assert _all(day_file, after=250) == []
    assert _all(day_file, "AlternativeAPIlogs") == []


def test_only_the_source_tables_can_be_read(tmp_path: Path):
    path = create_day_file(tmp_path / "f.db")
    with pytest.raises(ValueError):
        list(DayFile(path).read_rows("sqlite_master; DROP TABLE x"))


def test_missing_file(tmp_path: Path):
    with pytest.raises(SourceError) as err:
        _all(DayFile(tmp_path / "Listen_AMI_2025-07-03.db"))
    assert err.value.kind is SourceErrorKind.MISSING


@pytest.mark.parametrize("content", [b"", None])
def test_file_without_tables(tmp_path: Path, content: bytes | None):
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    if content is None:
        create_day_file(path, tables=("ScriptEvents",))
    else:
        path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        _all(DayFile(path))
    assert err.value.kind is SourceErrorKind.NO_TABLE
    assert "APIlogs" in str(err.value)


def test_corrupt_file(tmp_path: Path):
    path = tmp_path / "Listen_AMI_2025-07-03.db"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with pytest.raises(SourceError) as err:
        _all(DayFile(path))
    assert err.value.kind is SourceErrorKind.CORRUPT


def test_file_corrupted_after_its_first_pages(tmp_path: Path):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [row("dial", f"1.{i}", note="x" * 2000) for i in range(300)])
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 20, len(data) - page, page):  # wreck most pages past the schema
        data[offset : offset + 64] = b"\xde\xad\xbe\xef" * 16
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError) as err:
        _all(DayFile(path))
    assert err.value.kind in (SourceErrorKind.CORRUPT, SourceErrorKind.UNREADABLE)


def test_locked_file_waits_then_reports(tmp_path: Path):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [row("dial", "1.1")])
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(SourceError) as err:
            _all(DayFile(path, busy_timeout_s=0.2))
        writer.execute("ROLLBACK")
    assert err.value.kind is SourceErrorKind.LOCKED
    assert len(_all(DayFile(path))) == 1


def test_invalid_utf8_values_come_back_as_bytes(tmp_path: Path):
    path = create_day_file(tmp_path / "Listen_AMI_2025-07-03.db")
    append(path, [row("dial", "1.1")])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO APIlogs (DateTime, event, Uniqueid, request, status) VALUES (?, ?, ?, CAST(? AS TEXT), ?)",
            ("2025-07-03 10:00:00", "dial", "1.2", b"{\"a\": \"\xff\"}", "ok"),
        )
        conn.commit()
    rows = _all(DayFile(path))
    assert len(rows) == 2
    assert isinstance(rows[1].request, bytes)
