"""``make run``: a local demo of the Dagster layer over a simulated five-PBX fleet.

Simulates 14 days of history for the seed enterprises under ``$ASTERISK_HOME/demo-logs`` (local
transport, no SSH), migrates the warehouse and registers the enterprises through the CLI, keeps
appending live calls to today's files, runs ``dagster dev`` on port 3000 with a one-minute
live schedule and the REST sidecar on port 8007. Ctrl-C stops everything this started.

    python -m asterisk_pipeline.devtools.demo [--port 3000] [--api-port 8007] [--calls-per-day 200] [--days 14]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..names import CALLS, LIVE_JOB
from ..settings import Settings, env_var
from ..warehouse.db import mask_url
from .fleet import day_file_path, simulate_fleet, token_for
from .live import append_calls

SEED_ENTERPRISES = {
    "0100": "Radis1",
    "0200": "july1",
    "0201": "Vochi",
    "0327": "VOS",
    "0367": "june",
}
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Live files of each enterprise get their own UniqueId range, far from the history ranges.
LIVE_ID_BASE = 9 * 10**8
LIVE_ID_STRIDE = 10**7
LIVE_LAG_S = 300  # live calls start within the last five minutes


def _today(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def _append_live(
    logs: Path, number: str, index: int, zone: ZoneInfo, *, calls: int, seed: int, dirty_share: float
) -> None:
    """Complete calls in today's file, starting in the last few minutes of the PBX clock.

    Calls follow the clock, so the demo never shows calls later than now; UniqueIds start in the
    enterprise's own live range, above the history files' ids.
    """
    now = datetime.now(zone)
    seconds_today = now.hour * 3600 + now.minute * 60 + now.second
    append_calls(
        day_file_path(logs, number, now.date()),
        token=token_for(number),
        day=now.date(),
        calls=calls,
        seed=seed,
        dirty_share=dirty_share,
        not_before=max(0, seconds_today - LIVE_LAG_S),
        min_id=LIVE_ID_BASE + index * LIVE_ID_STRIDE,
    )


def _live_writer(logs: Path, zone: ZoneInfo, stop: threading.Event, every_s: float) -> None:
    """Appends a couple of complete calls per enterprise every ``every_s`` seconds."""
    tick = 0
    while not stop.wait(every_s):
        tick += 1
        for index, number in enumerate(SEED_ENTERPRISES):
            try:
                _append_live(logs, number, index, zone, calls=1 + (tick + index) % 3,
                             seed=tick * 100 + index, dirty_share=0.01)
            except Exception as exc:  # noqa: BLE001 - a locked file just waits for the next tick
                print(f"[demo] live writer: {number}: {type(exc).__name__}: {exc}", file=sys.stderr)


def _cli(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(BIN / "asterisk-pipeline"), *args], check=True, env=env, stdout=subprocess.DEVNULL
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    parser.add_argument("--api-port", type=int, default=8007, help="REST sidecar port (0: no sidecar)")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--calls-per-day", type=int, default=200)
    parser.add_argument(
        "--live-every", type=float, default=20.0, help="seconds between live appends"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    # The demo keeps its data apart from a real home unless ASTERISK_HOME names one.
    home = (settings.home if "home" in settings.model_fields_set else ROOT / ".asterisk" / "demo").resolve()
    logs = home / "demo-logs"
    dagster_home = home / "dagster"
    zone = ZoneInfo(settings.pbx_timezone)
    today = _today(zone)
    first_day = today - timedelta(days=args.days)
    # The children (CLI, dagster dev, the sidecar) read their Settings from this environment:
    # the caller's, with the demo's fleet, home and a one-minute live schedule in front.
    demo_settings = {
        "home": str(home),
        "transport": "local",
        "local_logs_dir": str(logs),
        "live_interval_minutes": "1",
        "history_start": first_day.isoformat(),
    }
    env = {
        **os.environ,
        **{env_var(field): value for field, value in demo_settings.items()},
        "DAGSTER_HOME": str(dagster_home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    print(
        f"[demo] simulating {len(SEED_ENTERPRISES)} PBXes × {args.days} days under {logs} ...",
        flush=True,
    )
    simulate_fleet(
        logs,
        enterprises=list(SEED_ENTERPRISES),
        days=args.days,
        calls_per_day=args.calls_per_day,
        end_date=today - timedelta(days=1),
        seed=7,
    )
    for index, number in enumerate(SEED_ENTERPRISES):  # today's files exist from the start
        _append_live(logs, number, index, zone, calls=1, seed=index, dirty_share=0.0)
    _cli("db", "upgrade", env=env)
    for number, name in SEED_ENTERPRISES.items():
        _cli(
            "enterprise",
            "add",
            number,
            "--name",
            name,
            "--host",
            f"pbx{number}.demo.lan",
            "--secret",
            f"demo-secret-{number}",
            "--token",
            token_for(number),
            env=env,
        )
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")

    stop = threading.Event()
    writer = threading.Thread(
        target=_live_writer, args=(logs, zone, stop, args.live_every), daemon=True
    )
    dagster = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-p", str(args.port)],
        # cwd: not the repo, whose dagster.yaml would only trigger a "not used" warning
        cwd=dagster_home,
        env=env,
        start_new_session=True,  # own process group: stopped as a whole
        # a demo started from a script inherits SIGINT ignored; dagster dev must still hear it.
        # preexec_fn is unsafe with threads: the writer thread is only started after this fork.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    writer.start()
    url = f"http://127.0.0.1:{args.port}"
    sidecar = None
    if args.api_port:
        sidecar = subprocess.Popen(
            [str(BIN / "asterisk-pipeline"), "serve", "--port", str(args.api_port), "--dagster-url", url],
            env=env, start_new_session=True,
        )
    print(
        f"\n[demo] Dagster UI:        {url}\n"
        f"[demo] asset lineage:     {url}/asset-groups\n"
        f"[demo] live runs:         {url}/jobs/{LIVE_JOB} (schedule every minute)\n"
        f"[demo] history backfill:  {url}/assets/{CALLS} → Materialize → pick dates/enterprises\n"
        f"[demo] the enterprise sensor adds the 5 partitions within ~45 s of start.\n"
        f"[demo] warehouse: {mask_url(settings.database_url) if settings.database_url else home / 'asterisk.db'};  "
        f"logs: {logs};  DAGSTER_HOME={dagster_home}\n"
        + (f"[demo] REST sidecar:      http://127.0.0.1:{args.api_port}  (docs: /docs; try "
           f"curl -s http://127.0.0.1:{args.api_port}/sync/live/status | jq)\n" if sidecar else "")
        + "[demo] Ctrl-C stops everything.\n",
        flush=True,
    )
    # Ctrl-C and `kill` both stop the demo, even when started from a script that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        code = dagster.wait()
    except KeyboardInterrupt:
        print("\n[demo] stopping ...", flush=True)
    finally:
        stop.set()
        if sidecar is not None and sidecar.poll() is None:
            sidecar.terminate()  # uvicorn shuts down on SIGTERM
            try:
                sidecar.wait(timeout=15)
            except subprocess.TimeoutExpired:
                sidecar.kill()
                sidecar.wait()
        if dagster.poll() is None:
            os.killpg(dagster.pid, signal.SIGINT)  # dagster dev shuts its webserver and daemon down
            try:
                dagster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(dagster.pid, signal.SIGKILL)
                dagster.wait()
        writer.join(timeout=10)
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
