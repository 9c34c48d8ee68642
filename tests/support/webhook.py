"""A local webhook receiver for alert tests: a tiny ``http.server`` on 127.0.0.1 in a thread.

It records every JSON body POSTed to it; ``fail`` makes it answer 500 (a webhook that is down)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    fail: bool = False


@contextmanager
def webhook_receiver(path: str = "/hooks/secret-token-123") -> Iterator[Receiver]:
    """A receiver whose URL carries a token in its path (as Slack's and most others do)."""
    lock = threading.Lock()
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            with lock:
                if not receiver.fail:
                    receiver.received.append(payload)
                    receiver.paths.append(self.path)
            self.send_response(500 if receiver.fail else 204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
