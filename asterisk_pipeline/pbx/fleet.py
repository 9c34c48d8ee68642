"""The fleet: which PBX belongs to which enterprise, how to reach it, and its time zone.

Built once by each shell (the Dagster resource, the CLI, the sidecar) and handed to every sync;
a sync asks it once per enterprise for that enterprise's ``Pbx`` (time zone, cache directory,
transport) and goes on from there.

Shared defaults come from Settings (port 5059, user, key file, password from the environment
or a secrets file); an optional TOML file (``ASTERISK_FLEET_FILE``) overrides them per
enterprise. Credentials are never read from code, and the file names an *environment
variable* for a password rather than holding one::

    [enterprises."0327"]
    host = "10.88.10.25"          # default: enterprises.ip, else enterprises.host
    port = 22
    user = "pbx"
    key_file = "/etc/asterisk-pipeline/keys/0327"
    password_env = "PBX_0327_PASSWORD"
    remote_dir = "/var/log/asterisk"
    timezone = "Europe/Moscow"
    transport = "local"           # read local_dir instead of SSH
    local_dir = "/srv/mirror/0327"
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from ..model import Enterprise
from ..settings import Settings, zone_info
from ..warehouse.registry import number_excerpt, validate_number
from .local import LocalTransport
from .remote_query import validate_remote_path
from .ssh import SshOptions, SshTarget, SshTransport
from .transport import Transport


class FleetConfigError(ValueError):
    """The fleet file is unreadable or names something invalid, or a path derived from an
    enterprise's values would leave its root; the sync records it as a ``config`` failure."""


def _within(root: Path, path: Path, what: str) -> Path:
    """``path`` resolved, refused unless it lies inside ``root`` resolved (SPEC §3)."""
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise FleetConfigError(f"{what} {str(path)[:200]!r} resolves outside {str(root)[:200]!r}; refused")
    return real


@dataclass(frozen=True)
class Overrides:
    host: str | None = None
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    password_env: str | None = None
    remote_dir: str | None = None
    timezone: str | None = None
    transport: str | None = None
    local_dir: str | None = None


_ALLOWED = {f.name for f in fields(Overrides)}


def load_fleet_file(path: Path | None) -> dict[str, Overrides]:
    """Per-enterprise overrides; an absent setting means none."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FleetConfigError(f"cannot read fleet file {path}: {exc}") from exc
    return {
        number: _overrides(path, number, values)
        for number, values in (data.get("enterprises") or {}).items()
    }


def _overrides(path: Path, number: str, values: Any) -> Overrides:
    """One ``[enterprises."N"]`` table, checked: a valid number, known keys, sane values."""
    try:
        validate_number(number)
    except ValueError as exc:
        raise FleetConfigError(f"{path}: {exc}") from None
    if not isinstance(values, dict):
        raise FleetConfigError(f"{path}: [enterprises.\"{number}\"] must be a table")
    unknown = set(values) - _ALLOWED
    if unknown:
        raise FleetConfigError(f"{path}: enterprise {number}: unknown keys {sorted(unknown)}")
    overrides = Overrides(**values)
    if overrides.transport not in (None, "ssh", "local"):
        raise FleetConfigError(f"{path}: enterprise {number}: transport must be ssh or local")
    if overrides.timezone is not None:
        try:
            zone_info(overrides.timezone)
        except ValueError as exc:
            raise FleetConfigError(f"{path}: enterprise {number}: {exc}") from None
    if overrides.port is not None and not 1 <= int(overrides.port) <= 65535:
        raise FleetConfigError(f"{path}: enterprise {number}: bad port {overrides.port}")
    return overrides


@dataclass(frozen=True)
class Fleet:
    """Settings plus the fleet file's overrides: how to reach enterprise N, and its zone."""

    settings: Settings
    overrides: dict[str, Overrides]

    @classmethod
    def load(cls, settings: Settings) -> Fleet:
        return cls(settings, load_fleet_file(settings.fleet_file))

    def _for(self, number: str) -> Overrides:
        return self.overrides.get(number, Overrides())

    def timezone(self, enterprise: Enterprise | str) -> ZoneInfo:
        """The one answer to "which time zone is this enterprise's PBX in": the fleet file's
        zone, else ``ASTERISK_ENTERPRISE_TIMEZONES``, else the shared ``ASTERISK_PBX_TIMEZONE``."""
        number = enterprise if isinstance(enterprise, str) else enterprise.number
        zone = self._for(number).timezone or self.settings.enterprise_timezones.get(number)
        return zone_info(zone or self.settings.pbx_timezone)

    @property
    def default_timezone(self) -> ZoneInfo:
        """The shared PBX zone (for answers that span enterprises, e.g. "today")."""
        return zone_info(self.settings.pbx_timezone)

    def zone_exceptions(self) -> dict[str, ZoneInfo]:
        """Every enterprise whose PBX zone is not the shared one (fleet file or
        ``ASTERISK_ENTERPRISE_TIMEZONES``): a fleet-wide range of PBX-local days needs them."""
        named = set(self.overrides) | set(self.settings.enterprise_timezones)
        default = self.default_timezone.key
        return {n: zone for n in sorted(named) if (zone := self.timezone(n)).key != default}

    @staticmethod
    def _number(enterprise: Enterprise) -> str:
        """The number, checked again here: every path below is built from it."""
        try:
            return validate_number(enterprise.number)
        except ValueError:
            raise FleetConfigError(
                f"enterprise number {number_excerpt(enterprise.number)} is unsafe; not used in a path"
            ) from None

    def pbx(self, enterprise: Enterprise) -> Pbx:
        """Everything one sync needs to know of this enterprise's PBX, resolved once.

        Refused with ``FleetConfigError`` (before anything connects or copies) when the number
        or a path built from it is unsafe, or the fleet cannot say how to reach the PBX.
        """
        number = self._number(enterprise)
        o, s = self._for(number), self.settings
        root = s.cache_dir
        cache_dir = _within(root, root / number, "cache directory")
        return Pbx(enterprise, self.timezone(number), cache_dir, self._opener(enterprise, number, o))

    def _opener(self, enterprise: Enterprise, number: str, o: Overrides) -> Callable[[], Transport]:
        s = self.settings
        if (o.transport or s.transport) == "local":
            if o.local_dir:  # the operator's own path for this enterprise: it is the root
                root = Path(o.local_dir)
            elif s.local_logs_dir:
                root = _within(s.local_logs_dir, s.local_logs_dir / number, "local mirror directory")
            else:
                raise FleetConfigError(
                    f"enterprise {number}: local transport needs ASTERISK_LOCAL_LOGS_DIR or local_dir"
                )
            return partial(LocalTransport, root, s.sqlite_busy_timeout_s)
        remote_dir = PurePosixPath(o.remote_dir or s.remote_dir)
        try:
            validate_remote_path(remote_dir)
        except ValueError as exc:
            raise FleetConfigError(f"enterprise {number}: remote_dir: {exc}") from None
        host = o.host or enterprise.ip or enterprise.host
        if not host:
            raise FleetConfigError(f"enterprise {enterprise.number} has neither ip nor host")
        password = os.environ.get(o.password_env) if o.password_env else s.shared_password()
        key_file = o.key_file or (str(s.ssh_key_file) if s.ssh_key_file else None)
        target = SshTarget(
            host=host,
            port=int(o.port or s.ssh_port),
            user=o.user or s.ssh_user,
            key_file=Path(key_file) if key_file else None,
            password=password,
            remote_dir=remote_dir,
        )
        return partial(SshTransport, target, self._ssh_options())

    def _ssh_options(self) -> SshOptions:
        s = self.settings
        return SshOptions(
            known_hosts=s.known_hosts_path,
            trust_on_first_use=s.ssh_trust_on_first_use,
            connect_timeout_s=s.ssh_connect_timeout_s,
            operation_timeout_s=s.ssh_operation_timeout_s,
            retries=s.ssh_retries,
            busy_timeout_ms=int(s.sqlite_busy_timeout_s * 1000),
        )


@dataclass(frozen=True)
class Pbx:
    """One enterprise's PBX as the fleet resolved it for one sync."""

    enterprise: Enterprise
    timezone: ZoneInfo
    cache_dir: Path  # ``<cache>/<number>``, inside the cache root
    _open: Callable[[], Transport] = field(repr=False)  # the target holds credentials

    def transport(self) -> Transport:
        """A new transport (one SSH connection, opened on first use); the caller closes it."""
        return self._open()
