"""A live cycle over 300 simulated PBXes on loopback (real sshd each), incremental vs whole files.

Each PBX serves a day file of ~3,000 AlternativeAPIlogs rows; after a first cycle has imported
them, ~20 new rows are appended to every file and one cycle is timed with the incremental
query (``ASTERISK_LIVE_FETCH=query``), then ~20 more rows and one cycle copying whole files
(``ASTERISK_LIVE_FETCH=copy``) — the same fleet, the same run. Targets (issue 11, fleet size):
the incremental cycle over 300 PBXes ≤ 30 s, and its bytes ≤ 10 % of the whole-file cycle's;
issue 21 (the import at its floor) tightened the cycle to ≤ 5 s.
The peak memory (RSS) of this process during each cycle is sampled every 20 ms and printed
with its growth over the RSS before the cycle. ``ASTERISK_BENCH_LIVE_PBXES`` overrides the
fleet size (e.g. 100, the size before issue 11); ``--quick`` uses 10.

300 sshd: one per address, 127.0.2.1-250 then 127.0.3.x…; when port 5059 is taken on one (another
suite's server) that server takes a free port instead; host keys and day files are made in a
thread pool, every sshd is started from the main thread (an sshd dies with the thread that
started it), a failed start is retried once on a free port.

The PBX login is the suite's unprivileged test user (``/bin/sh``): root's shell on this
machine runs ``pyenv init`` for every command, which a real PBX does not.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.ssh_fixtures

from asterisk_pipeline.devtools.dayfile import write_day_file
from asterisk_pipeline.devtools.live import append_calls
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.pbx.fleet import Fleet
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.sync import CycleReport, live_cycle
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.migrate import upgrade
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from benchmarks.import_throughput import fresh_database, own_cpu


@dataclass(frozen=True)
class PbxDay:
    """The day the simulated PBXes live: today in a zone where it is about noon now.

    Their clocks are the machine's real one (each sshd answers ``date +%s``), so a fixed day
    made every sync log "the PBX clock is N days off; not believed"; here the clocks agree with
    the cycle's ``now``, and the PBX's midnight is hours away whenever the benchmark runs."""

    zone: str
    now: datetime

    @property
    def day(self) -> date:
        return self.now.astimezone(ZoneInfo(self.zone)).date()

    @property
    def file(self) -> str:
        return f"Listen_AMI_{self.day.isoformat()}.db"


def noon_somewhere(now: datetime | None = None) -> PbxDay:
    """``now`` (the real clock) with the fixed-offset zone whose local hour is 12 then."""
    now = now or datetime.now(UTC)
    offset = 12 - now.hour  # hours east of UTC, -11..12 (Etc/GMT names have the sign reversed)
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    return PbxDay(zone, now)
RESULTS = Path(__file__).resolve().parents[1] / "bench-data" / "results-live-cycle.json"


TARGET_S = 5.0  # issue 21; issue 11 asked for 30 s
DEFAULT_PBXES = 300


def address(n: int) -> str:
    """The n-th PBX's loopback address: 127.0.2.1-250, 127.0.3.1-250, …"""
    return f"127.0.{2 + n // 250}.{1 + n % 250}"


def _prepared(n: int, calls: int, work: Path, client_key: Any, pbx_day: PbxDay, attempt: int = 0) -> Any:
    """A configured, not yet started server (host key generated) with its day file written."""
    from tests.support.ssh_fixtures import SshServer

    server = SshServer(address(n), 5059 if attempt == 0 else 0, authorized_keys=[client_key.public_key],
                       base_dir=work / f"pbx{n:03d}-{attempt}")
    write_day_file(server.served_dir / pbx_day.file, token=f"{375000 + n}", day=pbx_day.day, calls=calls,
                   seed=n, start_id=n * 1_000_000, live_share_undelivered=1.0)
    return server


def _start(server: Any, n: int, calls: int, work: Path, client_key: Any, pbx_day: PbxDay) -> Any:
    """Start it; when port 5059 is taken on its address (another suite's sshd) or it fails to
    start, once more on a free port."""
    from tests.support.ssh_fixtures import SshServerError

    try:
        server.start(timeout=30)  # 300 starting on a busy 2-core machine: not 10 s
        return server
    except SshServerError:  # PortInUseError included
        server.stop()
    retry = _prepared(n, calls, work, client_key, pbx_day, attempt=1)
    retry.start(timeout=30)
    return retry


def _servers(count: int, calls: int, work: Path, client_key: Any, pbx_day: PbxDay) -> list[Any]:
    """Host keys and day files are made in a thread pool; every sshd is started from this (the
    main) thread: an sshd dies with the thread that started it (``setpriv --pdeathsig``, see
    tests/support/ssh_fixtures.py), so never from a pool's thread."""
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        prepared = list(pool.map(lambda n: _prepared(n, calls, work, client_key, pbx_day), range(count)))
    servers: list[Any] = []
    try:
        for n, server in enumerate(prepared):
            servers.append(_start(server, n, calls, work, client_key, pbx_day))
    except BaseException:
        for server in servers:
            server.close()
        raise
    print(f"  {count} sshd started in {time.perf_counter() - started:.0f} s", flush=True)
    return servers


@contextmanager
def peak_rss(every_s: float = 0.02) -> Iterator[Callable[[], tuple[int, int]]]:
    """Sample this process's RSS while the block runs; yields a getter of (before, peak) bytes."""
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(every_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: (before, peak[0])
    finally:
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)


def _append(servers: list[Any], seed: int, pbx_day: PbxDay) -> int:
    """About 20-25 AlternativeAPIlogs rows per PBX: two calls with their delivery retries."""
    rows = 0
    for n, server in enumerate(servers):
        rows += int(append_calls(server.served_dir / pbx_day.file, token=f"{375000 + n}", day=pbx_day.day, calls=2,
                                 seed=seed * 1000 + n, tables=("AlternativeAPIlogs",),
                                 live_share_undelivered=1.0))
    return rows


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds spent on this machine, by whom: this process (the pipeline), the simulated
    PBXes' sshd with what they run (``sqlite3``, ``date``), and the rest (PostgreSQL, mostly).
    On a real fleet the PBXes' share runs on the PBXes; here it competes for the same cores."""

    pipeline: float
    pbxes: float
    machine: float

    @property
    def rest(self) -> float:
        return max(0.0, self.machine - self.pipeline - self.pbxes)

    def __sub__(self, other: CpuSplit) -> CpuSplit:
        return CpuSplit(self.pipeline - other.pipeline, self.pbxes - other.pbxes, self.machine - other.machine)

    def per_part(self) -> dict[str, float]:
        return {"pipeline": self.pipeline, "pbxes": self.pbxes, "rest": self.rest, "machine": self.machine}

    def text(self) -> str:
        return (f"CPU {self.machine:.1f} s: pipeline {self.pipeline:.1f}, PBXes' sshd {self.pbxes:.1f}, "
                f"rest {self.rest:.1f}")


def cpu_now() -> CpuSplit:
    """Cumulative CPU: this process, its child processes (the sshd servers, each counting the
    connections it has reaped) and the whole machine."""
    import psutil

    pbxes = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:  # ended between the listing and the read: its parent counts it
            continue
        pbxes += t.user + t.system + t.children_user + t.children_system
    machine = psutil.cpu_times()
    return CpuSplit(own_cpu(), pbxes, machine.user + machine.system + machine.nice
                    + getattr(machine, "irq", 0.0) + getattr(machine, "softirq", 0.0))


def _cycle(engine: Any, settings: Settings, now: datetime,
           memory: dict[str, int] | None = None) -> tuple[CycleReport, CpuSplit]:
    """One cycle, checked to have failed nowhere, and the CPU it cost."""
    before = cpu_now()
    with peak_rss() as rss:
        report = live_cycle(engine, Fleet.load(settings), now=now)
    cpu = cpu_now() - before
    if memory is not None:
        memory["before"], memory["peak"] = rss()
    failed = report.failed
    if failed:
        raise RuntimeError(f"{len(failed)} syncs failed, e.g. {failed[0].error_kind}: {failed[0].error}")
    return report, cpu


def run(*, quick: bool, repeat: int) -> dict[str, Any]:
    from tests.support.ssh_fixtures import ClientKey, ensure_user, keygen

    count = 10 if quick else int(os.environ.get("ASTERISK_BENCH_LIVE_PBXES", DEFAULT_PBXES))
    calls = 250
    print(f"\n== live_cycle ({'quick' if quick else 'full'}, {count} PBXes, {repeat} repetition(s)) ==")
    pbx_day = noon_somewhere()
    print(f"  the PBXes' day: {pbx_day.day} in {pbx_day.zone} (noon there now)")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, fresh_database() as url:
        work = Path(tmp)
        work.chmod(0o755)
        key_path = work / "id_ed25519"
        key = ClientKey(private_key_path=key_path, public_key=keygen(key_path, "bench"))
        ensure_user("astpbx", key.public_key)
        servers = _servers(count, calls, work, key, pbx_day)
        try:
            known_hosts = work / "known_hosts"
            known_hosts.write_text("".join(f"{s.known_hosts_line()}\n" for s in servers))
            fleet_file = work / "fleet.toml"
            fleet_file.write_text("".join(
                f'[enterprises."{7000 + n}"]\nport = {s.port}\nremote_dir = "{s.served_dir}"\n'
                for n, s in enumerate(servers)))
            base: dict[str, Any] = {"home": work / "home", "ssh_user": "astpbx", "ssh_key_file": key_path,
                    "known_hosts_file": known_hosts, "fleet_file": fleet_file, "pbx_timezone": pbx_day.zone}
            incremental = Settings(**base, live_fetch="query")
            whole = Settings(**base, live_fetch="copy")
            engine = make_engine(url, sessions=incremental.ssh_max_sessions)
            upgrade(engine)
            with write_transaction(engine) as conn:
                for n, server in enumerate(servers):
                    upsert_enterprise(conn, Enterprise(str(7000 + n), f"bench{n}", f"pbx{n}.lan",
                                                       f"s{n}", server.host, f"{375000 + n}"))
            first_memory: dict[str, int] = {}
            first, _ = _cycle(engine, incremental, pbx_day.now, first_memory)
            rows_per_file = statistics.median(o.rows_read for o in first.outcomes)
            print(f"  first cycle (import everything): {first.seconds:.2f} s, "
                  f"{rows_per_file:.0f} rows per file, {first.bytes_transferred:,} bytes, peak RSS "
                  f"{first_memory['peak'] / 2**20:.0f} MiB (+{(first_memory['peak'] - first_memory['before']) / 2**20:.0f})")
            reps: list[dict[str, Any]] = []
            for rep in range(repeat):
                added = _append(servers, 2 * rep + 1, pbx_day)
                inc_memory: dict[str, int] = {}
                inc, inc_cpu = _cycle(engine, incremental, pbx_day.now, inc_memory)
                added_copy = _append(servers, 2 * rep + 2, pbx_day)
                full_memory: dict[str, int] = {}
                full, _ = _cycle(engine, whole, pbx_day.now, full_memory)
                assert sum(o.rows_read for o in inc.outcomes) == added
                assert sum(o.rows_read for o in full.outcomes) == added_copy
                reps.append({"incremental_s": inc.seconds, "incremental_bytes": inc.bytes_transferred,
                             "whole_s": full.seconds, "whole_bytes": full.bytes_transferred,
                             "new_rows": added, "incremental_peak_rss": inc_memory["peak"],
                             "incremental_rss_growth": inc_memory["peak"] - inc_memory["before"],
                             "whole_peak_rss": full_memory["peak"],
                             "incremental_cpu_s": inc_cpu.per_part()})
                print(f"  rep {rep + 1}/{repeat}: +{added} rows; incremental {inc.seconds:.2f} s "
                      f"{inc.bytes_transferred:,} B, peak RSS {inc_memory['peak'] / 2**20:.0f} MiB "
                      f"(+{(inc_memory['peak'] - inc_memory['before']) / 2**20:.0f}); whole files "
                      f"{full.seconds:.2f} s {full.bytes_transferred:,} B, peak RSS "
                      f"{full_memory['peak'] / 2**20:.0f} MiB\n    incremental cycle's {inc_cpu.text()} "
                      f"(wall × cores: {os.cpu_count() or 1} × {inc.seconds:.1f} s)", flush=True)
            engine.dispose()
        finally:
            for server in servers:
                server.close()
    figures = {
        "pbxes": count,
        "rows_per_file": rows_per_file,
        "incremental_cycle_s": statistics.median(r["incremental_s"] for r in reps),
        "whole_file_cycle_s": statistics.median(r["whole_s"] for r in reps),
        "incremental_bytes": statistics.median(r["incremental_bytes"] for r in reps),
        "whole_file_bytes": statistics.median(r["whole_bytes"] for r in reps),
        "first_cycle_s": first.seconds,
        "first_cycle_peak_rss": first_memory["peak"],
        "incremental_peak_rss": max(r["incremental_peak_rss"] for r in reps),
        "incremental_cpu_per_sync_ms": {
            part: 1000 * statistics.median(r["incremental_cpu_s"][part] for r in reps) / count
            for part in ("pipeline", "pbxes", "rest")},
        "repetitions": reps,
    }
    share = figures["incremental_bytes"] / figures["whole_file_bytes"]
    figures["bytes_share"] = share
    print(f"\n  incremental cycle, {count} PBXes (median) {figures['incremental_cycle_s']:8.2f} s   "
          f"target <= {TARGET_S:.0f} s   {'PASS' if figures['incremental_cycle_s'] <= TARGET_S else 'FAIL  <<<'}")
    print(f"  peak RSS of an incremental cycle (max) {figures['incremental_peak_rss'] / 2**20:6.0f} MiB   "
          f"(first, importing everything: {figures['first_cycle_peak_rss'] / 2**20:.0f} MiB)")
    per_sync = figures["incremental_cpu_per_sync_ms"]
    print(f"  CPU per incremental sync (median) pipeline {per_sync['pipeline']:.1f} ms, the PBX's sshd "
          f"{per_sync['pbxes']:.1f} ms, the rest (PostgreSQL…) {per_sync['rest']:.1f} ms")
    print(f"  whole-file cycle (median)    {figures['whole_file_cycle_s']:8.2f} s   (baseline)")
    print(f"  bytes incremental / whole    {share:8.2%}   target <= 10 %   "
          f"{'PASS' if share <= 0.10 else 'FAIL  <<<'}"
          f"   ({figures['incremental_bytes']:,.0f} B vs {figures['whole_file_bytes']:,.0f} B)")
    print(f"  reproduce: cd {Path(__file__).resolve().parents[1]} && .venv/bin/python -m benchmarks "
          f"--only live_cycle{' --quick' if quick else ''} --repeat {repeat}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_name(RESULTS.stem + ("-quick" if quick else "") + ".json").write_text(json.dumps(figures, indent=2))
    return figures
