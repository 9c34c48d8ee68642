"""The demo refuses a busy port before it starts anything (it used to print the URL while the
webserver logged "address already in use" and the sidecar talked to whatever held the port).
A real listening socket holds the port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asterisk_pipeline.devtools.demo import busy_ports
from tests.support.dagster_dev import free_port


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ASTERISK_DATABASE_URL"}
    env["ASTERISK_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "asterisk_pipeline.devtools.demo", *args],
                          check=False, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("option", ["--port", "--api-port"])
def test_a_busy_port_stops_the_demo_before_it_starts(
    tmp_path: Path, held_port: int, option: str,
) -> None:
    other = "--api-port" if option == "--port" else "--port"
    done = _demo(tmp_path / "home", option, str(held_port), other, str(free_port()))
    assert done.returncode == 2, done.stdout + done.stderr
    what = "Dagster UI" if option == "--port" else "REST sidecar"
    assert f"port {held_port} on 127.0.0.1 ({what}) is not free" in done.stderr
    assert f"choose another port with {option} N" in done.stderr
    assert "Dagster UI:" not in done.stdout  # no URL printed
    assert not (tmp_path / "home").exists()  # nothing simulated, migrated or started


def test_free_ports_pass_and_each_busy_one_is_named(held_port: int) -> None:
    free = free_port()
    assert busy_ports([("Dagster UI", free, "127.0.0.1", "--port")]) == []
    errors = busy_ports([("Dagster UI", free, "127.0.0.1", "--port"),
                         ("REST sidecar", held_port, "127.0.0.1", "--api-port")])
    assert len(errors) == 1 and str(held_port) in errors[0] and "--api-port" in errors[0]
