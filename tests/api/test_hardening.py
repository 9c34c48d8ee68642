"""The sidecar against hostile and broken peers (SPEC §5, §6), as a real ``asterisk-pipeline
serve`` process (uvicorn) on PostgreSQL: huge bodies, slow clients, a Dagster URL that answers
HTML, and binds beyond loopback. The hung-webserver case runs on the live stack (a real
``dagster-webserver`` stopped with SIGSTOP), in test_live_stack.py.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.dagster_dev import free_port
from tests.support.pg import database_url, new_pg_database
from tests.support.sidecar import CLI, serve
from tests.support.standin import html_server

TOKEN = "hardening-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLIENT_TIMEOUT_S = 2.0
FIFTY_MB = 50 * 1024 * 1024
FD_LIMIT = 256


@dataclass
class Sidecar:
    api: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    dagster: str


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """One sidecar with a token, a 2-s client timeout and, at ASTERISK_DAGSTER_URL, a real HTTP
    server that answers HTML (tests.support.standin)."""
    work = tmp_path_factory.mktemp("hardening")
    with new_pg_database("ap_hard") as name, html_server() as (dagster, _):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTERISK_", "DAGSTER_"))}
        env.update(ASTERISK_HOME=str(work / "home"), ASTERISK_DATABASE_URL=database_url(name),
                   ASTERISK_TRANSPORT="local", ASTERISK_LOCAL_LOGS_DIR=str(work / "logs"),
                   ASTERISK_API_TOKEN=TOKEN, ASTERISK_API_CLIENT_TIMEOUT_S=str(CLIENT_TIMEOUT_S))
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([CLI, "enterprise", "add", "0327", "--name", "VOS", "--host", "vos.lan",
                        "--secret", "pbx-secret"], env=env, check=True, capture_output=True)
        process, api = serve(env, dagster, work / "serve.log")
        try:
            yield Sidecar(api, process, env, work / "serve.log", dagster)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def _timed(fn: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    began = time.monotonic()
    response = fn()
    return time.monotonic() - began, response


def _health_times(api: str, stop: threading.Event, out: list[float]) -> None:
    """GET /health every 50 ms until ``stop``: each answer's latency (a failure counts as 99 s)."""
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            try:
                seconds, response = _timed(lambda: http.get(f"{api}/health"))
                out.append(seconds if response.status_code in (200, 503) else 99.0)
            except httpx.HTTPError:
                out.append(99.0)
            stop.wait(0.05)


def _status_line(sock: socket.socket, within: float) -> bytes:
    """The first line the server sends on ``sock`` (b"" when it closes without a word)."""
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    return data.split(b"\r\n", 1)[0]


def _whole_answer(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends on ``sock`` until it closes it."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _port(api: str) -> int:
    return int(api.rsplit(":", 1)[1])


def _stream_body(sock: socket.socket, total: int, *, chunked: bool, stop: threading.Event) -> None:
    """Send ``total`` bytes of a JSON array as fast as the server takes them, until it stops."""
    piece = b"[" + b"1," * 4095 + b"1]"  # 8 KiB of JSON array
    sent = 0
    try:
        while sent < total and not stop.is_set():
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: what we want


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mb_body_answers_413_within_a_second_and_health_stays_fast(sidecar: Sidecar, chunked: bool) -> None:
    """No token sent: 413, not 401 — the size is refused before authentication costs anything."""
    times: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=_health_times, args=(sidecar.api, stop, times))
    prober.start()
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", _port(sidecar.api))) as sock:
            framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % FIFTY_MB
            began = time.monotonic()
            sock.sendall(b"POST /sync/0327 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"%s\r\n\r\n" % framing)
            sender_stop = threading.Event()
            sender = threading.Thread(target=_stream_body, args=(sock, FIFTY_MB),
                                      kwargs={"chunked": chunked, "stop": sender_stop})
            sender.start()
            line = _status_line(sock, within=5)
            answered_s = time.monotonic() - began
            sender_stop.set()
            sender.join()
        time.sleep(0.5)
    finally:
        stop.set()
        prober.join()
    assert line.startswith(b"HTTP/1.1 413"), line
    assert answered_s < 1.0, answered_s
    assert times and max(times) < 1.0, sorted(times)[-5:]


def test_curl_posting_50_mb_gets_413_at_once(sidecar: Sidecar, tmp_path: Path) -> None:
    """The operators' client: curl sends ``Expect: 100-continue`` for a big body, and the 413
    comes back before it has sent any of it."""
    big = tmp_path / "big.json"
    with open(big, "wb") as out:
        out.write(b"[" + b"1," * (FIFTY_MB // 2) + b"1]")
    began = time.monotonic()
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30",
                           "-X", "POST", f"{sidecar.api}/sync/0327", "-H", "Content-Type: application/json",
                           "--data-binary", f"@{big}"], capture_output=True, text=True, check=False)
    assert done.stdout == "413", (done.stdout, done.stderr)
    assert time.monotonic() - began < 1.0


def test_bodies_just_over_and_under_the_limit(sidecar: Sidecar) -> None:
    over = httpx.post(f"{sidecar.api}/sync/0327", content=b"[" + b"1," * 33_000 + b"1]", headers=AUTH)
    assert over.status_code == 413 and "65536" in over.json()["detail"]
    # Under the limit, parsed and refused for its type: the 422 quotes an excerpt, not 60 KiB.
    wrong = httpx.post(f"{sidecar.api}/sync/0327", json=["x" * 100] * 600, headers=AUTH)
    assert wrong.status_code == 422 and len(wrong.content) < 1000, len(wrong.content)
    assert "chars)" in wrong.text and "object" in wrong.text
    long_date = httpx.post(f"{sidecar.api}/sync/0327", json={"date_from": "2025" * 5000}, headers=AUTH)
    assert long_date.status_code == 422 and len(long_date.content) < 1000


def test_headers_over_64_kib_answer_431(sidecar: Sidecar) -> None:
    """httptools sets no bound on a request's headers; the sidecar does."""
    with socket.create_connection(("127.0.0.1", _port(sidecar.api))) as sock:
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        except OSError:
            pass  # answered and closed while we were still sending
        answer = _whole_answer(sock, within=5)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])  # the one error shape, from the protocol too
    assert set(body) == {"detail", "errors"} and "larger than 65536 bytes" in body["detail"]
    assert httpx.get(f"{sidecar.api}/health", headers={"X-Fine": "a" * 4000}).status_code == 503  # no live sync yet


def test_trickling_clients_are_disconnected(sidecar: Sidecar) -> None:
    """Under a 256-descriptor limit (as the 240-connection incident had), 240 clients that
    connect and send nothing, trickle their headers a byte at a time, or trickle a body: the
    server closes every one of them within its client timeout, and /health answers after."""
    server = psutil.Process(sidecar.process.pid)
    old = server.rlimit(psutil.RLIMIT_NOFILE)
    server.rlimit(psutil.RLIMIT_NOFILE, (FD_LIMIT, old[1]))
    port = _port(sidecar.api)
    socks: list[tuple[str, socket.socket]] = []
    try:
        for index in range(240):
            kind = ("idle", "headers", "body")[index % 3]
            sock = socket.create_connection(("127.0.0.1", port))
            if kind == "body":
                sock.sendall(b"POST /sync/0327 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000\r\n" + AUTH_HEADER + b"\r\n{")
            socks.append((kind, sock))
        began = time.monotonic()
        header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        closed: dict[int, float] = {}
        heard: dict[int, bytes] = {i: b"" for i in range(len(socks))}
        step = 0
        while len(closed) < len(socks) and time.monotonic() - began < CLIENT_TIMEOUT_S + 10:
            for index, (kind, sock) in enumerate(socks):
                if index in closed:
                    continue
                try:
                    if kind == "headers" and step < len(header):
                        sock.sendall(header[step:step + 1])
                    elif kind == "body":
                        sock.sendall(b"1")
                except OSError:
                    pass  # closed by the server: the read below says so
                sock.setblocking(False)
                try:
                    while chunk := sock.recv(4096):
                        heard[index] += chunk
                    closed[index] = time.monotonic() - began  # EOF
                except BlockingIOError:
                    pass
                except OSError:
                    closed[index] = time.monotonic() - began
            step += 1
            time.sleep(0.25)
    finally:
        for _, sock in socks:
            sock.close()
        server.rlimit(psutil.RLIMIT_NOFILE, old)
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections still open"
    assert max(closed.values()) < CLIENT_TIMEOUT_S + 3, max(closed.values())
    # A trickled body may meet a reset (its unread bytes) before its 408 is read; headers may not.
    silent = {socks[i][0] for i in heard if not heard[i].startswith(b"HTTP/1.1 408")}
    assert silent <= {"body"}, {heard[i][:40] for i in heard}
    health = httpx.get(f"{sidecar.api}/health", timeout=5)
    assert health.status_code == 503 and health.json()["database"] == "ok"  # no live sync yet, DB answers


AUTH_HEADER = f"Authorization: Bearer {TOKEN}\r\n".encode()


def test_a_dagster_url_answering_html_is_503_not_500(sidecar: Sidecar) -> None:
    assert httpx.get(sidecar.dagster).headers["content-type"].startswith("text/html")
    for path, body in (("/sync/live/0327", None), ("/sync/live/all", None), ("/sync/0327", {})):
        response = httpx.post(f"{sidecar.api}{path}", json=body, headers=AUTH, timeout=30)
        assert response.status_code == 503, (path, response.text)
        assert "not a GraphQL answer" in response.json()["detail"], response.text
    status = httpx.get(f"{sidecar.api}/sync/status", timeout=30)
    assert status.status_code == 200 and status.json()["running"] is None
    assert "not a GraphQL answer" in status.json()["dagster"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "pbx-gateway.example"])
def test_serve_refuses_a_non_loopback_bind_without_a_token(sidecar: Sidecar, host: str) -> None:
    env = {k: v for k, v in sidecar.env.items() if k != "ASTERISK_API_TOKEN"}
    done = subprocess.run([CLI, "serve", "--host", host, "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert f"refusing to listen on {host}" in done.stderr and "ASTERISK_API_TOKEN" in done.stderr


def test_serve_binds_beyond_loopback_with_a_token_and_to_loopback_without(sidecar: Sidecar, tmp_path: Path) -> None:
    """The module's sidecar itself runs on 127.0.0.1 with a token; here 0.0.0.0 with one, and
    127.0.0.1 without."""
    without = {k: v for k, v in sidecar.env.items() if k != "ASTERISK_API_TOKEN"}
    for env in ({**sidecar.env, "ASTERISK_API_HOST": "0.0.0.0"}, {**without, "ASTERISK_API_HOST": "127.0.0.1"}):
        process, api = serve(env, sidecar.dagster, tmp_path / "serve.log")  # raises if it exits
        try:
            assert httpx.get(f"{api}/").json()["status"] == "running"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
