"""``make soak``: the demo stack for an hour, sampled (issue 12 part 4). Not part of ``make bench``.

Starts ``python -m asterisk_pipeline.devtools.demo`` (five simulated PBXes, the live writer, ``dagster
dev`` with the one-minute live schedule, the REST sidecar) on free ports under its own
``ASTERISK_HOME``, then every ``--every`` seconds samples the RSS of each process of its tree by
role (webserver, daemon, code server, sidecar, demo/live writer, each run process) with psutil.
At the end it reads the live schedule's ticks and the live runs from the webserver's GraphQL and
reports:

- missed ticks: schedule minutes inside the window without a tick (a SKIPPED tick — a live run
  still active — is counted apart, it is not missed), and ticks that FAILED;
- failed runs: live runs in FAILURE (or CANCELED) among those started in the window;
- growth per process: RSS at the end minus the RSS after the warm-up (the first ``--warmup``
  minutes), and the peak; for run processes, the peak RSS of the first and the last runs.

Target (issue 12): no missed tick, no failed run, no process growing by more than 100 MB.
Writes ``samples.csv``, ``report.txt`` and ``soak.png`` (matplotlib) in the output directory.

    python -m benchmarks.soak [--minutes 60] [--every 30] [--out bench-data/soak]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
GROWTH_LIMIT_MB = 100.0
ROLES = ("webserver", "daemon", "code_server", "sidecar", "demo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role_of(process: psutil.Process) -> str | None:
    """What a process of the demo tree is, from its command line."""
    try:
        cmd = " ".join(process.cmdline()[:6])  # not the long --instance-ref JSON
    except psutil.Error:
        return None
    # A run: `dagster api execute_run`, or (the code server's launcher in Dagster 1.13) a
    # multiprocessing spawn child of the code server.
    if "execute_run" in cmd or "execute_step" in cmd or "spawn_main" in cmd:
        return "run"
    if "dagster-webserver" in cmd or "dagster_webserver" in cmd:
        return "webserver"
    if "dagster-daemon" in cmd or "dagster_daemon" in cmd or "_daemon run" in cmd:
        return "daemon"
    if "api grpc" in cmd or "code-server" in cmd or "code_server" in cmd:
        return "code_server"
    if "asterisk-pipeline serve" in cmd or ("serve" in cmd and "asterisk" in cmd and "--port" in cmd):
        return "sidecar"
    if "asterisk_pipeline.devtools.demo" in cmd:
        return "demo"
    if "dagster dev" in cmd or cmd.endswith("/dagster dev") or " dev -w " in cmd:
        return "dagster_dev"
    return None


@dataclass
class Sample:
    t: float  # seconds since the stack answered
    rss_mb: dict[str, float] = field(default_factory=dict)  # role -> summed RSS (MB)
    runs: dict[int, float] = field(default_factory=dict)  # run process pid -> RSS (MB)


def sample_tree(root: psutil.Process, t0: float) -> Sample:
    sample = Sample(t=time.monotonic() - t0)
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return sample
    for process in processes:
        role = role_of(process)
        if role is None:
            continue
        try:
            rss = process.memory_info().rss / MB
        except psutil.Error:
            continue
        if role == "run":
            sample.runs[process.pid] = rss
        else:
            sample.rss_mb[role] = sample.rss_mb.get(role, 0.0) + rss
    return sample


def sample_runs(root: psutil.Process) -> dict[int, float]:
    """RSS (MB) of the run processes alive now."""
    found: dict[int, float] = {}
    try:
        children = root.children(recursive=True)
    except psutil.Error:
        return found
    for process in children:
        if role_of(process) == "run":
            try:
                found[process.pid] = process.memory_info().rss / MB
            except psutil.Error:
                continue
    return found


def graphql(url: str, query: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]  # type: ignore[no-any-return]


TICKS_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name
    schedules { name scheduleState { ticks(limit: %d) { status timestamp runIds skipReason
      error { message } } } } } } } }
"""
RUNS_QUERY = """
{ runsOrError(filter: {pipelineName: "live_sync_job"}, limit: %d) { ... on Runs { results {
    runId status startTime endTime } } } }
"""


def schedule_ticks(url: str, limit: int) -> list[dict]:  # type: ignore[type-arg]
    data = graphql(url, TICKS_QUERY % limit)
    for repo in data["repositoriesOrError"]["nodes"]:
        for schedule in repo["schedules"]:
            if schedule["name"] == "live_sync_schedule":
                return list(schedule["scheduleState"]["ticks"])
    return []


def live_runs(url: str, limit: int) -> list[dict]:  # type: ignore[type-arg]
    return list(graphql(url, RUNS_QUERY % limit)["runsOrError"]["results"])


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo exited with {process.returncode}")
        try:
            if urllib.request.urlopen(f"{url}/server_info", timeout=2).status == 200:
                schedule_ticks(url, 1)  # the code location is loaded
                return
        except (OSError, KeyError, TypeError):
            pass
        time.sleep(2)
    raise TimeoutError(f"the Dagster webserver did not answer within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # the demo stops its sidecar and dagster dev
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def analyse(samples: list[Sample], ticks: list[dict], runs: list[dict],  # type: ignore[type-arg]
            window: tuple[float, float], warmup_s: float,
            polled_runs: dict[int, float], polls: dict[int, int]) -> tuple[str, bool]:
    """The report text and whether every target was met."""
    start, end = window
    lines: list[str] = []
    # Ticks: one per schedule minute strictly inside the window (the first and last minutes may
    # be cut by the start and the stop).
    in_window = [t for t in ticks if start <= t["timestamp"] <= end]
    minutes = {int(t["timestamp"] // 60) for t in in_window}
    first_minute, last_minute = int(start // 60) + 1, int(end // 60) - 1
    expected = set(range(first_minute, last_minute + 1))
    missed = sorted(expected - minutes)
    by_status: dict[str, int] = {}
    for t in in_window:
        by_status[t["status"]] = by_status.get(t["status"], 0) + 1
    failed_ticks = by_status.get("FAILURE", 0)
    window_runs = [r for r in runs if r["startTime"] and start <= r["startTime"] <= end]
    run_status: dict[str, int] = {}
    for r in window_runs:
        run_status[r["status"]] = run_status.get(r["status"], 0) + 1
    failed_runs = run_status.get("FAILURE", 0) + run_status.get("CANCELED", 0)
    durations = sorted(r["endTime"] - r["startTime"] for r in window_runs if r["endTime"])
    lines.append(f"window: {datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M:%S} .. "
                 f"{datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC "
                 f"({(end - start) / 60:.1f} min), {len(samples)} samples")
    lines.append(f"schedule ticks: {len(in_window)} {dict(sorted(by_status.items()))}; expected "
                 f"minutes {len(expected)}, missed {len(missed)}, failed ticks {failed_ticks}")
    lines.append(f"live runs: {len(window_runs)} {dict(sorted(run_status.items()))}; failed "
                 f"{failed_runs}; run seconds median "
                 f"{durations[len(durations) // 2] if durations else float('nan'):.1f}, max "
                 f"{durations[-1] if durations else float('nan'):.1f}")
    # Growth per role: end minus the first sample after the warm-up.
    after = [s for s in samples if s.t >= warmup_s] or samples
    header = ("process", "after warm-up MB", "end MB", "peak MB", "growth MB", "ok")
    rows: list[tuple[str, ...]] = []
    ok_growth = True
    for role in (*ROLES, "dagster_dev"):
        series = [s.rss_mb[role] for s in after if role in s.rss_mb]
        if not series:
            continue
        growth = series[-1] - series[0]
        peak = max(s.rss_mb.get(role, 0.0) for s in samples)
        good = growth <= GROWTH_LIMIT_MB
        ok_growth &= good
        rows.append((role, f"{series[0]:.0f}", f"{series[-1]:.0f}", f"{peak:.0f}",
                     f"{growth:+.0f}", "yes" if good else "NO"))
    # Only runs seen for 3 s or more: a process caught as it spawned or exited has no real peak.
    run_peaks = {pid: rss for pid, rss in polled_runs.items() if polls.get(pid, 0) >= 3} or dict(
        polled_runs)
    for s in samples:
        for pid, rss in s.runs.items():
            run_peaks[pid] = max(run_peaks.get(pid, 0.0), rss)
    if run_peaks:
        peaks = [run_peaks[pid] for pid in sorted(run_peaks)]  # pid order ~ start order
        k = max(1, len(peaks) // 10)
        first, last = sum(peaks[:k]) / k, sum(peaks[-k:]) / k
        good = last - first <= GROWTH_LIMIT_MB
        ok_growth &= good
        rows.append((f"run processes ({len(peaks)} seen)", f"{first:.0f}", f"{last:.0f}",
                     f"{max(peaks):.0f}", f"{last - first:+.0f}", "yes" if good else "NO"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines.append("")
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) for r in [header, *rows])
    if run_peaks:
        lines.append("(run processes: mean peak RSS of the first and of the last tenth of the "
                     "run processes sampled)")
    ok = not missed and failed_ticks == 0 and failed_runs == 0 and ok_growth
    lines.append("")
    lines.append(f"targets (no missed tick, no failed run, growth <= {GROWTH_LIMIT_MB:.0f} MB): "
                 + ("MET" if ok else "NOT MET"))
    if missed:
        lines.append("missed minutes (UTC): " + ", ".join(
            f"{datetime.fromtimestamp(m * 60, UTC):%H:%M}" for m in missed[:20]))
    for t in in_window:
        if t["status"] == "FAILURE":
            lines.append(f"failed tick {t['timestamp']:.0f}: {(t['error'] or {}).get('message', '')[:300]}")
    return "\n".join(lines), ok


def plot(samples: list[Sample], run_peaks: dict[int, float], seen: dict[int, float],
         path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(10, 5))
    for role in (*ROLES, "dagster_dev"):
        points = [(s.t / 60, s.rss_mb[role]) for s in samples if role in s.rss_mb]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=role)
    run_points = [(seen[pid] / 60, rss) for pid, rss in run_peaks.items() if pid in seen]
    if run_points:
        ax.scatter([p[0] for p in run_points], [p[1] for p in run_points], s=8, c="grey",
                   label="run processes (peak)")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("make soak: RSS per process of the demo stack")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_csv(samples: list[Sample], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["t_s", *ROLES, "dagster_dev", "run_processes", "run_rss_mb_max"])
        for s in samples:
            writer.writerow([f"{s.t:.0f}", *(f"{s.rss_mb.get(r, 0.0):.1f}" for r in ROLES),
                             f"{s.rss_mb.get('dagster_dev', 0.0):.1f}", len(s.runs),
                             f"{max(s.runs.values(), default=0.0):.1f}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float,
                        default=float(os.environ.get("SOAK_MINUTES", "60")),
                        help="how long to sample after the warm-up starts (env SOAK_MINUTES)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="minutes before the growth baseline is taken")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-data" / "soak")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    home = out / "home"
    if home.exists():
        shutil.rmtree(home)
    out.mkdir(parents=True, exist_ok=True)
    port, api_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ASTERISK_HOME": str(home)}
    env.pop("ASTERISK_DATABASE_URL", None)  # the embedded warehouse under home
    log = open(out / "demo.log", "wb")  # noqa: SIM115 - closed at the end
    demo = subprocess.Popen(
        [sys.executable, "-m", "asterisk_pipeline.devtools.demo", "--port", str(port),
         "--api-port", str(api_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    print(f"[soak] demo pid {demo.pid}: {url}, sidecar :{api_port}; log {out / 'demo.log'}",
          flush=True)
    samples: list[Sample] = []
    run_peaks: dict[int, float] = {}  # run process pid -> peak RSS (MB), polled every second
    run_seen: dict[int, float] = {}  # pid -> seconds since start when first seen
    run_polls: dict[int, int] = {}  # pid -> how many polls saw it
    ok = False
    try:
        _wait_for(url, demo, 600)
        root = psutil.Process(demo.pid)
        t0 = time.monotonic()
        start = time.time()
        deadline = t0 + args.minutes * 60
        print(f"[soak] stack up; sampling every {args.every:.0f} s for {args.minutes:.0f} min",
              flush=True)
        with open(out / "progress.log", "w") as progress:
            while time.monotonic() < deadline:
                if demo.poll() is not None:
                    raise RuntimeError(f"the demo exited with {demo.returncode}; see demo.log")
                sample = sample_tree(root, t0)
                samples.append(sample)
                progress.write(f"{sample.t:6.0f}s " + " ".join(
                    f"{k}={v:.0f}" for k, v in sorted(sample.rss_mb.items()))
                    + f" runs={len(sample.runs)}"
                    + (f" run_max={max(sample.runs.values()):.0f}" if sample.runs else "") + "\n")
                progress.flush()
                # Run processes live a few seconds: between two samples, poll them every second.
                until = min(time.monotonic() + args.every, deadline)
                while time.monotonic() < until:
                    time.sleep(1.0)
                    for pid, rss in sample_runs(root).items():
                        run_peaks[pid] = max(run_peaks.get(pid, 0.0), rss)
                        run_seen.setdefault(pid, time.monotonic() - t0)
                        run_polls[pid] = run_polls.get(pid, 0) + 1
        end = time.time()
        ticks = schedule_ticks(url, 2000)
        runs = live_runs(url, 2000)
        text, ok = analyse(samples, ticks, runs, (start, end), args.warmup * 60, run_peaks,
                           run_polls)
    finally:
        _stop(demo)
        log.close()
    write_csv(samples, out / "samples.csv")
    plotted = plot(samples, run_peaks, run_seen, out / "soak.png")
    text += f"\nsamples: {out / 'samples.csv'}" + (f"; plot: {out / 'soak.png'}" if plotted else
                                                   "; no plot (matplotlib missing)")
    (out / "report.txt").write_text(text + "\n")
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
