"""Settings and registry rows for syncs over real sshd servers (tests/pbx, tests/sync)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.warehouse.db import write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise

NOON = datetime(2025, 7, 3, 12, 0, tzinfo=ZoneInfo("Europe/Minsk"))


def ssh_settings(tmp_path: Path, server, key, *, known: list | None = None, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    known_hosts = tmp_path / "known_hosts"
    lines = [s.known_hosts_line() for s in (known if known is not None else [server])]
    known_hosts.write_text("".join(f"{line}\n" for line in lines))
    values = {
        "home": tmp_path / "home", "ssh_user": "root", "ssh_key_file": key.private_key_path,
        "ssh_port": server.port, "remote_dir": str(server.served_dir), "known_hosts_file": known_hosts,
        "ssh_connect_timeout_s": 5.0, "ssh_retries": 2,
    }
    values.update(overrides)
    return Settings(**values)


def ssh_enterprise(engine: Engine, number: str, host: str) -> Enterprise:
    enterprise = Enterprise(number, f"E{number}", f"pbx{number}.lan", f"secret-{number}", host, "375001")
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, enterprise)
    return enterprise
