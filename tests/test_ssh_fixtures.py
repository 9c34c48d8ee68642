"""The SSH test servers behave like real PBX hosts: checked through paramiko, no mocks."""

from __future__ import annotations

import re
import socket
import sqlite3
from pathlib import Path

import paramiko
import pytest

pytest.register_assert_rewrite("tests.support.ssh_fixtures")  # imported below, before pytest_plugins acts

from tests.support.ssh_fixtures import ClientKey, PasswordUser, SshdFactory, SshServer

pytest_plugins = ["tests.support.ssh_fixtures"]  # harmless once conftest.py registers it too

TIMEOUTS = {"timeout": 5.0, "banner_timeout": 5.0, "auth_timeout": 5.0}


def pinned_client(server: SshServer, tmp_path: Path) -> paramiko.SSHClient:
    """A client that trusts only the host key the server has now (RejectPolicy otherwise)."""
    known_hosts = tmp_path / f"known_hosts-{server.host}-{server.port}"
    known_hosts.write_text(server.known_hosts_line() + "\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect_root(server: SshServer, key: ClientKey, tmp_path: Path) -> paramiko.SSHClient:
    client = pinned_client(server, tmp_path)
    client.connect(
        server.host,
        server.port,
        username="root",
        pkey=key.pkey(),
        look_for_keys=False,
        allow_agent=False,
        **TIMEOUTS,
    )
    return client


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str, str]:
    _, out, err = client.exec_command(command, timeout=10)
    status = out.channel.recv_exit_status()
    return status, out.read().decode(), err.read().decode()


def make_pbx_db(path: Path) -> int:
    """A small real SQLite file like a PBX's Listen_AMI log; returns its size in bytes."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT)")
        db.executemany("INSERT INTO events (payload) VALUES (?)", [("x" * 100,)] * 50)
    db.close()
    return path.stat().st_size


def test_key_auth_as_root_runs_sqlite3(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.2", 5059)
    with connect_root(server, ssh_client_key, tmp_path) as client:
        status, out, err = run(client, "sqlite3 -version")
    assert status == 0, err
    assert re.match(r"3\.\d+\.\d+ ", out), out


def test_password_auth_as_test_user(
    sshd_factory: SshdFactory, ssh_password_user: PasswordUser, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.3", 5059)
    with pinned_client(server, tmp_path) as client:
        client.connect(
            server.host,
            server.port,
            username=ssh_password_user.user,
            password=ssh_password_user.password,
            look_for_keys=False,
            allow_agent=False,
            **TIMEOUTS,
        )
        status, out, _ = run(client, "id -un")
    assert (status, out.strip()) == (0, ssh_password_user.user)
    assert ssh_password_user.password not in repr(ssh_password_user)


def test_password_auth_can_be_disabled(
    sshd_factory: SshdFactory, ssh_password_user: PasswordUser, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.4", 5059, password_auth=False)
    with pinned_client(server, tmp_path) as client, pytest.raises(paramiko.AuthenticationException):
        client.connect(
            server.host,
            server.port,
            username=ssh_password_user.user,
            password=ssh_password_user.password,
            look_for_keys=False,
            allow_agent=False,
            **TIMEOUTS,
        )


def test_sftp_lists_and_stats_served_files(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.2", 5059)
    size = make_pbx_db(server.served_dir / "Listen_AMI_2025-07-03.db")
    with connect_root(server, ssh_client_key, tmp_path) as client, client.open_sftp() as sftp:
        assert sftp.listdir(str(server.served_dir)) == ["Listen_AMI_2025-07-03.db"]
        assert sftp.stat(str(server.served_dir / "Listen_AMI_2025-07-03.db")).st_size == size
        local = tmp_path / "copy.db"
        sftp.get(str(server.served_dir / "Listen_AMI_2025-07-03.db"), str(local))
    with sqlite3.connect(local) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (50,)
    db.close()


def test_rotated_host_key_is_refused_by_pinned_client(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.2", 5059)
    old_line = server.known_hosts_line()
    with connect_root(server, ssh_client_key, tmp_path):
        pass  # the pinned key is accepted before the rotation
    new_key = server.rotate_host_key()
    assert server.known_hosts_line() != old_line
    assert new_key.startswith("ssh-ed25519 ")
    known_hosts = tmp_path / "known_hosts-old"
    known_hosts.write_text(old_line + "\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with client, pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            server.host,
            server.port,
            username="root",
            pkey=ssh_client_key.pkey(),
            look_for_keys=False,
            allow_agent=False,
            **TIMEOUTS,
        )


def test_frozen_server_accepts_tcp_but_sends_no_banner(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.2", 5059)
    server.freeze()
    try:
        sock = socket.create_connection((server.host, server.port), timeout=2)  # TCP works
        transport = paramiko.Transport(sock)
        transport.banner_timeout = 0.5
        try:
            with pytest.raises(paramiko.SSHException, match="banner"):
                transport.start_client(timeout=3)
        finally:
            transport.close()
    finally:
        server.thaw()
    with connect_root(server, ssh_client_key, tmp_path) as client:
        assert run(client, "echo back")[1] == "back\n"


def test_dropped_connections_break_open_sessions_not_new_ones(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.2", 5059)
    make_pbx_db(server.served_dir / "Listen_AMI_2025-07-03.db")
    with connect_root(server, ssh_client_key, tmp_path) as client:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(5)
        assert sftp.listdir(str(server.served_dir))
        assert server.drop_connections() >= 1
        with pytest.raises((OSError, EOFError, paramiko.SSHException)):
            sftp.listdir(str(server.served_dir))
        sftp.close()
    assert server.running
    with connect_root(server, ssh_client_key, tmp_path) as client, client.open_sftp() as sftp:
        assert sftp.listdir(str(server.served_dir)) == ["Listen_AMI_2025-07-03.db"]


def test_path_env_hides_sqlite3_but_keeps_sftp(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    server = sshd_factory("127.0.1.5", 5059, path_env="/nonexistent")
    make_pbx_db(server.served_dir / "Listen_AMI_2025-07-03.db")
    with connect_root(server, ssh_client_key, tmp_path) as client:
        status, out, _ = run(client, "sh -c 'command -v sqlite3'")
        assert status != 0 and out == ""
        assert run(client, "command -v sqlite3")[0] != 0
        assert run(client, 'echo "$PATH"')[1] == "/nonexistent\n"
        assert run(client, "/bin/echo 'a  b' \"c\"; exit 7") == (7, "a  b c\n", "")
        with client.open_sftp() as sftp:
            assert sftp.listdir(str(server.served_dir)) == ["Listen_AMI_2025-07-03.db"]


def test_taken_port_moves_server_to_a_free_one(
    sshd_factory: SshdFactory, ssh_client_key: ClientKey, tmp_path: Path
) -> None:
    first = sshd_factory("127.0.1.6", 5059)
    second = sshd_factory("127.0.1.6", 5059)
    # 5059 went to `first` (or, when another test session runs, to that session's server).
    assert second.port not in (5059, first.port)
    for server in (first, second):
        with connect_root(server, ssh_client_key, tmp_path) as client:
            assert run(client, "true")[0] == 0


def test_only_loopback_addresses(sshd_factory: SshdFactory) -> None:
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        sshd_factory("10.0.0.5", 5059)


def test_server_as_context_manager_leaves_nothing_behind(ssh_client_key: ClientKey) -> None:
    """An SshServer used directly (context manager) leaves no process or files behind."""
    with SshServer("127.0.1.7", 0, authorized_keys=[ssh_client_key.public_key]) as s:
        pid, base = s.pid, s.base_dir
        assert pid is not None and base.is_dir()
    assert not s.running and not base.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
