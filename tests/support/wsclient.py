"""The one WebSocket client of the tests and the benchmarks: the ``websockets`` library,
plus the app's JSON messages.

- ``WSClient``: a ``websockets.sync.client`` connection (its own thread reads, answers
  the server's pings and keeps its close frame) with what the tests say in the app's
  words: send a dict, receive the next message as a dict, skip to a message of a type,
  send a request with a fresh seq and wait for its answer, wait for the server to close;
- ``connect_async``: a ``websockets.asyncio.client`` connection opened the same way, so
  one benchmark process can hold hundreds of them.

Both open the TCP socket themselves and hand it to the library: to bind a chosen source
address (``source="127.0.0.7"``) and play another person in tests of per-address
limits, to take a small receive buffer (``recv_buffer``) and play a client that stops
reading, and never to go through a proxy from the environment.  As browsers do, they set
TCP_NODELAY; unlike browsers, they ask for no permessage-deflate, so every frame on the
wire is the message itself (size limits count those bytes, and tests/test_fuzz.py
writes raw frames with random RSV bits, which compression would give a meaning).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

WAIT = 30.0
"""Default seconds to wait for a message or a handshake before giving up."""

Closed = ConnectionClosed
"""Raised by receiving (or sending) once the connection is closed; the server's close
frame, if it sent one, is ``.rcvd`` (``.rcvd.code``)."""

HandshakeRejected = InvalidStatus
"""The server answered the handshake with an HTTP status other than 101:
``.response.status_code``, ``.response.body`` (bytes), ``.response.headers``."""

OPTIONS = {
    "compression": None,  # see above
    "max_size": None,  # the server's limits are under test, not the client's
    "ping_interval": None,  # the server pings; the client only answers (as browsers do)
    "close_timeout": 2.0,  # for the server's answer to our close
}


class _Connection(ClientConnection):
    """websockets' sync connection, ending its side of TCP once both close frames passed.

    RFC 6455 (7.1.1) has the server close TCP first, and lets a client close it any time
    after sending and receiving a close frame.  After a WebSocket the werkzeug test
    server reads its socket to the end before closing it, while websockets' sync client
    waits for the server to close first (17.4 without a time limit, 14.2 for
    ``close_timeout``): without this the two wait for each other, and a ``recv()``
    after the server's close frame does not end.  ``process_event`` is the library's
    own hook for subclasses (``create_connection=``), though not a documented one; were
    it renamed, ``wait_closed()`` on the werkzeug server would time out.
    """

    def process_event(self, event) -> None:
        super().process_event(event)  # the handshake's response, then frames
        if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:  # answered already
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_WR)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port or 80


class WSClient:
    """A connection to the app's /ws (or any ws:// URL), speaking its JSON messages.

    ``recv()`` returns the next message as a dict, raising ``Closed`` once the server
    has closed the connection and ``TimeoutError`` if nothing arrives in ``timeout``
    seconds (the default for the handshake and every receive).
    """

    def __init__(self, url: str, headers=None, timeout: float = WAIT,
                 recv_buffer: int | None = None, source: str | None = None):
        self.url = url
        self.timeout = timeout
        self.closed: ConnectionClosed | None = None  # how receiving ended, once it has
        self._seq = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stack = contextlib.ExitStack()
        try:
            if recv_buffer:  # a small window, to play a client that stops reading
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                sock.bind((source, 0))
            sock.settimeout(timeout)
            sock.connect(_address(url))
            sock.settimeout(None)
            # connect() as a context manager, entered here and left in close():
            # websockets 17 deprecates using its return value without ``with``.
            self.ws = self._stack.enter_context(connect(
                url, sock=sock, additional_headers=headers, open_timeout=timeout,
                create_connection=_Connection, **OPTIONS))
        except BaseException:
            sock.close()
            raise

    def __repr__(self) -> str:
        return f"WSClient({self.url!r}, state={self.ws.state.name}, closed={self.close_code})"

    @property
    def sock(self) -> socket.socket:
        """The TCP socket (for its address; tests/test_fuzz.py writes broken frames)."""
        return self.ws.socket

    @property
    def close_code(self) -> int | None:
        """The code of the server's close frame; None before, or if it sent none."""
        received = self.closed.rcvd if self.closed else None
        return received.code if received else None

    # -- sending ------------------------------------------------------------------------

    def send_json(self, obj) -> None:
        """Send a dict (or any JSON value) as a text message."""
        self.ws.send(json.dumps(obj))

    def send_text(self, text: str) -> None:
        """Send a text message (any text, valid JSON or not)."""
        self.ws.send(text)

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.ws.send(data)

    def send_burst(self, messages) -> None:
        """Send JSON messages so that the server receives them all at once.

        The socket is corked (Linux TCP_CORK) while the library writes one frame after
        another, so they leave in full segments, as if in one write.
        """
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        try:
            for message in messages:
                self.send_json(message)
        finally:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)

    # -- receiving ----------------------------------------------------------------------

    def recv_raw(self, timeout: float | None = None):
        """Return the next message's payload (str or bytes)."""
        try:
            return self.ws.recv(self.timeout if timeout is None else timeout)
        except ConnectionClosed as closed:
            self.closed = closed
            raise

    def recv(self, timeout: float | None = None) -> dict:
        """Return the next message as a dict."""
        return json.loads(self.recv_raw(timeout))

    def recv_until(self, predicate, timeout: float | None = None) -> tuple[dict, list[dict]]:
        """Return (the first message satisfying ``predicate``, the messages before it)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        skipped = []
        while True:
            message = self.recv(max(0.0, deadline - time.monotonic()))
            if predicate(message):
                return message, skipped
            skipped.append(message)

    def recv_type(self, kind: str, timeout: float | None = None) -> dict:
        """Return the next message of type ``kind``, skipping others."""
        return self.recv_until(lambda m: m.get("type") == kind, timeout)[0]

    def request(self, message: dict, timeout: float | None = None) -> dict:
        """Send ``message`` with a fresh seq and return the first reply with seq >= it."""
        self._seq += 1
        seq = self._seq
        self.send_json({**message, "seq": seq})
        reply, _ = self.recv_until(
            lambda m: m.get("type") in ("prediction", "taught", "error", "forgotten")
            and m.get("seq") is not None and m["seq"] >= seq, timeout)
        return reply

    def wait_closed(self, timeout: float | None = None) -> int | None:
        """Read (and drop) messages until the server closes; return its close code."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                self.recv_raw(max(0.0, deadline - time.monotonic()))
            except Closed:
                return self.close_code

    def close(self, code: int = 1000) -> None:
        """Close the connection (politely if it is still open) and the socket."""
        try:
            self.ws.close(code)
        finally:
            self._stack.close()

    def __enter__(self) -> WSClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


async def connect_async(url: str, source: str | None = None,
                        timeout: float = WAIT) -> AsyncConnection:
    """Open a ``websockets.asyncio`` connection, set up as ``WSClient``'s (``await
    connection.send(text)``, ``await connection.recv()``, ``await connection.close()``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if source:
            sock.bind((source, 0))
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, _address(url)), timeout)
        return await async_connect(url, sock=sock, open_timeout=timeout, **OPTIONS)
    except BaseException:
        sock.close()
        raise
