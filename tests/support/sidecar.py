"""The sidecar as a real ``asterisk-pipeline serve`` process (tests/api)."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.dagster_dev import free_port, wait_until

CLI = str(Path(sys.executable).with_name("asterisk-pipeline"))


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def serve(env: dict[str, str], dagster_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--dagster-url", dagster_url],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.poll() is not None or answers(f"{url}/"), 60, "the sidecar")
    if process.poll() is not None:
        raise RuntimeError(f"asterisk-pipeline serve exited with {process.returncode}: {log.read_text()[-2000:]}")
    return process, url


def stop_serving(process: subprocess.Popen) -> None:
    """SIGTERM, as systemd stops the sidecar; killed if it has not exited within 20 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
