"""A real OpenSSH PBX for a fault scenario (no pytest fixtures: scenarios take only a workdir).

``sshd_pbx(workdir)`` starts ``tests.support.ssh_fixtures.SshServer`` on a free loopback port with its
own client key, and yields the server plus the Settings that reach it (host keys pinned).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asterisk_pipeline.settings import Settings
from tests.support.ssh_fixtures import SSHD, SshServer, keygen


def sshd_missing() -> str | None:
    """Why a real sshd cannot run here, or None."""
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None:
        return f"OpenSSH ({SSHD}, ssh-keygen; run scripts/ensure-sshd.sh as root)"
    if os.geteuid() != 0:
        return "OpenSSH test servers (need root)"
    return None


@contextmanager
def sshd_pbx(workdir: Path, address: str, *, path_env: str | None = None,
             **settings: Any) -> Iterator[tuple[SshServer, Settings]]:
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir / "id_ed25519"
    public = keygen(key, "fault-scenario")
    server = SshServer(address, 0, authorized_keys=[public], path_env=path_env,
                       base_dir=workdir / "sshd")
    server.start()
    try:
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n")
        values: dict[str, Any] = {
            "home": workdir / "home", "ssh_user": "root", "ssh_key_file": key,
            "ssh_port": server.port, "remote_dir": str(server.served_dir),
            "known_hosts_file": known_hosts, "ssh_connect_timeout_s": 5.0, "ssh_retries": 1,
        }
        values.update(settings)
        yield server, Settings(**values)
    finally:
        server.close()
