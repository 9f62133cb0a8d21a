"""The one WebSocket client of the tests and the benchmarks, on wsproto (sans-IO).

``Protocol`` turns bytes into whole text/binary messages, answers pings and records the
server's close code; it does no I/O.  Two drivers feed it:

- ``WSClient``: a blocking socket, for tests and the round-trip benchmark.  Unlike
  simple_websocket.Client it never holds back a frame that arrived together with the
  handshake (the server's ``hello``), needs no thread, and reports the close code;
- ``AsyncWSClient``: asyncio streams, so one benchmark process can hold hundreds of
  connections.

Both can bind a chosen source address (``source="127.0.0.7"``) to play another person
in tests of per-address limits, and both set TCP_NODELAY as browsers do.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

WAIT = 30.0
"""Default seconds to wait for a message or a handshake before giving up."""


class HandshakeRejected(Exception):
    """The server answered the WebSocket handshake with an HTTP status other than 101."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"handshake rejected with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body

    def json(self):
        """Return the rejection body as JSON."""
        return json.loads(self.body)


class Closed(Exception):
    """The server closed the WebSocket (``code`` is its close code)."""

    def __init__(self, code, reason):
        super().__init__(f"connection closed by the server: {code} {reason!r}")
        self.code = code
        self.reason = reason


class Protocol:
    """The client side of one WebSocket, without I/O: bytes in, messages and replies out."""

    def __init__(self, host: str, port: int, target: str, headers=()):
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.request = self.ws.send(Request(host=f"{host}:{port}", target=target,
                                            extra_headers=list(headers)))
        self.accepted = False
        self.rejected: tuple[int, bytes] | None = None  # (status, body) once complete
        self.pending: deque = deque()
        self.close_code = None
        self.close_reason = None
        self._status = None
        self._body = b""
        self._fragments: list = []

    def __repr__(self) -> str:
        return f"Protocol(accepted={self.accepted}, pending={len(self.pending)})"

    @property
    def closed(self) -> bool:
        """True once the server closed (or the connection ended)."""
        return self.close_code is not None or self.ws.state.name == "CLOSED"

    def receive(self, data: bytes) -> bytes:
        """Take bytes from the server (b"" at EOF); return bytes to send back (pongs, close)."""
        self.ws.receive_data(data or None)
        out = b""
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, RejectConnection):
                self._status = event.status_code
                if not event.has_body:
                    self.rejected = (self._status, b"")
            elif isinstance(event, RejectData):
                self._body += event.data
                if event.body_finished:
                    self.rejected = (self._status, self._body)
            elif isinstance(event, (TextMessage, BytesMessage)):
                self._fragments.append(event.data)
                if event.message_finished:
                    first = self._fragments[0]
                    self.pending.append(("" if isinstance(first, str) else b"").join(
                        self._fragments))
                    self._fragments = []
            elif isinstance(event, Ping):
                out += self.ws.send(event.response())
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = event.code, event.reason
                try:
                    out += self.ws.send(event.response())
                except Exception:  # the connection may already be half gone
                    pass
        return out

    def text(self, text: str) -> bytes:
        """Return the bytes of one text frame."""
        return self.ws.send(TextMessage(data=text))

    def binary(self, data: bytes) -> bytes:
        """Return the bytes of one binary frame."""
        return self.ws.send(BytesMessage(data=data))

    def close_frame(self, code: int) -> bytes:
        """Return the bytes of a close frame, or b"" if the connection is not open."""
        if self.ws.state.name != "OPEN":
            return b""
        return self.ws.send(CloseConnection(code=code))


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, target


def _headers(headers) -> list:
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers or [])


class WSClient:
    """A synchronous WebSocket client: a blocking socket driving ``Protocol``.

    ``recv()`` returns the next JSON message (dict), raising ``Closed`` once the server
    has closed the connection and ``TimeoutError`` if nothing arrives in time.
    """

    def __init__(self, url: str, headers=None, timeout: float = WAIT,
                 recv_buffer: int | None = None, source: str | None = None):
        self.url = url
        self.timeout = timeout
        self.host, self.port, target = _target(url)
        self.protocol = Protocol(self.host, self.port, target, _headers(headers))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if recv_buffer:  # a small window, to play a client that stops reading
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.connect((self.host, self.port))
            self.sock.sendall(self.protocol.request)
            deadline = time.monotonic() + timeout
            while not self.protocol.accepted:
                if self.protocol.rejected is not None:
                    raise HandshakeRejected(*self.protocol.rejected)
                self._feed(deadline)
        except BaseException:
            self.sock.close()
            raise

    def __repr__(self) -> str:
        return f"WSClient({self.url!r}, {self.protocol!r}, closed={self.close_code})"

    @property
    def close_code(self):
        return self.protocol.close_code

    @property
    def close_reason(self):
        return self.protocol.close_reason

    def _feed(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"nothing from {self.url} in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(f"nothing from {self.url} in time") from None
        except ConnectionResetError:
            data = b""
        reply = self.protocol.receive(data)
        if reply:
            try:
                self.sock.sendall(reply)
            except OSError:
                pass

    # -- sending ------------------------------------------------------------------------

    def send_json(self, obj) -> None:
        """Send a JSON text frame."""
        self.send_text(json.dumps(obj))

    def send_text(self, text: str) -> None:
        """Send a text frame (any text, valid JSON or not)."""
        self.sock.sendall(self.protocol.text(text))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        self.sock.sendall(self.protocol.binary(data))

    def send_burst(self, messages) -> None:
        """Send JSON messages in one socket write, so the server receives them all at once."""
        self.sock.sendall(b"".join(self.protocol.text(json.dumps(m)) for m in messages))

    # -- receiving ----------------------------------------------------------------------

    def recv_raw(self, timeout: float | None = None):
        """Return the next message's payload (str or bytes)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.protocol.pending:
            if self.protocol.closed:
                raise Closed(self.close_code, self.close_reason)
            self._feed(deadline)
        return self.protocol.pending.popleft()

    def recv(self, timeout: float | None = None) -> dict:
        """Return the next message as a dict."""
        return json.loads(self.recv_raw(timeout))

    def recv_until(self, predicate, timeout: float | None = None) -> tuple[dict, list[dict]]:
        """Return (the first message satisfying ``predicate``, the messages before it)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        skipped = []
        while True:
            message = self.recv(max(0.001, deadline - time.monotonic()))
            if predicate(message):
                return message, skipped
            skipped.append(message)

    def recv_type(self, kind: str, timeout: float | None = None) -> dict:
        """Return the next message of type ``kind``, skipping others."""
        return self.recv_until(lambda m: m.get("type") == kind, timeout)[0]

    def request(self, message: dict, timeout: float | None = None) -> dict:
        """Send ``message`` with a fresh seq and return the first reply with seq >= it."""
        self._seq = getattr(self, "_seq", 0) + 1
        self.send_json({**message, "seq": self._seq})
        seq = self._seq
        reply, _ = self.recv_until(
            lambda m: m.get("type") in ("prediction", "taught", "error", "forgotten")
            and m.get("seq") is not None and m["seq"] >= seq, timeout)
        return reply

    def wait_closed(self, timeout: float | None = None) -> int | None:
        """Read (and drop) messages until the server closes; return its close code."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                self.recv_raw(max(0.001, deadline - time.monotonic()))
            except Closed:
                return self.close_code

    def close(self, code: int = 1000) -> None:
        """Close the connection (politely if it is still open) and the socket."""
        try:
            frame = self.protocol.close_frame(code)
            if frame:
                self.sock.sendall(frame)
                deadline = time.monotonic() + 2.0
                while not self.protocol.closed:
                    self._feed(deadline)
        except Exception:  # closing is best effort: the server may be gone already
            pass
        finally:
            self.sock.close()

    def __enter__(self) -> WSClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class AsyncWSClient:
    """An asyncio WebSocket client: streams driving ``Protocol`` (open with ``connect``)."""

    def __init__(self, protocol: Protocol, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.protocol = protocol
        self.reader, self.writer = reader, writer

    def __repr__(self) -> str:
        return f"AsyncWSClient({self.protocol!r})"

    @classmethod
    async def connect(cls, url: str, headers=None, source: str | None = None,
                      timeout: float = WAIT) -> AsyncWSClient:
        """Open a connection and complete the handshake (HandshakeRejected otherwise)."""
        host, port, target = _target(url)
        protocol = Protocol(host, port, target, _headers(headers))
        local = (source, 0) if source else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=local), timeout)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(protocol, reader, writer)
        try:
            writer.write(protocol.request)
            while not protocol.accepted:
                if protocol.rejected is not None:
                    raise HandshakeRejected(*protocol.rejected)
                await asyncio.wait_for(client._feed(), timeout)
        except BaseException:
            writer.close()
            raise
        return client

    async def _feed(self) -> None:
        try:
            data = await self.reader.read(65536)
        except ConnectionError:
            data = b""
        reply = self.protocol.receive(data)
        if reply and not self.writer.is_closing():
            self.writer.write(reply)

    def send_json(self, obj) -> None:
        """Queue a JSON text frame (written as soon as the socket takes it)."""
        self.writer.write(self.protocol.text(json.dumps(obj, separators=(",", ":"))))

    async def recv_raw(self):
        """Return the next message's payload; raise Closed when the server has closed."""
        while not self.protocol.pending:
            if self.protocol.closed:
                raise Closed(self.protocol.close_code, self.protocol.close_reason)
            await self._feed()
        return self.protocol.pending.popleft()

    async def recv(self) -> dict:
        """Return the next message as a dict."""
        return json.loads(await self.recv_raw())

    async def close(self, code: int = 1000) -> None:
        """Close politely (best effort) and release the socket."""
        try:
            frame = self.protocol.close_frame(code)
            if frame:
                self.writer.write(frame)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
