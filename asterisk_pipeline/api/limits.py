"""What the sidecar refuses before any endpoint runs: big bodies, slow clients, open binds.

Why here and not in the endpoints: a 50 MB JSON array used to be read, parsed and validated
(then echoed back in the 422) before the token was even looked at, stalling every endpoint for
47 s; and uvicorn has no timeout for a request's headers or body, so a client sending one byte a
second held its socket (and a file descriptor) for ever. SPEC §5: bodies over 64 KiB answer 413
before they are parsed or authenticated; slow clients are timed out; 4xx answers echo at most a
short excerpt of the input. SPEC §6: no bind beyond loopback without a token.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import error_body

#: SPEC §5: request bodies larger than this answer 413 unread.
MAX_BODY_BYTES = 64 * 1024
#: Request line + headers larger than this answer 431 (uvicorn/httptools set no bound at all).
MAX_HEADER_BYTES = 64 * 1024
def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    """A short JSON error that also closes the connection (the rest of the body stays unread)."""
    body = json.dumps(error_body(detail)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: reads a request's body (at most ``max_bytes``, within
    ``timeout_s``) before the application sees the request.

    413 at once when ``Content-Length`` says too much, or as soon as a chunked body passes the
    limit; 408 when the body does not arrive in time (a client trickling bytes). Either way the
    application never runs, so neither parsing nor authentication costs anything. Requests
    without a body pass through untouched."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES, timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        verdict = self._body_expected(scope)
        if isinstance(verdict, tuple):
            await _refuse(send, *verdict)
        elif not verdict:
            await self.app(scope, receive, send)
        else:
            body = await self._read_body(receive, send)
            if body is not None:
                await self.app(scope, _replay(body, receive), send)

    def _body_expected(self, scope: Scope) -> bool | tuple[int, str]:
        """Whether a body follows, by the headers alone — or the refusal they already earn."""
        length = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        if length is None:
            return chunked
        try:
            declared = int(length)
        except ValueError:
            return 400, "Content-Length is not a number"
        if declared > self.max_bytes:
            return 413, f"request body of {declared} bytes is larger than the {self.max_bytes} bytes accepted"
        return declared != 0 or chunked

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None when the client left or was refused (413, 408)."""
        body = bytearray()
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    body += message.get("body", b"")
                    if len(body) > self.max_bytes:
                        await _refuse(send, 413, f"request body is larger than the {self.max_bytes} "
                                                 "bytes accepted")
                        return None
                    if not message.get("more_body", False):
                        return bytes(body)
        except TimeoutError:
            await _refuse(send, 408, f"request body not received within {self.timeout_s:g} s")
            return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, as one message; after it, the server's own receive (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See ``guarded_protocol``: the deadline and bound are set on the subclass it returns."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = MAX_HEADER_BYTES
    _header_timer: asyncio.TimerHandle | None = None
    _in_headers = True  # the next bytes are a request line and headers
    _header_bytes = 0
    _tail = b""  # the last bytes seen in the header phase (a "\r\n\r\n" split across reads)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._refuse, 408,
                                                      "request headers not received in time")

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, reason: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        body = json.dumps(error_body(reason)).encode()
        phrase = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            # Counted before parsing: headers that arrive in one read are bounded too.
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            size = self._header_bytes + (len(data) if end < 0 else end + 4 - len(self._tail))
            if size > self.max_header_bytes:
                self._refuse(431, f"request line and headers larger than {self.max_header_bytes} bytes")
                return
            self._header_bytes, self._tail = size, seen[-3:]
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_headers, self._header_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_headers = True  # what follows on this connection is the next request
        super().on_message_complete()


def guarded_protocol(header_timeout_s: float, max_header_bytes: int = MAX_HEADER_BYTES) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a deadline for a request's line and headers.

    uvicorn times out only an idle keep-alive connection, and not even that once a byte has
    arrived: a client that connects and says nothing, or sends its headers a byte a second,
    keeps its socket for ever (240 of them exhausted a 256-descriptor limit and took /health
    down). The deadline runs from the connection (or the first byte of a later request on it)
    to the end of the headers and is not extended by data; past it, or past
    ``max_header_bytes``, the connection answers 408 / 431 and is closed. Bodies are timed by
    :class:`BodyLimit`."""

    return type(
        "GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes},
    )


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the sidecar on this machine (names other than
    ``localhost`` are not resolved: they count as reachable from elsewhere)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
