"""Reaching a PBX over SSH with paramiko.

- Host keys are verified against a known-hosts file; an unknown key is refused unless the
  operator enabled trust-on-first-use, which then pins it in that file. A changed key is
  always refused.
- Connect, banner, auth and per-operation timeouts; keepalives; transient failures
  (unreachable, refused, timeout, dropped connection) are retried with exponential backoff,
  authentication and host-key failures never are.
- One connection per transport object (one sync of one enterprise), reused for every call.
- Live rows come from the PBX's own ``sqlite3`` through an exec channel (only rows above the
  cursor cross the network); without ``sqlite3`` the caller falls back to an SFTP copy.
"""
from __future__ import annotations

import errno
import logging
import secrets
import shlex
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar

import paramiko

from ..model import ROW_ID_MIN, SourceRow
from .files import DEFAULT_CHUNK_BYTES, file_name, is_wal_mode, wal_path
from .remote_query import (
    EXIT_NO_FILE,
    EXIT_NO_SQLITE,
    ChunkQuery,
    NonIntegerIds,
    RemoteQueryError,
    build_command,
    parse_rows,
    validate_remote_path,
)
from .transport import (
    CopyCache,
    LocalCopy,
    NoRemoteSqlite,
    PbxClock,
    RemoteFile,
    TransportError,
    TransportErrorKind,
    WalFile,
    in_range,
    quick_check,
    settle_copy,
)

log = logging.getLogger("asterisk_pipeline.ssh")
T = TypeVar("T")
_known_hosts_lock = threading.Lock()


DEFAULT_REMOTE_DIR = PurePosixPath("/var/log/asterisk")


# Copies of a file being written taken back to back before the sync counts one failed try.
_COPY_ATTEMPTS = 5
# Why a copy of a WAL-mode file is taken again.
_WAL_CHANGED = "the file or its -wal changed during the copy"
# Local write failures of a copy that no retry can fix.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in; ``password`` is never logged or shown."""

    host: str
    port: int = 5059
    user: str = "root"
    key_file: Path | None = None
    password: str | None = None
    remote_dir: PurePosixPath = DEFAULT_REMOTE_DIR
    sqlite3: str = "sqlite3"

    def __repr__(self) -> str:  # keep credentials out of logs and tracebacks
        return f"SshTarget({self.user}@{self.host}:{self.port}, dir={self.remote_dir})"


_READ_PIECE = 256 * 1024  # bytes of an exec's answer read at a time


@dataclass(frozen=True)
class SshOptions:
    known_hosts: Path
    trust_on_first_use: bool = False
    connect_timeout_s: float = 10.0
    operation_timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 0.5
    keepalive_s: int = 15
    busy_timeout_ms: int = 10_000


_parsed_known_hosts: dict[Path, tuple[tuple[int, int], paramiko.HostKeys]] = {}


def known_host_keys(path: Path, name: str) -> dict[str, paramiko.PKey]:
    """The keys the known-hosts file holds for ``name`` (``host`` or ``[host]:port``).

    The file is parsed once per change (size and mtime), not per connection: paramiko builds a
    key object for every line, ~20 ms of CPU for a 300-PBX file, which a live cycle over 300
    PBXes paid 300 times.
    """
    try:
        stat = path.stat()
    except OSError:
        return {}
    version = (stat.st_mtime_ns, stat.st_size)
    with _known_hosts_lock:
        cached = _parsed_known_hosts.get(path)
        if cached is None or cached[0] != version:
            keys = paramiko.HostKeys()
            keys.load(str(path))
            cached = _parsed_known_hosts[path] = (version, keys)
    return dict(cached[1].lookup(name) or {})


class _PinOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Trust-on-first-use: accept an unknown key once and write it to the known-hosts file."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with _known_hosts_lock:
            client.get_host_keys().add(hostname, key.get_name(), key)
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            with self.known_hosts.open("a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        log.warning("pinned the host key of %s (trust on first use): %s", hostname, key.fingerprint)


# Brackets the PBX's answer about which day files are absent (``SshTransport.pbx_clock``).
_MARK = "--asterisk-pipeline--"


def _absent(lines: list[str], days: Sequence[date]) -> frozenset[date]:
    """The days whose index the PBX printed between the two marks; none unless both marks came
    and every line between is such an index (an answer cut short tells nothing)."""
    marks = [i for i, line in enumerate(lines) if line == _MARK]
    if len(marks) != 2:
        return frozenset()
    between = lines[marks[0] + 1 : marks[1]]
    if not all(line.isdigit() and int(line) < len(days) for line in between):
        return frozenset()
    return frozenset(days[int(line)] for line in between)


def _no_delay_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A connected TCP socket with Nagle's algorithm off.

    paramiko leaves it on, and every exec (channel open, request, close) then waits on the peer's
    delayed ACK: ~55 ms a round on loopback against ~11 ms without it, ~90 ms against ~30 ms for
    a connection's handshake. A live sync is a few such small exchanges, so that wait was most of
    its wall time. Connection errors are the same ``OSError`` kinds paramiko's own connect raises.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    with suppress(OSError):  # a socket that refuses the option still works, only slower
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class SshTransport:
    def __init__(self, target: SshTarget, options: SshOptions) -> None:
        self.target = target
        self.options = options
        self.label = f"{target.host}:{target.port}"
        self.bytes_transferred = 0
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._has_sqlite: bool | None = None

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None and self._client.get_transport() is not None and self._client.get_transport().is_active():  # type: ignore[union-attr]
            return self._client
        self.close()
        client = paramiko.SSHClient()
        name = self.target.host if self.target.port == 22 else f"[{self.target.host}]:{self.target.port}"
        for keytype, key in known_host_keys(self.options.known_hosts, name).items():
            client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(
            _PinOnFirstUse(self.options.known_hosts)
            if self.options.trust_on_first_use
            else paramiko.RejectPolicy()
        )
        timeout = self.options.connect_timeout_s
        began = time.monotonic()
        try:
            client.connect(
                self.target.host,
                port=self.target.port,
                sock=_no_delay_socket(self.target.host, self.target.port, timeout),
                username=self.target.user,
                password=self.target.password,
                key_filename=str(self.target.key_file) if self.target.key_file else None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except Exception as exc:
            client.close()
            error = self._classify(exc)
            if error.kind is TransportErrorKind.PROTOCOL and time.monotonic() - began >= timeout:
                # paramiko reports a banner that never came as "No existing session" at times
                error = TransportError(
                    TransportErrorKind.TIMEOUT,
                    f"{self.label}: no SSH answer within {timeout:g}s ({exc})",
                )
            raise error from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(self.options.keepalive_s)
        self._client = client
        return client

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._connect().open_sftp()
            self._sftp.get_channel().settimeout(self.options.operation_timeout_s)  # type: ignore[union-attr]
        return self._sftp

    def close(self) -> None:
        for closer in (self._sftp, self._client):
            if closer is not None:
                with suppress(Exception):  # closing a dead connection may fail; nothing to do
                    closer.close()
        self._sftp = None
        self._client = None

    def _classify(self, exc: BaseException) -> TransportError:
        where = f"{self.target.user}@{self.target.host}:{self.target.port}"
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            return TransportError(
                TransportErrorKind.HOST_KEY_MISMATCH,
                f"{where}: the host key changed (got {exc.key.get_name()} {exc.key.fingerprint});"
                " refused — verify the PBX and update the known-hosts file",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return TransportError(
                TransportErrorKind.AUTH_FAILED, f"{where}: authentication failed; check the user, key or password"
            )
        if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
            return TransportError(
                TransportErrorKind.HOST_KEY_UNKNOWN,
                f"{where}: unknown host key refused; add it to {self.options.known_hosts}"
                " or enable trust-on-first-use",
            )
        if isinstance(exc, ConnectionRefusedError):
            return TransportError(TransportErrorKind.REFUSED, f"{where}: connection refused (is sshd listening?)")
        if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc).lower() or (
            isinstance(exc, paramiko.SSHException) and "banner" in str(exc).lower()
        ):
            return TransportError(TransportErrorKind.TIMEOUT, f"{where}: timed out ({exc})")
        if isinstance(exc, (socket.gaierror, OSError)) and not isinstance(exc, EOFError):
            return TransportError(TransportErrorKind.UNREACHABLE, f"{where}: unreachable ({exc})")
        return TransportError(TransportErrorKind.PROTOCOL, f"{where}: connection failed ({type(exc).__name__}: {exc})")

    def _with_retries(self, operation: Callable[[], T]) -> T:
        """Run an operation, reconnecting after transient failures with exponential backoff."""
        attempt = 0
        while True:
            try:
                return operation()
            except (NoRemoteSqlite, FileNotFoundError):
                raise
            except Exception as exc:  # classified right here
                if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
                    raise  # our own disk, not the connection: no retry (local_copy says so)
                error = self._classify(exc)
                if not error.transient or attempt >= self.options.retries:
                    raise error from exc
                delay = self.options.backoff_s * (2**attempt)
                attempt += 1
                log.info("retrying %s in %.1fs after %s", self.label, delay, error)
                self.close()
                time.sleep(delay)

    # -- files --------------------------------------------------------------------------------

    def _remote_dir(self) -> PurePosixPath:
        """The configured directory, refused (kind ``config``) unless it is a plain absolute path."""
        try:
            validate_remote_path(self.target.remote_dir)
        except ValueError as exc:
            raise TransportError(TransportErrorKind.CONFIG, f"{self.label}: {exc}") from None
        return self.target.remote_dir

    def _remote_path(self, day: date) -> PurePosixPath:
        """The day file's path on the PBX: a plain name directly inside the remote directory."""
        directory = self._remote_dir()
        path = directory / file_name(day)
        try:
            validate_remote_path(path)
        except ValueError as exc:
            raise TransportError(TransportErrorKind.CONFIG, f"{self.label}: {exc}") from None
        if path.parent != directory:
            raise TransportError(TransportErrorKind.CONFIG, f"{self.label}: {str(path)!r} is outside {directory}")
        return path

    def list_day_files(self, start: date, end: date) -> list[RemoteFile]:
        directory = self._remote_dir()

        def listing() -> list[RemoteFile]:
            entries = self._sftp_client().listdir_attr(str(directory))
            return in_range([(e.filename, e.st_size or 0, e.st_mtime or 0) for e in entries], start, end)

        try:
            return self._with_retries(listing)
        except FileNotFoundError as exc:
            raise TransportError(
                TransportErrorKind.MISSING_FILE, f"{self.label}: no directory {self.target.remote_dir}"
            ) from exc

    def stat_day_file(self, day: date) -> RemoteFile | None:
        path = self._remote_path(day)

        def stat() -> RemoteFile | None:
            try:
                attrs = self._sftp_client().stat(str(path))
            except FileNotFoundError:
                return None
            return RemoteFile(path.name, day, attrs.st_size or 0, attrs.st_mtime or 0)

        return self._with_retries(stat)

    def _exec(
        self, command: str, *, max_stdout: int | None = None, min_lines: int = 1,
    ) -> tuple[int, bytes, bytes]:
        """Run one command; with ``max_stdout``, stop reading once that much output and at least
        ``min_lines`` complete lines arrived: the channel is closed (the remote command ends on
        its broken pipe), the partial last line dropped, and the status taken as success."""
        client = self._connect()
        channel = client.get_transport().open_session(timeout=self.options.connect_timeout_s)  # type: ignore[union-attr]
        channel.settimeout(self.options.operation_timeout_s)
        channel.exec_command(command)
        out = channel.makefile("rb")
        if max_stdout is None:
            stdout = out.read()
        else:
            pieces: list[bytes] = []
            size = lines = 0
            while piece := out.read(_READ_PIECE):
                pieces.append(piece)
                size += len(piece)
                lines += piece.count(b"\n")
                if size >= max_stdout and lines >= min_lines:
                    stdout = b"".join(pieces)
                    channel.close()
                    self.bytes_transferred += size + len(command)
                    return 0, stdout[: stdout.rfind(b"\n") + 1], b""
            stdout = b"".join(pieces)
        stderr = channel.makefile_stderr("rb").read()
        status = channel.recv_exit_status()
        channel.close()
        self.bytes_transferred += len(stdout) + len(stderr) + len(command)
        return status, stdout, stderr

    def pbx_clock(self, days: Sequence[date] = ()) -> PbxClock:
        """``date +%s`` on the PBX, and in the same exec a ``test -e`` of each of ``days``' files
        (a live sync's possible yesterdays: one round trip instead of a fetch that finds nothing).
        The command holds only fixed text and paths validated and quoted as ``build_command``'s.
        The clock is None when the PBX does not answer a number (the central clock is used then,
        and the sync itself reports an unreachable PBX); nothing is absent unless the answer is
        complete."""
        try:
            paths = [validate_remote_path(self._remote_path(day)) for day in days]
        except (TransportError, ValueError):
            paths = []  # a bad directory: the fetch reports it as the sync's own failure
        checks = "".join(f"; test -e {shlex.quote(path)} || echo {i}" for i, path in enumerate(paths))
        command = f"date +%s; echo {_MARK}{checks}; echo {_MARK}" if paths else "date +%s"
        try:
            status, stdout, _ = self._with_retries(lambda: self._exec(command))
        except TransportError as exc:
            log.info("%s: no PBX clock (%s); using the central clock", self.label, exc)
            return PbxClock(None)
        lines = stdout.decode("ascii", "replace").splitlines()
        now = None
        try:
            if status == 0 and lines and lines[0] != _MARK:
                now = datetime.fromtimestamp(int(lines[0].strip()), UTC)
        except (ValueError, OverflowError, OSError) as exc:
            log.info("%s: no PBX clock (%s); using the central clock", self.label, exc)
        return PbxClock(now, _absent(lines, days) if paths else frozenset())

    def has_sqlite(self) -> bool:
        if self._has_sqlite is None:
            status, _, _ = self._with_retries(lambda: self._exec("command -v sqlite3 >/dev/null 2>&1"))
            self._has_sqlite = status == 0
        return self._has_sqlite

    def fetch_rows(
        self, day: date, table: str, after_id: int, limit: int, max_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> list[SourceRow]:
        """One exec round trip per chunk (the guard for sqlite3 and the file is in the command).

        The answer is read only up to about ``max_bytes`` of values (twice that of hex): past it
        the channel is closed and the complete lines kept — the anchors and at least one row —
        so a day of 10 MB bodies costs the same memory as any other (SPEC §4.1)."""
        min_lines = 1 if after_id < ROW_ID_MIN else 3  # up to two anchors, then one row
        if self._has_sqlite is False:
            raise NoRemoteSqlite(f"{self.label} has no sqlite3")
        command = build_command(
            self.target.sqlite3, self._remote_path(day), ChunkQuery(table, after_id, limit),
            self.options.busy_timeout_ms,
        )

        def query() -> list[SourceRow]:
            status, stdout, stderr = self._exec(command, max_stdout=2 * max_bytes, min_lines=min_lines)
            if status == EXIT_NO_SQLITE:
                self._has_sqlite = False
                raise NoRemoteSqlite(f"{self.label} has no sqlite3")
            if status == EXIT_NO_FILE:
                raise TransportError(TransportErrorKind.MISSING_FILE, f"{self.label}: no {file_name(day)}")
            self._has_sqlite = True
            if status != 0:
                raise self._sqlite_error(day, stderr.decode("utf-8", "replace"))
            try:
                return list(parse_rows(stdout.decode("ascii")))
            except NonIntegerIds as exc:
                raise TransportError(TransportErrorKind.UNREADABLE, f"{self.label}:{file_name(day)}: {exc}") from exc
            except (RemoteQueryError, UnicodeDecodeError) as exc:
                raise TransportError(TransportErrorKind.PROTOCOL, f"{self.label}: unreadable answer ({exc})") from exc

        return self._with_retries(query)

    def _sqlite_error(self, day: date, stderr: str) -> TransportError:
        text = stderr.strip().splitlines()[-1] if stderr.strip() else "sqlite3 failed"
        lowered = text.lower()
        name = f"{self.label}:{file_name(day)}"
        if "no such table" in lowered:
            return TransportError(TransportErrorKind.NO_TABLE, f"{name} has no such table yet ({text})")
        if "locked" in lowered or "busy" in lowered:
            return TransportError(TransportErrorKind.LOCKED, f"{name} stayed locked ({text})")
        if "not a database" in lowered or "malformed" in lowered:
            return TransportError(TransportErrorKind.CORRUPT, f"{name} is not a readable database ({text})")
        if "unable to open" in lowered:
            # The guard (``test -f``) or the listing saw the file: it exists but SQLite cannot
            # open it, e.g. a WAL-mode file whose -shm the SSH user may not create. Never
            # "missing" (a missing yesterday is skipped quietly): its -wal rows would be lost.
            return TransportError(
                TransportErrorKind.UNREADABLE,
                f"{name} exists but cannot be opened ({text}); a WAL-mode file needs its -shm or a"
                " directory the SSH user can write",
            )
        return TransportError(TransportErrorKind.PROTOCOL, f"{name}: {text}")

    def _stat_wal(self, day: date) -> WalFile | None:
        """The day file's ``-wal`` on the PBX (None when there is none): part of the cache key."""
        path = self._remote_path(day)
        wal = path.with_name(f"{path.name}-wal")

        def stat() -> WalFile | None:
            try:
                attrs = self._sftp_client().stat(str(wal))
            except FileNotFoundError:
                return None
            return WalFile(attrs.st_size or 0, attrs.st_mtime or 0)

        return self._with_retries(stat)

    def local_copy(self, day: date, cache_dir: Path) -> LocalCopy:
        """A verified copy: the PBX's own ``.backup`` when it has sqlite3 (a consistent
        snapshot even mid-write, WAL rows included), else a plain SFTP copy of the file and its
        ``-wal`` re-checked and retried. Cached while the file and its ``-wal`` are unchanged."""
        cache = CopyCache(cache_dir)
        remote = self.stat_day_file(day)
        if remote is None:
            raise TransportError(TransportErrorKind.MISSING_FILE, f"{self.label}: no {file_name(day)}")
        wal = self._stat_wal(day)
        cached = cache.fresh(remote, wal)
        if cached is not None:
            return LocalCopy(cached, 0)
        partial = cache.root / f".{file_name(day)}.{secrets.token_hex(4)}.part"
        try:
            copied_bytes = self._with_retries(lambda: self._copy_consistent(day, remote, partial))
            return LocalCopy(cache.store(remote, partial, wal), copied_bytes)
        except FileNotFoundError as exc:
            raise TransportError(
                TransportErrorKind.MISSING_FILE, f"{self.label}: {file_name(day)} vanished during the copy"
            ) from exc
        except OSError as exc:
            # Our side (the cache under ASTERISK_HOME) is full: not the PBX's fault and no retry
            # fixes it. The partial copy is removed below; nothing unverified is ever cached.
            if exc.errno not in _DISK_FULL:
                raise
            raise TransportError(
                TransportErrorKind.DISK_FULL,
                f"{self.label}: no space left under {cache.root} for the copy of {file_name(day)}"
                f" ({remote.size} bytes): {exc.strerror}",
            ) from exc
        finally:
            for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)

    def _copy_state(self, sftp: paramiko.SFTPClient, path: PurePosixPath) -> tuple[object, ...]:
        """What must not change while the file and its ``-wal`` are copied: both sizes and
        mtimes, and the ``-wal`` header (its salts change when the WAL restarts at its start)."""
        main = sftp.stat(str(path))
        wal = path.with_name(f"{path.name}-wal")
        try:
            attrs = sftp.stat(str(wal))
            with sftp.open(str(wal), "rb") as handle:
                header = handle.read(32)
        except FileNotFoundError:
            return (main.st_size, main.st_mtime, None)
        return (main.st_size, main.st_mtime, (attrs.st_size, attrs.st_mtime, header))

    def _copy_consistent(self, day: date, remote: RemoteFile, partial: Path) -> int:
        path = self._remote_path(day)
        sftp = self._sftp_client()
        if self.has_sqlite():
            snapshot = PurePosixPath("/tmp") / f"asterisk-pipeline-{secrets.token_hex(8)}.db"
            command = " ".join(
                shlex.quote(part)
                for part in (self.target.sqlite3, "-readonly", "-batch", "-cmd",
                             f".timeout {int(self.options.busy_timeout_ms)}", str(path),
                             f".backup {snapshot}")
            )
            status, _, stderr = self._exec(command)
            if status == 0:
                try:
                    sftp.get(str(snapshot), str(partial))
                finally:
                    try:
                        sftp.remove(str(snapshot))
                    except OSError:
                        pass
                size = partial.stat().st_size
                self.bytes_transferred += size
                try:
                    settle_copy(partial)  # a WAL-mode source's backup keeps the WAL header
                    problem = quick_check(partial)
                except sqlite3.Error as exc:
                    problem = str(exc)
                if problem is None:
                    return size
                log.warning("%s: snapshot of %s failed quick_check (%s); copying", self.label, path.name, problem)
            else:
                raise self._sqlite_error(day, stderr.decode("utf-8", "replace"))
        problem = None
        with_wal = False
        for attempt in range(_COPY_ATTEMPTS):
            # The listener commits a row at a time: a copy that straddles a commit fails
            # quick_check, and the next one, a moment later, usually lands between two.
            if attempt:
                time.sleep(0.05 * attempt)
            problem, size = self._copy_once(sftp, path, partial)
            with_wal = with_wal or problem == _WAL_CHANGED or is_wal_mode(partial)
            if problem is None:
                return size
        if with_wal:
            # Never the main file alone: its -wal holds committed rows (SPEC §4.1).
            raise TransportError(
                TransportErrorKind.UNREADABLE,
                f"{self.label}: {path.name} is in WAL mode and no consistent copy of it and its -wal"
                f" could be taken in {_COPY_ATTEMPTS} attempts ({problem})",
            )
        # still caught mid-commit: retried (LOCKED is transient) by _with_retries
        raise TransportError(
            TransportErrorKind.LOCKED,
            f"{self.label}: the copy of {path.name} failed verification ({problem}); the file"
            " was being written",
        )

    def _copy_once(self, sftp: paramiko.SFTPClient, path: PurePosixPath, partial: Path) -> tuple[str | None, int]:
        """One copy of the file (and its ``-wal`` when there is one, ``-shm`` never: SQLite
        rebuilds that index from the ``-wal``) and what is wrong with it, None when it is good."""
        local_wal = wal_path(partial)
        local_wal.unlink(missing_ok=True)
        before = self._copy_state(sftp, path)
        sftp.get(str(path), str(partial))
        size = partial.stat().st_size
        if before[2] is not None:
            try:
                sftp.get(str(path.with_name(f"{path.name}-wal")), str(local_wal))
            except FileNotFoundError:
                return _WAL_CHANGED, size  # checkpointed and removed meanwhile: copy again
            size += local_wal.stat().st_size
        self.bytes_transferred += size
        if before[2] is not None or is_wal_mode(partial):
            if self._copy_state(sftp, path) != before:
                return _WAL_CHANGED, size
            try:
                settle_copy(partial)
            except sqlite3.Error as exc:
                if "full" in str(exc).lower():  # our disk, as for the copy itself: kind disk_full
                    raise OSError(errno.ENOSPC, f"folding the -wal into the copy: {exc}") from exc
                return f"the copy and its -wal are not usable together ({exc})", size
        return quick_check(partial), size
