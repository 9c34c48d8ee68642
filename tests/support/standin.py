"""Something at ASTERISK_DAGSTER_URL that is not a working Dagster webserver, as a real process.

``python -m tests.support.standin PORT`` answers every request 200 with an HTML page (what a
reverse proxy's login page or another web app at a wrong URL looks like). SIGSTOP it and it is
a hung webserver as the sidecar sees one: the kernel still accepts connections (backlog 2048,
as uvicorn's) and nothing ever answers.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.dagster_dev import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PAGE = b"<!doctype html><html><head><title>Sign in</title></head><body>Please sign in</body></html>"


class _Html(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 2048
    daemon_threads = True


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def html_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The stand-in in its own process; yields its URL and the process (to SIGSTOP)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.standin", str(port)], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), 30, "the stand-in server")
        yield url, process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    _Server(("127.0.0.1", int(sys.argv[1])), _Html).serve_forever()
