"""Real services for the fault scenarios, and the comparison with a clean import.

Everything here starts real processes, each in its own session so that a fault can kill exactly
one of them (and its children): ``dagster-webserver``, ``dagster-daemon`` and
``asterisk-pipeline serve``. The clean import is the CLI (``asterisk-pipeline sync …``) over the
same files into a fresh SQLite warehouse; ``compare`` counts rows lost and duplicated by their
natural keys in events, calls, participants and rejects.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, text

from asterisk_pipeline.api.dagster_client import (
    DagsterClient,
    DagsterUnavailable,
    RunInfo,
    run_info,
)
from tests.support.dagster_dev import ROOT, free_port, wait_until

BIN = Path(sys.executable).parent
CLI = str(BIN / "asterisk-pipeline")
ZONE = ZoneInfo("Europe/Minsk")


def pbx_today() -> date:
    return datetime.now(ZONE).date()


def base_env(work: Path, logs: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of a scenario (nothing inherited from ASTERISK_/DAGSTER_)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
    env.update(
        ASTERISK_HOME=str(work / "home"), ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(logs),
        ASTERISK_DATABASE_URL=db_url, ASTERISK_PBX_TIMEZONE=str(ZONE),
        ASTERISK_HISTORY_START="2025-01-01", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([CLI, *args], check=False, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise RuntimeError(f"asterisk-pipeline {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def prepare_warehouse(env: dict[str, str], numbers: list[str]) -> None:
    cli(env, "db", "upgrade")
    for number in numbers:
        cli(env, "enterprise", "add", number, "--name", f"PBX {number}", "--host", f"pbx{number}.lan")


# --- processes ------------------------------------------------------------------------------

class Service:
    """One long-running process in its own session; ``kill`` signals its whole process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """``sig`` to the process and every child in its group (the daemon's code server and
        run workers included), then reap it."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.kill(signal.SIGTERM)
        elif self.process is not None:  # reap what is left of the group
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


class Dagster:
    """``dagster-webserver`` and ``dagster-daemon`` as two processes over one DAGSTER_HOME (what
    ``dagster dev`` runs, but each can be killed alone)."""

    def __init__(self, work: Path, env: dict[str, str], *, instance: dict[str, str] | None = None) -> None:
        self.home = work / "dagster"
        self.home.mkdir(parents=True, exist_ok=True)
        config = (ROOT / "dagster.yaml").read_text()
        for old, new in (instance or {}).items():  # a test's own timings, said out loud
            assert old in config, f"{old!r} not in dagster.yaml"
            config = config.replace(old, new)
        (self.home / "dagster.yaml").write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**env, "DAGSTER_HOME": str(self.home)}
        workspace = str(ROOT / "workspace.yaml")
        self.webserver = Service("webserver", [str(BIN / "dagster-webserver"), "-w", workspace, "-h",
                                               "127.0.0.1", "-p", str(self.port)],
                                 full_env, self.home, work / "webserver.log")
        self.daemon = Service("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace],
                              full_env, self.home, work / "daemon.log")
        self.client = DagsterClient(self.url, timeout_s=30)

    def start_webserver(self) -> None:
        self.webserver.start()
        wait_until(lambda: not self.webserver.alive() or
                   urllib.request.urlopen(f"{self.url}/server_info", timeout=2).status == 200,
                   180, "the Dagster webserver")
        if not self.webserver.alive():
            raise RuntimeError(f"dagster-webserver exited; see {self.webserver.log}")
        self.client._repository = None
        wait_until(lambda: self.client.repository("live_sync_job"), 120, "the code location")

    def start_daemon(self) -> None:
        self.daemon.start()
        # The daemon is up when its scheduler has sent a heartbeat after the start.
        started = time.time()
        wait_until(lambda: not self.daemon.alive() or self._daemon_heartbeat() > started, 180,
                   "the Dagster daemon's heartbeat")
        if not self.daemon.alive():
            raise RuntimeError(f"dagster-daemon exited; see {self.daemon.log}")

    def _daemon_heartbeat(self) -> float:
        data = self.client.query("{ instance { daemonHealth { allDaemonStatuses {"
                                 " daemonType healthy lastHeartbeatTime } } } }")
        beats = [d["lastHeartbeatTime"] or 0 for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]
                 if d["daemonType"] in ("SCHEDULER", "QUEUED_RUN_COORDINATOR")]
        return min(beats) if beats else 0.0

    def stop(self) -> None:
        self.client.close()
        self.daemon.stop()
        self.webserver.stop()

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunInfo]:
        """Newest first; every status."""
        flt = {"pipelineName": job} if job else {}
        data = self.client.query(
            "query($f: RunsFilter, $n: Int) { runsOrError(filter: $f, limit: $n) { __typename"
            " ... on Runs { results { runId status creationTime startTime endTime tags { key value } } } } }",
            {"f": flt, "n": limit})["runsOrError"]
        return [run_info(node) for node in data.get("results") or []]

    def run_failure_text(self, run_id: str) -> str:
        """The messages of the run's failure events (what the UI shows for a failed run); with a
        plain query of every event's message when the detailed one is refused."""
        try:
            return self._failure_text(run_id)
        except DagsterUnavailable:
            pass
        data = self.client.query(
            "query($id: ID!) { logsForRun(runId: $id, limit: 1000) { __typename ... on EventConnection {"
            " events { __typename ... on MessageEvent { message } } } } }", {"id": run_id})["logsForRun"]
        return "\n".join(e.get("message") or "" for e in data.get("events") or [])

    def _failure_text(self, run_id: str) -> str:
        data = self.client.query(
            "query($id: ID!) { logsForRun(runId: $id, limit: 500) { __typename ... on EventConnection {"
            " events { __typename ... on MessageEvent { message }"
            " ... on ExecutionStepFailureEvent { error { message }"
            " failureMetadata { metadataEntries { label ... on MarkdownMetadataEntry { mdStr } } } }"
            " ... on RunFailureEvent { message } } } } }",
            {"id": run_id})["logsForRun"]
        parts: list[str] = []
        for event in data.get("events") or []:
            if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent", "EngineEvent"):
                parts.append(event.get("message") or "")
                if event.get("error"):
                    parts.append(event["error"]["message"])
                for entry in (event.get("failureMetadata") or {}).get("metadataEntries") or []:
                    parts.append(entry.get("mdStr") or "")
        return "\n".join(p for p in parts if p)

    def wait_run(self, run_id: str, timeout: float = 300) -> RunInfo:
        return wait_until(lambda: (r := self.client.run(run_id)) and r.finished and r, timeout,
                          f"run {run_id} to finish")

    def wait_backfill(self, backfill_id: str, timeout: float = 300) -> list[RunInfo]:
        done = wait_until(lambda: (b := self.client.backfill(backfill_id)) and b.finished and b, timeout,
                          f"backfill {backfill_id} to finish")
        return done.runs


@contextmanager
def sidecar(env: dict[str, str], dagster_url: str, log: Path) -> Iterator[str]:
    """``asterisk-pipeline serve`` on a free port; yields its base URL."""
    port = free_port()
    service = Service("sidecar", [CLI, "serve", "--port", str(port), "--dagster-url", dagster_url],
                      env, log.parent, log)
    service.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: not service.alive() or answers(f"{url}/docs"), 60, "the sidecar")
        if not service.alive():
            raise RuntimeError(f"asterisk-pipeline serve exited: {log.read_text()[-2000:]}")
        yield url
    finally:
        service.stop()


# --- comparing with a clean import ----------------------------------------------------------

_KEYS: dict[str, str] = {
    "events": "SELECT enterprise_id, unique_id, event_type, body_hash FROM call_events",
    "calls": "SELECT enterprise_id, unique_id, data_source, call_status, is_answered, duration,"
             " answered_by, final_extension, leg_count FROM calls",
    "participants": "SELECT c.enterprise_id, c.unique_id, p.extension, p.participant_status"
                    " FROM call_participants p JOIN calls c ON c.id = p.call_id",
    "rejects": "SELECT enterprise_id, file_date, source_table, source_id, reason FROM rejected_events",
}


def _norm(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def warehouse_rows(url: str) -> dict[str, Counter[tuple[Any, ...]]]:
    """Each table's rows by natural key (and, for calls and participants, the values the sync
    decides), as multisets."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: Counter(tuple(_norm(v) for v in row) for row in conn.execute(text(sql)))
                    for name, sql in _KEYS.items()}
    finally:
        engine.dispose()


@dataclass
class Comparison:
    lost: int
    duplicated: int
    per_table: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # rows, lost, extra

    def summary(self) -> str:
        return ", ".join(f"{t}: {n} rows, {lost} lost, {extra} extra"
                         for t, (n, lost, extra) in self.per_table.items())


def compare(faulted_url: str, clean_url: str) -> Comparison:
    """Rows of the clean import missing from the faulted warehouse (lost) and rows the faulted
    one holds beyond the clean import (duplicated: a key twice, or a row the clean run has not)."""
    faulted, clean = warehouse_rows(faulted_url), warehouse_rows(clean_url)
    result = Comparison(0, 0)
    for table in _KEYS:
        lost = sum((clean[table] - faulted[table]).values())
        extra = sum((faulted[table] - clean[table]).values())
        result.lost += lost
        result.duplicated += extra
        result.per_table[table] = (sum(faulted[table].values()), lost, extra)
    return result


def clean_import(work: Path, logs: Path, numbers: list[str], steps: list[list[str]]) -> str:
    """A fresh SQLite warehouse built by the CLI from the same files; ``steps`` are the
    ``asterisk-pipeline`` argument lists to run (e.g. ``["sync", "live"]``)."""
    url = f"sqlite:///{work / 'clean.db'}"
    env = base_env(work / "clean", logs, url)
    prepare_warehouse(env, numbers)
    for step in steps:
        cli(env, *step)
    return url


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.monotonic()
    value = fn()
    return value, time.monotonic() - began


def copy_logs(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
