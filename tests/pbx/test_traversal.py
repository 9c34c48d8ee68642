"""Platform ``enterprises`` rows are input (SPEC §3, §6): an unsafe number never reaches a path,
a cache path, a remote command or a Dagster partition key; the row is skipped and reported
while every valid enterprise syncs. Every derived path stays inside its root."""
from __future__ import annotations

import logging
import os
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context
from sqlalchemy import Engine, select, text

from asterisk_pipeline.api import queries
from asterisk_pipeline.api.syncs import history_partition_keys
from asterisk_pipeline.defs import quality
from asterisk_pipeline.defs.checks import enterprise_numbers_valid
from asterisk_pipeline.defs.resources import WarehouseResource
from asterisk_pipeline.defs.sensors import enterprise_partitions_sensor
from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.fleet import day_file_path, token_for
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.names import ENTERPRISES_PARTITIONS
from asterisk_pipeline.pbx.fleet import Fleet, FleetConfigError
from asterisk_pipeline.pbx.local import LocalTransport
from asterisk_pipeline.pbx.ssh import SshOptions, SshTarget, SshTransport
from asterisk_pipeline.pbx.transport import CopyCache, RemoteFile, TransportError
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import live_cycle, sync_history_range
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import (
    EXCERPT_CHARS,
    active_enterprises,
    skipped_enterprises,
    upsert_enterprise,
)
from asterisk_pipeline.warehouse.schema import enterprises, sync_runs
from asterisk_pipeline.warehouse.stats import DayRange

MINSK = ZoneInfo("Europe/Minsk")
DAY = date(2025, 7, 3)
NOON = datetime(2025, 7, 3, 12, 0, tzinfo=MINSK)
FILE = f"Listen_AMI_{DAY.isoformat()}.db"
VALID = ("0100", "0327")


def _bad_numbers(tmp_path: Path, engine: Engine) -> list[str]:
    """The hostile numbers: up and out of the mirror, absolute, a partition-key separator, very
    long, and (SQLite only: PostgreSQL text holds no NUL) a NUL."""
    numbers = ["../outside", "../../../x", str(tmp_path / "outside"), "03|27", "9" * 5000, "../outside/."]
    if engine.dialect.name == "sqlite":
        numbers.append("03\x0027")
    return numbers


def _insert_raw(engine: Engine, numbers: list[str], host: str | None = None) -> None:
    """Rows as the platform may write them: no validation on the way in."""
    with write_transaction(engine) as conn:
        for number in numbers:
            conn.execute(enterprises.insert().values(
                number=number, name="bad", host=host, ip=host, secret="s", name2="375001",
                is_enabled=True, active=True))


def _add_valid(engine: Engine, host: str | None = None) -> None:
    with write_transaction(engine) as conn:
        for number in VALID:
            upsert_enterprise(conn, Enterprise(number, f"E{number}", host, "secret", host, token_for(number)))


def _files(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, fs in os.walk(root) for f in fs}


def _sync_runs_for(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(sync_runs.c.enterprise_id).distinct()).scalars())


def test_bad_rows_are_skipped_and_reported_with_the_local_transport(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    logs = tmp_path / "logs"
    for index, number in enumerate(VALID):
        write_day_file(day_file_path(logs, number, DAY), token=token_for(number), day=DAY,
                       calls=20, seed=3, start_id=index * 10_000)
    # what a traversal would reach: a day file outside the mirror, for every escaping number
    outside = tmp_path / "outside"
    write_day_file(outside / FILE, token="375001", day=DAY, calls=20, seed=4, start_id=90_000)
    bad = _bad_numbers(tmp_path, engine)
    _insert_raw(engine, bad)
    _add_valid(engine)
    settings = Settings(home=tmp_path / "home", transport="local", local_logs_dir=logs)
    before = _files(tmp_path)
    outside_stat = (outside / FILE).stat()

    with caplog.at_level(logging.WARNING, logger="asterisk_pipeline.registry"):
        report = live_cycle(engine, Fleet.load(settings), now=NOON)
        history = [o for e in VALID for o in sync_history_range(
            engine, Fleet.load(settings), Enterprise(e, "", None, None, None, token_for(e)), DayRange(DAY, DAY))]

    today = {o.enterprise: o for o in report.outcomes if o.file_date == DAY.isoformat()}
    assert set(today) == set(VALID) and all(o.ok and o.new_calls > 0 for o in today.values())
    assert all(o.ok for o in history)
    # nothing of the bad rows was synced, recorded, read or written
    assert _sync_runs_for(engine) == set(VALID)
    with engine.connect() as conn:
        imported = set(conn.execute(text("SELECT DISTINCT enterprise_id FROM call_events")).scalars())
    assert imported == set(VALID)
    created = _files(tmp_path) - before
    assert all(p.is_relative_to(tmp_path / "home") for p in created), created
    assert (outside / FILE).stat().st_mtime_ns == outside_stat.st_mtime_ns
    assert not any(p.name.endswith("-shm") for p in _files(outside))  # never even opened
    # reported: the log names each row escaped and truncated; the quality layer lists them
    warned = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warned) >= len(bad)
    assert all("\x00" not in m and "\n" not in m and len(m) < 400 for m in warned)
    with engine.connect() as conn:
        skipped = skipped_enterprises(conn)
        assert [e.number for e in active_enterprises(conn)] == list(VALID)
        assert quality.skipped_enterprises(conn) == skipped
    assert len(skipped) == len(bad)
    assert sorted(s.number[:12] for s in skipped) == sorted(repr(n)[:12] for n in bad)
    assert all(len(s.number) < EXCERPT_CHARS + 12 and "\x00" not in s.number and s.reason for s in skipped)
    long_reason = next(s.reason for s in skipped if s.number.startswith("'9999"))
    assert "5000 characters" in long_reason


def test_fleet_refuses_an_unsafe_number_and_paths_outside_their_roots(tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    fleet = Fleet.load(Settings(home=tmp_path / "home", transport="local", local_logs_dir=logs))
    for number in ("../x", "/etc", "03|27", "a\x00b", "9" * 100, ".."):
        enterprise = Enterprise(number, "", None, None, None, None)
        with pytest.raises(FleetConfigError, match="unsafe"):
            fleet.pbx(enterprise)  # before any path (cache, mirror) is built from it
    # a mirror directory or a cache directory that is a link leading out of its root
    (tmp_path / "elsewhere").mkdir()
    (logs / "0100").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FleetConfigError, match="local mirror directory .* outside"):
        fleet.pbx(Enterprise("0100", "", None, None, None, None))
    fleet.settings.cache_dir.mkdir(parents=True, exist_ok=True)
    (fleet.settings.cache_dir / "0200").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FleetConfigError, match="cache directory .* outside"):
        fleet.pbx(Enterprise("0200", "", None, None, None, None))
    # a remote directory that is not a plain absolute path
    ssh = Fleet.load(Settings(home=tmp_path / "home", remote_dir="/var/log/../../etc"))
    with pytest.raises(FleetConfigError, match="remote_dir"):
        ssh.pbx(Enterprise("0300", "", "pbx.lan", None, None, None))


def test_a_link_out_of_the_mirror_is_refused_and_recorded(engine: Engine, tmp_path: Path):
    """A day file in the mirror that is a symlink to a file outside it: refused, kind ``config``
    (whoever can plant a link must not pick what the pipeline reads); a link inside is fine."""
    logs = tmp_path / "logs"
    outside = tmp_path / "outside" / FILE
    write_day_file(outside, token=token_for("0100"), day=DAY, calls=10, seed=1)
    day_file_path(logs, "0100", DAY).parent.mkdir(parents=True)
    day_file_path(logs, "0100", DAY).symlink_to(outside)
    inside = logs / "0327" / "store" / FILE
    write_day_file(inside, token=token_for("0327"), day=DAY, calls=10, seed=2, start_id=10_000)
    day_file_path(logs, "0327", DAY).symlink_to(inside)
    _add_valid(engine)
    settings = Settings(home=tmp_path / "home", transport="local", local_logs_dir=logs)
    report = live_cycle(engine, Fleet.load(settings), now=NOON)
    today = {o.enterprise: o for o in report.outcomes if o.file_date == DAY.isoformat()}
    assert today["0100"].error_kind == "config" and "outside" in (today["0100"].error or "")
    assert today["0327"].ok and today["0327"].new_calls > 0
    with pytest.raises(TransportError) as refused:
        LocalTransport(logs / "0100").local_copy(DAY, tmp_path / "cache")
    assert refused.value.kind.value == "config"
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM call_events WHERE enterprise_id = '0100'")).scalar_one() == 0


def test_the_copy_cache_stays_inside_its_root(tmp_path: Path):
    root = tmp_path / "cache" / "0327"
    cache = CopyCache(root)
    (tmp_path / "target").write_text("not a day file")
    (root / FILE).symlink_to(tmp_path / "target")
    with pytest.raises(TransportError) as refused:
        cache.fresh(RemoteFile(FILE, DAY, 1, 1))
    assert refused.value.kind.value == "config"
    assert (tmp_path / "target").read_text() == "not a day file"


def test_remote_paths_are_plain_names_inside_the_remote_directory(tmp_path: Path):
    options = SshOptions(known_hosts=tmp_path / "known_hosts")
    for directory in ("relative/dir", "/var/log/../../etc", "/var/log/a b"):
        transport = SshTransport(SshTarget("127.0.0.1", remote_dir=PurePosixPath(directory)), options)
        with pytest.raises(TransportError) as refused:
            transport.stat_day_file(DAY)  # refused before any connection is tried
        assert refused.value.kind.value == "config"


def test_bad_rows_over_ssh_write_nothing_outside_the_cache(
    engine: Engine, sshd_factory, ssh_client_key, tmp_path: Path
):
    server = sshd_factory(address="127.0.1.41", path_env="/nonexistent")  # SFTP copies to the cache
    for index, number in enumerate(VALID):
        write_day_file(server.served_dir / number / FILE, token=token_for(number), day=DAY,
                       calls=20, seed=3, start_id=index * 10_000)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line() + "\n")
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text("".join(
        f'[enterprises."{n}"]\nremote_dir = "{server.served_dir / n}"\n' for n in VALID))
    settings = Settings(
        home=tmp_path / "home", ssh_user="root", ssh_key_file=ssh_client_key.private_key_path,
        ssh_port=server.port, remote_dir=str(server.served_dir), known_hosts_file=known_hosts,
        ssh_connect_timeout_s=5.0, ssh_retries=1, fleet_file=fleet_file,
    )
    bad = _bad_numbers(tmp_path, engine)
    _insert_raw(engine, bad, host=server.host)
    _add_valid(engine, host=server.host)
    watched = tmp_path.parent
    before = _files(watched)
    report = live_cycle(engine, Fleet.load(settings), now=NOON)
    today = {o.enterprise: o for o in report.outcomes if o.file_date == DAY.isoformat()}
    assert set(today) == set(VALID) and all(o.ok and o.new_calls > 0 for o in today.values())
    assert all(o.bytes_transferred > 0 for o in today.values())  # the copies really happened
    created = _files(watched) - before
    caches = [settings.cache_dir / n for n in VALID]
    assert all(any(p.is_relative_to(c) for c in caches) or p.is_relative_to(settings.home)
               for p in created), sorted(created)
    assert {p.parent for p in created if p.name == FILE} == set(caches)
    assert _sync_runs_for(engine) == set(VALID)


def test_a_separator_in_a_number_breaks_no_partition_key(engine: Engine, db_url: str):
    """The sensor and the sidecar's /sync/all both name partitions only from safe numbers."""
    _insert_raw(engine, ["03|27", "../x", "a,b"])
    _add_valid(engine)
    instance = DagsterInstance.ephemeral()
    warehouse = WarehouseResource(database_url=db_url)
    result = enterprise_partitions_sensor(build_sensor_context(instance=instance, resources={"warehouse": warehouse}))
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    assert sorted(instance.get_dynamic_partitions(ENTERPRISES_PARTITIONS)) == list(VALID)
    with engine.connect() as conn:
        numbers = [e.number for e in queries.active_enterprises(conn)]
    assert numbers == list(VALID)
    keys = history_partition_keys(numbers, DAY, DAY)
    assert all(key.count("|") == 1 for key in keys) and len(keys) == len(VALID)
    check = enterprise_numbers_valid(warehouse=warehouse)
    assert not check.passed
    assert check.metadata["skipped_rows"].value == 3
