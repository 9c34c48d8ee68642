"""A private PostgreSQL cluster for tests that stop, restart or kill the server.

The shared server at 127.0.0.1:5432 must never be restarted (others run tests against it), so a
fault test starts its own: ``initdb`` into a fresh directory with the binaries of
``/usr/lib/postgresql/<major>/bin`` (``ASTERISK_TEST_PG_BIN`` overrides), trust auth, its own
port on 127.0.0.1, no Unix socket outside its directory. ``initdb`` refuses to run as root, so
as root every server command runs as the unprivileged user ``postgres``
(``ASTERISK_TEST_PG_OS_USER``) through ``runuser``.

    with private_postgres() as pg:          # or the ``private_pg`` pytest fixture
        url = pg.create_database("warehouse")
        pg.stop()                          # fault: the server is gone
        pg.start()                         # ... and back
        pg.restart(mode="immediate")       # or both at once
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.dagster_dev import free_port
from tests.support.pg import service_missing

OS_USER = os.environ.get("ASTERISK_TEST_PG_OS_USER", "postgres")


def pg_bin_dir() -> Path | None:
    """The newest installed server binaries (initdb, pg_ctl, postgres), if any."""
    override = os.environ.get("ASTERISK_TEST_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "pg_ctl").exists() else None
    root = Path("/usr/lib/postgresql")
    majors = sorted((p for p in root.glob("*/bin") if (p / "pg_ctl").exists()),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return majors[-1] if majors else None


class PrivatePostgres:
    """One cluster: its data directory, port and log; ``start``/``stop``/``restart`` for real."""

    def __init__(self, bin_dir: Path, *, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ap-private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, OS_USER)
        self.root.chmod(0o700)

    # --- plumbing -----------------------------------------------------------------------------

    def _cmd(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr or result.stdout}\n"
                               f"server log: {self.log}")
        return result

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    # --- lifecycle ----------------------------------------------------------------------------

    def init(self) -> None:
        self._cmd("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                "shared_buffers = 64MB\n"
            )

    def start(self) -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (sessions terminated, clean shutdown) or ``immediate`` (like a crash)."""
        self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "-t", "60",
                  "restart")

    def running(self) -> bool:
        return self._cmd("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- databases ----------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create ``name`` (no schema) and return its SQLAlchemy URL."""
        self._cmd("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def psql(self, database: str, sql: str) -> str:
        """Run one statement with psql (a separate process: works whatever the caller's pools do)."""
        out = self._cmd("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                        "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, timeout=30)
        return out.stdout.strip()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._cmd("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"private PostgreSQL on port {self.port} not ready after {timeout:.0f} s")


def available() -> str | None:
    """Why a private cluster cannot be had here, or None when it can."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no user {OS_USER!r} to run PostgreSQL as"
    return None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, destroyed afterwards (also on failure). Raises when unavailable."""
    reason = available()
    if reason:
        raise RuntimeError(f"private PostgreSQL unavailable: {reason}")
    bin_dir = pg_bin_dir()
    assert bin_dir is not None
    cluster = PrivatePostgres(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A private cluster for one test: skips on a laptop without the binaries, fails in CI."""
    reason = available()
    if reason:
        service_missing(f"a private PostgreSQL cluster ({reason})")
    with private_postgres() as cluster:
        yield cluster
