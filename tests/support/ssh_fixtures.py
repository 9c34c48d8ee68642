"""Real OpenSSH servers for the suite: one ``sshd`` process per simulated PBX on 127.0.0.0/8.

The project pulls SQLite log files from PBX servers over SSH, so its tests talk to genuine
``/usr/sbin/sshd`` processes (no mocks).  Each :class:`SshServer` runs ``sshd -D -e -f CONFIG``
as a child of the test process, with its own ed25519 host key, config, pid file, log and
``authorized_keys`` in a private temp directory, listening on a loopback address such as
``127.0.1.2:5059`` and serving a directory (``served_dir``) the test fills with PBX files.

Registered as a pytest plugin (``pytest_plugins = ["tests.support.ssh_fixtures"]`` in conftest.py).
Fixtures:

* ``ssh_available`` (session): skips when sshd is missing or we are not root; fails instead
  when ``ASTERISK_TEST_REQUIRE_SERVICES=1`` (CI).  ``scripts/ensure-sshd.sh`` installs sshd.
* ``ssh_client_key`` (session): a generated ed25519 client key pair; its public line is put in
  every server's ``authorized_keys``, so key login as ``root`` (and as the password user) works.
* ``ssh_password_user`` (session): a local system user with a fresh random password.
* ``sshd_factory`` (function): ``sshd_factory(address, port, **options) -> SshServer``, started,
  stopped and deleted at teardown.  When the port is taken it picks another free one, so
  always read ``server.port``.

Simulating a PBX without the ``sqlite3`` CLI (``path_env``): a ``ForceCommand`` wrapper.
Plain ``SetEnv PATH=...`` was tried first and does set sshd's PATH, but sshd runs every command
through the user's login shell, and Debian's bash sources ~/.bashrc for commands run by sshd:
root's rc files here prepend their own directories (and print errors when PATH lacks bash), so
the PATH a command sees is not the one asked for.  Instead the server gets
``SetEnv ASTERISK_TEST_PATH=<path_env>`` plus ``ForceCommand <wrapper>``; the static wrapper
sets ``PATH`` exactly and runs ``/bin/sh -c "$SSH_ORIGINAL_COMMAND"``, and serves SFTP requests
with OpenSSH's external ``sftp-server``.  So on such a server ``command -v sqlite3`` fails,
commands run under POSIX sh, and SFTP works.  The test file checks this through paramiko.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, Self

import pytest

if TYPE_CHECKING:
    import paramiko

SSHD = Path(os.environ.get("ASTERISK_TEST_SSHD", "/usr/sbin/sshd"))
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege-separation dir
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
START_TIMEOUT = 10.0
PASSWORD_USER = "astpbx"
_LOCK_DIR = Path("/run/lock")


def _require_services() -> bool:
    return os.environ.get("ASTERISK_TEST_REQUIRE_SERVICES") == "1"


def _service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail loudly in CI (same rule as conftest.py)."""
    if _require_services():
        pytest.fail(f"{what} is required (ASTERISK_TEST_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} unavailable")


def _check_loopback(address: str) -> str:
    """Tests only ever listen on (and so only ever connect to) this machine's loopback range."""
    if ipaddress.ip_address(address) not in LOOPBACK:
        raise ValueError(f"SSH test servers must listen on 127.0.0.0/8, not {address!r}")
    return address


def keygen(path: Path, comment: str) -> str:
    """Generate an unencrypted ed25519 key at ``path``; return its ``ssh-ed25519 AAAA...`` line."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)  # ssh-keygen would prompt before overwriting
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    kind, blob = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{kind} {blob}"


@lru_cache(maxsize=1)
def _openssh_version() -> tuple[int, int]:
    """OpenSSH's (major, minor), to emit only the config keywords this sshd understands."""
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True, check=False)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stderr + out.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# ForceCommand of a server with ``path_env``.  sshd runs it through the user's login shell
# (``bash -c WRAPPER`` for root), whose rc files may rewrite PATH (Debian's bash sources
# ~/.bashrc for commands run by sshd); the wrapper then sets PATH exactly and runs the client's
# command with /bin/sh -c (POSIX sh reads no rc file, so PATH stays as set; running the user's
# bash again would source ~/.bashrc again).  SFTP requests arrive here too (as "internal-sftp"),
# served by the external sftp-server.  Static text: the values come in through sshd's SetEnv,
# never spliced into the script.
_PATH_WRAPPER = """#!/bin/sh
PATH=$ASTERISK_TEST_PATH
export PATH
sftp_server=$ASTERISK_TEST_SFTP_SERVER
unset ASTERISK_TEST_PATH ASTERISK_TEST_SFTP_SERVER
case "${SSH_ORIGINAL_COMMAND-}" in
    internal-sftp) exec "$sftp_server" ;;
    "") exec /bin/sh ;;
    *) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
"""


@lru_cache(maxsize=1)
def _sftp_server() -> Path:
    """OpenSSH's external sftp-server binary (Debian: /usr/lib/openssh/sftp-server)."""
    prefix = SSHD.resolve().parent.parent
    for candidate in (
        prefix / "lib/openssh/sftp-server",
        prefix / "libexec/openssh/sftp-server",
        prefix / "libexec/sftp-server",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SshServerError(f"no sftp-server next to {SSHD} (needed for path_env servers)")


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids of every live process, read from /proc (no ps/pgrep shell-out)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # Field 2 (comm) may hold spaces and parentheses: parse after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue  # a zombie holds no sockets; it is as good as gone
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    children = _children_map()
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _die_with_parent() -> list[str]:
    """Command prefix that SIGKILLs sshd when pytest dies, so a killed run leaves no orphan.

    util-linux ``setpriv --pdeathsig`` sets PR_SET_PDEATHSIG and execs sshd (same pid; the
    setting survives the exec as sshd is not setuid).  No ``preexec_fn``: paramiko's threads
    make forking with Python code in the child unsafe.  The signal follows the *thread* that
    started sshd: start servers from the test's thread (fixtures do), not a short-lived one.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _listens(pid: int, address: str, port: int) -> bool:
    """Whether process ``pid`` itself holds the listening TCP socket on ``address:port``."""
    # /proc/net/tcp prints the IPv4 address as the native-endian integer of its network bytes.
    local = f"{struct.unpack('=I', socket.inet_aton(address))[0]:08X}:{port:04X}"
    inodes = set()
    try:
        with open("/proc/net/tcp") as table:
            for line in table.readlines()[1:]:
                cols = line.split()
                if cols[1] == local and cols[3] == "0A":  # 0A = LISTEN
                    inodes.add(f"socket:[{cols[9]}]")
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


def _port_free(address: str, port: int) -> bool:
    """Whether sshd could bind here now (it sets SO_REUSEADDR, so TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class SshServerError(RuntimeError):
    """sshd did not come up; the message carries its stderr."""


class PortInUseError(SshServerError):
    """sshd could not bind its address (another process got the port first)."""


class SshServer:
    """One real OpenSSH ``sshd`` on a loopback address, serving ``served_dir``.

    Why a real sshd: the code under test must face real SSH behaviour (host-key checks,
    banners, dropped connections, SFTP), which a mock would only imitate.  Everything the
    server needs lives in ``base_dir``; the process is our child and dies in :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.1.2",
        port: int = 5059,
        *,
        authorized_keys: Sequence[str] = (),
        password_auth: bool = True,
        path_env: str | None = None,
        served_dir: Path | None = None,
        base_dir: Path | None = None,
        extra_config: Sequence[str] = (),
    ) -> None:
        """Prepare (not start) a server; ``authorized_keys`` are public key lines for all users.

        ``path_env`` is the exact PATH of every exec/shell session (ForceCommand wrapper, see
        the module docstring), e.g. ``/nonexistent`` to simulate a PBX without the sqlite3
        CLI; SFTP is unaffected.  ``extra_config`` lines are appended to sshd_config verbatim.
        """
        if path_env is not None and (
            not path_env or any(c.isspace() or c in "\"'\\" for c in path_env)
        ):
            raise ValueError(f"path_env must be non-empty, no spaces/quotes: {path_env!r}")
        self.host: str = _check_loopback(host)
        self.port: int = port or _free_port(host)  # 0: any free port, fixed from here on
        self.password_auth = password_auth
        self.path_env = path_env
        self.extra_config = list(extra_config)
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix=f"sshd-{host}-{self.port}-"))
            self._owns_base_dir = True
        else:
            base_dir.mkdir(parents=True, exist_ok=True)
            self._owns_base_dir = False
        # Other users (the password user) must reach authorized_keys and served_dir: sshd reads
        # authorized_keys as the target user, and SFTP runs as that user.
        base_dir.chmod(0o755)
        self.base_dir: Path = base_dir
        self.served_dir: Path = served_dir if served_dir is not None else base_dir / "served"
        self.served_dir.mkdir(parents=True, exist_ok=True)
        self.served_dir.chmod(0o755)
        self.host_key_path: Path = base_dir / "ssh_host_ed25519_key"
        self.config_path: Path = base_dir / "sshd_config"
        self.pid_path: Path = base_dir / "sshd.pid"
        self.log_path: Path = base_dir / "sshd.log"
        self.authorized_keys_path: Path = base_dir / "authorized_keys"
        self.wrapper_path: Path = base_dir / "path-env-wrapper.sh"
        self.authorized_keys_path.write_text("".join(f"{k.strip()}\n" for k in authorized_keys))
        self.authorized_keys_path.chmod(0o644)
        self.host_public_key: str = keygen(self.host_key_path, f"sshd-{host}-{self.port}")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._frozen = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"SshServer({self.host}:{self.port}, {state}, served_dir={self.served_dir})"

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration -------------------------------------------------------------------

    def add_authorized_key(self, public_key_line: str) -> None:
        """Allow one more client key (takes effect for the next login, no restart needed)."""
        with self.authorized_keys_path.open("a") as fh:
            fh.write(public_key_line.strip() + "\n")

    def known_hosts_line(self) -> str:
        """``[host]:port ssh-ed25519 AAAA...``: what a client pins to trust this server."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.host_public_key}"

    def _write_config(self) -> None:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            "AddressFamily inet",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.pid_path}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "StrictModes no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            f"PasswordAuthentication {'yes' if self.password_auth else 'no'}",
            "PermitEmptyPasswords no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "Subsystem sftp internal-sftp",
            "MaxStartups 200",
            "MaxSessions 50",
            "MaxAuthTries 20",
            "LogLevel ERROR",
        ]
        if _openssh_version() >= (9, 8):
            # Newer sshd penalises sources that fail auth or drop connections; every test
            # client comes from 127.0.0.1 and some fail on purpose.
            lines.append("PerSourcePenalties no")
        if self.path_env is not None:
            self.wrapper_path.write_text(_PATH_WRAPPER)
            self.wrapper_path.chmod(0o755)
            lines += [
                f"SetEnv ASTERISK_TEST_PATH={self.path_env} ASTERISK_TEST_SFTP_SERVER={_sftp_server()}",
                f"ForceCommand {self.wrapper_path}",
            ]
        lines.extend(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the listening sshd (``-D``: the child we started is the listener)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _stderr(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start sshd and return once it has accepted a connection and sent its SSH banner.

        Raises :class:`PortInUseError` when the address is taken and :class:`SshServerError`
        (with sshd's stderr) when sshd exits or stays silent for ``timeout`` seconds.
        """
        if self.running:
            return
        if os.geteuid() == 0:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self._write_config()
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [*_die_with_parent(), str(SSHD), "-D", "-e", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, not to sshd
        )
        self._frozen = False
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                err = self._stderr()
                self._close_log()
                cls = PortInUseError if "Address already in use" in err else SshServerError
                raise cls(f"sshd on {self.host}:{self.port} exited with {code}: {err}")
            # Only a banner from *our* sshd counts: while a server that lost the race for the
            # port is still exiting, another process's sshd may be answering on it.
            if _listens(self._proc.pid, self.host, self.port) and self._banner_arrives(
                min(1.0, max(0.05, deadline - time.monotonic()))
            ):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise SshServerError(
                    f"sshd on {self.host}:{self.port} sent no banner within {timeout}s: "
                    f"{self._stderr()}"
                )
            time.sleep(0.02)

    def _banner_arrives(self, timeout: float) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop sshd and every session it spawned; safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._kill_descendants(proc.pid)
            proc.send_signal(signal.SIGCONT)  # a frozen sshd would never act on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._proc = None
        self._frozen = False
        self._close_log()
        self.pid_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop, and delete ``base_dir`` when this server created it."""
        self.stop()
        if self._owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def rotate_host_key(self) -> str:
        """Give the server a new host key (restarting it if it runs); return the new key line.

        For "a changed host key is refused" tests: a client that pinned
        :meth:`known_hosts_line` before the rotation must reject the server afterwards.
        """
        was_running = self.running
        self.stop()
        self.host_public_key = keygen(self.host_key_path, f"sshd-{self.host}-{self.port}")
        if was_running:
            self.start()
        return self.host_public_key

    # -- failure injection ---------------------------------------------------------------

    def _require_running(self) -> int:
        pid = self.pid
        if pid is None:
            raise SshServerError(f"sshd on {self.host}:{self.port} is not running")
        return pid

    def freeze(self) -> None:
        """SIGSTOP the listener: TCP connects still succeed (kernel backlog), no banner comes.

        For "host that never answers" tests.  Sessions already open keep working.
        """
        os.kill(self._require_running(), signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT the listener: connections queued meanwhile are served, new ones work."""
        os.kill(self._require_running(), signal.SIGCONT)
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def drop_connections(self, timeout: float = 5.0) -> int:
        """Kill every per-connection sshd process (not the listener); return how many.

        For "connection dropped mid-transfer" tests: open sessions see EOF/reset, while new
        connections are accepted as usual.  Waits until the killed processes are gone.
        """
        return self._kill_descendants(self._require_running(), timeout)

    @staticmethod
    def _kill_descendants(pid: int, timeout: float = 5.0) -> int:
        victims = _descendants(pid)
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while victims and time.monotonic() < deadline:
            alive = set(_descendants(pid))
            if not alive.intersection(victims):
                break
            time.sleep(0.01)
        return len(victims)


# -- client credentials ------------------------------------------------------------------


@dataclass(frozen=True)
class ClientKey:
    """The suite's SSH client key pair (ed25519, no passphrase), trusted by every server."""

    private_key_path: Path
    public_key: str  # "ssh-ed25519 AAAA..."

    def pkey(self) -> paramiko.Ed25519Key:
        """The private key as a ``paramiko.Ed25519Key`` (``pkey=`` of SSHClient.connect)."""
        import paramiko  # lazily: the plugin loads even where paramiko is missing

        return paramiko.Ed25519Key.from_private_key_file(str(self.private_key_path))


@dataclass(frozen=True)
class PasswordUser:
    """A local login with a password that is random per test session and never printed."""

    user: str
    password: str = field(repr=False)
    home: Path = field(default=Path("/"))


def _lock_user_slot() -> tuple[str, IO[str]]:
    """Pick ``astpbx`` (or ``astpbx2``, ... when another test session holds it) and lock it.

    Each session sets a fresh password; two concurrent sessions sharing one account would
    overwrite each other's password, so each holds its own account for its whole duration.
    """
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10):
        name = PASSWORD_USER if n == 1 else f"{PASSWORD_USER}{n}"
        handle = (_LOCK_DIR / f"asterisk-pipeline-tests-{name}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        return name, handle
    raise RuntimeError("more than 9 concurrent test sessions hold an SSH password user")


def _shadow_password(name: str) -> str:
    """The account's password field in /etc/shadow ("" when it cannot be read)."""
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 1:
                return fields[1]
    except OSError:
        pass
    return ""


def ensure_user(name: str, public_key: str) -> Path:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--create-home", "--shell", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(name)
    # useradd leaves the account locked ("!" in /etc/shadow), and sshd (UsePAM no) refuses even a
    # key to a locked account: "*" keeps password logins impossible but the account usable.
    if _shadow_password(name).startswith("!"):
        subprocess.run(["usermod", "--password", "*", name], check=True, capture_output=True)
    home = Path(entry.pw_dir)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    existing = keys.read_text().splitlines() if keys.exists() else []
    if public_key not in existing:
        keys.write_text("".join(f"{k}\n" for k in [*existing, public_key]))
    for path in (home, ssh_dir, keys):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    keys.chmod(0o600)
    return home


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ssh_available() -> None:
    """Skip (fail in CI) unless a real sshd can run here: binary present and we are root."""
    missing = [p for p in (str(SSHD),) if not os.access(p, os.X_OK)]
    if shutil.which("ssh-keygen") is None:
        missing.append("ssh-keygen")
    if missing:
        _service_missing(f"OpenSSH ({', '.join(missing)}; run scripts/ensure-sshd.sh as root)")
    if os.geteuid() != 0:
        _service_missing("OpenSSH test servers (need root to log in as other users)")


@pytest.fixture(scope="session")
def ssh_client_key(ssh_available: None, tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    """A session-wide client key pair; every server from ``sshd_factory`` trusts it."""
    path = tmp_path_factory.mktemp("ssh-client") / "id_ed25519"
    public = keygen(path, "asterisk-pipeline-tests")
    return ClientKey(private_key_path=path, public_key=public)


@pytest.fixture(scope="session")
def ssh_password_user(ssh_available: None, ssh_client_key: ClientKey) -> Iterator[PasswordUser]:
    """A local user (``astpbx``, created if missing) whose password is new for each session.

    The password goes to ``chpasswd`` on stdin (never argv, never a file); the client key is
    also in the user's ``~/.ssh/authorized_keys``.
    """
    name, lock = _lock_user_slot()
    try:
        home = ensure_user(name, ssh_client_key.public_key)
        password = secrets.token_urlsafe(24)
        subprocess.run(
            ["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True
        )
        yield PasswordUser(user=name, password=password, home=home)
    finally:
        lock.close()


class SshdFactory(Protocol):
    """Type of the ``sshd_factory`` fixture (see there)."""

    def __call__(
        self,
        address: str = "127.0.1.2",
        port: int = 5059,
        *,
        start: bool = True,
        password_auth: bool = True,
        path_env: str | None = None,
        served_dir: Path | None = None,
        authorized_keys: Sequence[str] = (),
        extra_config: Sequence[str] = (),
    ) -> SshServer: ...


@pytest.fixture
def sshd_factory(ssh_available: None, ssh_client_key: ClientKey) -> Iterator[SshdFactory]:
    """``sshd_factory(address="127.0.1.2", port=5059, **options) -> SshServer``, started.

    Options are :class:`SshServer`'s keywords (``password_auth``, ``path_env``, ``served_dir``,
    ``authorized_keys``, ``extra_config``) plus ``start=False`` to get it unstarted (its port
    is then only checked free, not reserved).  The client key is always authorized.  When the
    port is taken (another test, another test session) another free port on the same address
    is used: read ``server.port``.  Every server is stopped and its files removed at teardown.
    """
    servers: list[SshServer] = []

    def make(
        address: str = "127.0.1.2",
        port: int = 5059,
        *,
        start: bool = True,
        password_auth: bool = True,
        path_env: str | None = None,
        served_dir: Path | None = None,
        authorized_keys: Sequence[str] = (),
        extra_config: Sequence[str] = (),
    ) -> SshServer:
        _check_loopback(address)
        keys = [ssh_client_key.public_key, *authorized_keys]
        for attempt in range(5):
            if attempt or not _port_free(address, port):
                port = _free_port(address)
            server = SshServer(
                address,
                port,
                authorized_keys=keys,
                password_auth=password_auth,
                path_env=path_env,
                served_dir=served_dir,
                extra_config=extra_config,
            )
            servers.append(server)
            if not start:
                return server
            try:
                server.start()
            except PortInUseError:
                server.close()  # lost a race for the port: try a fresh one
                continue
            return server
        raise SshServerError(f"no free port for sshd on {address} after 5 attempts")

    try:
        yield make
    finally:
        for server in servers:
            server.close()
