"""``make run``: a local demo of the Dagster layer over a simulated five-PBX fleet.

Simulates 14 days of history for the seed enterprises under ``$ASTERISK_HOME/demo-logs`` (local
transport, no SSH), migrates the warehouse and registers the enterprises through the CLI, keeps
appending live calls to today's files as the PBX clock moves (:mod:`.live_writer`), runs
``dagster dev`` on port 3000 with a one-minute live schedule and the REST sidecar on port 8007.
A busy port stops it before anything starts; its banner names the warehouse and the one line
that points the CLI at it. Ctrl-C stops everything this started.

    python -m asterisk_pipeline.devtools.demo [--port 3000] [--api-port 8007] [--calls-per-day 200] [--days 14]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..names import CALLS, LIVE_JOB
from ..settings import Settings, env_var
from ..warehouse.db import mask_url
from .fleet import simulate_fleet, token_for
from .live_writer import LiveWriter

SEED_ENTERPRISES = {
    "0100": "Radis1",
    "0200": "july1",
    "0201": "Vochi",
    "0327": "VOS",
    "0367": "june",
}
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UI_HOST = "127.0.0.1"  # where dagster dev listens


def _live_writer(writer: LiveWriter, stop: threading.Event, every_s: float) -> None:
    """A tick of the clock-following writer every ``every_s`` seconds (a locked file just waits
    for the next tick: its rows stay pending)."""
    while not stop.wait(every_s):
        try:
            writer.tick()
        except Exception as exc:  # noqa: BLE001
            print(f"[demo] live writer: {type(exc).__name__}: {exc}", file=sys.stderr)


def busy_ports(ports: Sequence[tuple[str, int, str, str]]) -> list[str]:
    """One message per (what, port, host, option) whose port cannot be bound on ``host``.

    Why before anything starts: ``dagster dev`` only logs "address already in use" after the demo
    printed its URL, and the sidecar then talks to whatever holds the port.
    """
    errors = []
    for what, port, host, option in ports:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # as uvicorn and the webserver bind: a port in TIME_WAIT is free, a listener is not
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                errors.append(f"port {port} on {host} ({what}) is not free: {exc.strerror}; "
                              f"stop what holds it or choose another port with {option} N")
    return errors


def cli_hint(settings: Settings, home: Path) -> tuple[str, str]:
    """(the demo's warehouse, the one line that points the CLI of another shell at it).

    Why: the CLI's default home is ``./.asterisk``, not the demo's; without the line
    ``asterisk-pipeline stats`` opened another (empty) database.
    """
    export = f"export {env_var('home')}={shlex.quote(str(home))}"
    if settings.database_url:  # the demo's children got it from this shell's environment
        return (mask_url(settings.database_url),
                f"{export}  (and {env_var('database_url')} as in this shell)")
    warehouse = Settings(home=home).resolved_database_url
    return warehouse, f"{export}   then e.g. asterisk-pipeline stats"


def _cli(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(BIN / "asterisk-pipeline"), *args], check=True, env=env, stdout=subprocess.DEVNULL
    )


def _environment(home: Path, dagster_home: Path, first_day: date) -> dict[str, str]:
    """The children's environment (CLI, dagster dev, the sidecar read their Settings from it):
    the caller's, with the demo's fleet, home and a one-minute live schedule in front."""
    demo_settings = {
        "home": str(home),
        "transport": "local",
        "local_logs_dir": str(home / "demo-logs"),
        "live_interval_minutes": "1",
        "history_start": first_day.isoformat(),
    }
    return {
        **os.environ,
        **{env_var(field): value for field, value in demo_settings.items()},
        "DAGSTER_HOME": str(dagster_home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _stop(
    dagster: subprocess.Popen[bytes], sidecar: subprocess.Popen[bytes] | None,
) -> None:
    """Stop the sidecar, then dagster dev's process group; kill what does not stop in time."""
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
    wanted = [("Dagster UI", args.port, UI_HOST, "--port")]
    if args.api_port:
        wanted.append(("REST sidecar", args.api_port, settings.api_host, "--api-port"))
    errors = busy_ports(wanted)
    for error in errors:
        print(f"[demo] error: {error}", file=sys.stderr)
    if errors:
        return 2
    # The demo keeps its data apart from a real home unless ASTERISK_HOME names one.
    home = (settings.home if "home" in settings.model_fields_set else ROOT / ".asterisk" / "demo").resolve()
    logs = home / "demo-logs"
    dagster_home = home / "dagster"
    zone = ZoneInfo(settings.pbx_timezone)
    today = datetime.now(zone).date()
    env = _environment(home, dagster_home, first_day=today - timedelta(days=args.days))

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
    writer = LiveWriter(logs, list(SEED_ENTERPRISES), lambda: datetime.now(zone))
    writer.tick(lambda tick, index: 1)  # today's files exist from the start
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
    writing = threading.Thread(
        target=_live_writer, args=(writer, stop, args.live_every), daemon=True
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
    writing.start()
    url = f"http://127.0.0.1:{args.port}"
    warehouse, hint = cli_hint(settings, home)
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
        f"[demo] warehouse:         {warehouse}\n"
        f"[demo] CLI on it:         {hint}\n"
        f"[demo] logs: {logs};  DAGSTER_HOME={dagster_home}\n"
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
        _stop(dagster, sidecar)
        writing.join(timeout=10)
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
