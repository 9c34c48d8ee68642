"""The production deployment, for real: dagster-webserver + dagster-daemon on deploy/dagster.yaml
(dagster-postgres, Celery run launcher), Celery workers, Redis — started the way the systemd units
in deploy/systemd/ start them, each process with its own DAGSTER_HOME. Used by tests/deploy and
benchmarks/dagster_celery.py.

A worker may run in its own network namespace (``Netns``): a veth pair, and on the host side of it
a ``socat`` forwarder per service (PostgreSQL, Redis) that relays to the service's loopback
address. Why forwarders and not a second listen address: the machine's PostgreSQL and Redis listen
on 127.0.0.1 only and other suites use them — reconfiguring and restarting them under their feet
is not an option; a forwarder needs no change to either server, and the namespace's worker sees
only 10.x.y.1 (its own loopback is empty, so an accidental 127.0.0.1 fails).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.dagster_dev import wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
WORKER_APP = "asterisk_pipeline.workers.app"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=host, port=port, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def ensure_redis() -> str | None:
    """Redis at 127.0.0.1:6379, started (as CI does) when it is not running; None when it is up,
    else why it cannot be."""
    if redis_answers():
        return None
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    for directory in ("/var/lib/redis", "/var/log/redis"):
        Path(directory).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(REDIS_START, capture_output=True, text=True, check=False)
    for _ in range(50):
        if redis_answers():
            return None
        time.sleep(0.1)
    return f"redis-server did not start: {done.stderr.strip() or done.stdout.strip()}"


def instance_yaml(home: Path, *, poll_interval_s: int | None = None,
                  max_concurrent_runs: int | None = None) -> Path:
    """deploy/dagster.yaml into ``home`` — with a shorter run-monitoring poll for tests."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    if poll_interval_s is not None:
        config["run_monitoring"]["poll_interval_seconds"] = poll_interval_s
        config["run_launcher"]["config"]["ping_timeout_seconds"] = 1
    if max_concurrent_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def pg_env(host: str, port: int, db: str, user: str = "postgres", password: str = "") -> dict[str, str]:
    return {"DAGSTER_PG_HOST": host, "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": user,
            "DAGSTER_PG_PASSWORD": password, "DAGSTER_PG_DB": db}


def celery_env(host: str, redis_db: int, queue: str) -> dict[str, str]:
    return {"DAGSTER_CELERY_BROKER_URL": f"redis://{host}:6379/{redis_db}",
            "DAGSTER_CELERY_BACKEND_URL": f"redis://{host}:6379/{redis_db}",
            "DAGSTER_CELERY_QUEUE": queue}


@dataclass
class Proc:
    """A process started in a session of its own (stopped as a group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: the worker and the run process it forked (a host lost)."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Proc:
    cwd.mkdir(parents=True, exist_ok=True)
    full = {**env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log, "ab") as out:
        popen = subprocess.Popen(argv, env=full, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    return Proc(name, popen, log)


def start_dagster(env: dict[str, str], home: Path, port: int, log_dir: Path) -> list[Proc]:
    """The webserver and the daemon, as deploy/systemd/ runs them (one DAGSTER_HOME here)."""
    workspace = str(DEPLOY / "workspace.yaml")
    env = {**env, "DAGSTER_HOME": str(home)}
    web = start("webserver", [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                              "-p", str(port)], env, home, log_dir / "webserver.log")
    daemon = start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], env, home,
                   log_dir / "daemon.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: not web.alive() or not daemon.alive() or
                   urllib.request.urlopen(f"{url}/server_info", timeout=2).status == 200,
                   180, "the Dagster webserver")
        if not (web.alive() and daemon.alive()):
            raise RuntimeError(f"webserver/daemon exited:\n{web.tail()}\n{daemon.tail()}")
    except BaseException:
        for p in (web, daemon):
            p.stop()
        raise
    return [web, daemon]


def worker_argv(name: str, netns: str | None = None) -> list[str]:
    """deploy/systemd/asterisk-dagster-worker@.service's command (one run at a time)."""
    argv = [str(BIN / "celery"), "-A", WORKER_APP, "worker", "-n", f"{name}@%h", "--loglevel=INFO"]
    return (["ip", "netns", "exec", netns] if netns else []) + argv


def start_worker(name: str, env: dict[str, str], home: Path, log_dir: Path,
                 netns: str | None = None) -> Proc:
    """A Celery worker with its own DAGSTER_HOME (``home``, holding its copy of dagster.yaml)."""
    proc = start(name, worker_argv(name, netns), {**env, "DAGSTER_HOME": str(home)}, home,
                 log_dir / f"worker-{name}.log")
    try:
        wait_until(lambda: not proc.alive() or " ready." in proc.tail(20000), 90, f"worker {name}")
    except TimeoutError:
        proc.stop()
        raise RuntimeError(f"worker {name} never became ready:\n{proc.tail()}") from None
    if not proc.alive():
        raise RuntimeError(f"worker {name} exited:\n{proc.tail()}")
    return proc


@dataclass
class Netns:
    """A network namespace joined to the host by a veth pair (host .1, namespace .2)."""

    name: str
    host_ip: str
    ns_ip: str
    forwarders: list[subprocess.Popen[bytes]] = field(default_factory=list)


def netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "socat"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def netns(ports: tuple[int, ...] = (5432, 6379)) -> Iterator[Netns]:
    """Create the namespace and a forwarder per port on the host side; removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    name, host_if, ns_if = f"apw{tag}", f"vh{tag}", f"vn{tag}"
    a, b = random.randint(100, 250), random.randint(0, 255)
    ns = Netns(name, f"10.{a}.{b}.1", f"10.{a}.{b}.2")
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{ns.ns_ip}/30", "dev", ns_if)
        _ip("netns", "exec", name, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        for port in ports:
            ns.forwarders.append(subprocess.Popen(
                ["socat", f"TCP-LISTEN:{port},bind={ns.host_ip},fork,reuseaddr",
                 f"TCP:127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield ns
    finally:
        for forwarder in ns.forwarders:
            forwarder.terminate()
            forwarder.wait(timeout=10)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
