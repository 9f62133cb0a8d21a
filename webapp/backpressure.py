"""Backpressure: a WebSocket is read only as fast as its session keeps up.

flask-sock's WebSocket (simple-websocket) reads its socket on a thread of its own (a
greenlet under gevent) and keeps every frame in a list until the session takes it.  A
client that sends faster than its session answers would grow that list without bound,
and under gevent a reader that always finds data waiting would never yield to the
other connections of its worker.  simple-websocket reads and writes the socket it finds
in the WSGI environment, so ``meter_websockets`` hands it a ``MeteredSocket`` there.
(No documented route exists: simple-websocket's ``Server`` takes the environ and no
socket argument, and flask-sock builds it; tests/test_capacity.py measures the effect.)
What a MeteredSocket does:

- ``recv`` waits while more than ``window`` bytes have been read that the session has
  not taken yet, so the kernel's buffers fill and TCP slows the client down;
- ``recv`` also keeps to ``rate`` bytes a second (with bursts of ``window``): a person
  drawing sends a few kilobytes a second, while a script flooding large drawings would
  otherwise take the worker's time from everyone else; after each read it yields, so
  one busy socket cannot starve the others;
- ``send`` sends the whole message or raises ``TimeoutError`` after ``send_timeout``
  seconds: a client that stops reading is dropped and nobody else waits for it.

The session calls ``consumed()`` whenever it has taken every frame waiting.  Memory per
connection is then bounded by about ``window`` plus one message.
"""

from __future__ import annotations

import select
import socket
import time

from webapp import metrics
from webapp.blocking import loop_event

ENVIRON_KEY = "inkling.socket"
"""Where the session finds its MeteredSocket in the WSGI environment."""

SOCKET_KEYS = ("werkzeug.socket", "gunicorn.socket")
"""Where flask-sock's server looks for the connection's socket, in its order."""


class MeteredSocket:
    """A connected socket whose reads wait for the session and whose sends have a deadline."""

    def __init__(self, sock: socket.socket, window: int, rate: float, send_timeout: float):
        self.sock = sock
        self.window = window
        self.rate = rate
        self.send_timeout = send_timeout
        self.unread = 0  # bytes read from the socket since the session last took everything
        self.allowance = float(window)  # bytes that may be read now (a token bucket)
        self._stamp = time.monotonic()
        self._room = loop_event()
        self._room.set()

    def __repr__(self) -> str:
        return f"MeteredSocket(unread={self.unread}, window={self.window})"

    def consumed(self) -> None:
        """The session has taken every frame read so far: let the reader go on."""
        self.unread = 0
        self._room.set()

    def recv(self, size: int) -> bytes:
        self._room.wait()
        now = time.monotonic()
        self.allowance = min(self.window, self.allowance + (now - self._stamp) * self.rate)
        self._stamp = now
        if self.allowance < 1:  # over its rate: wait for the bucket (cooperatively)
            time.sleep((1 - self.allowance) / self.rate)
        data = self.sock.recv(size)
        self.allowance -= len(data)
        self.unread += len(data)
        if self.unread >= self.window:
            self._room.clear()
        time.sleep(0)  # yield: a socket that always has data must not starve the others
        return data

    def send(self, data: bytes) -> int:
        """Send all of ``data`` within ``send_timeout`` seconds, or raise TimeoutError."""
        view = memoryview(data)
        deadline = time.monotonic() + self.send_timeout
        while view:
            # Wait for room first: gevent's socket.send waits for room itself (for ever)
            # instead of raising BlockingIOError, so a client that never reads would
            # never be dropped if we tried the send first.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self.sock], [], remaining)[1]:
                raise TimeoutError("the client has not read for "
                                   f"{self.send_timeout:g} seconds")
            try:
                view = view[self.sock.send(view, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                continue  # the room select saw was taken meanwhile: wait again
        metrics.SENT_BYTES.inc(len(data))
        return len(data)

    sendall = send

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self._room.set()  # a reader waiting for room must not wait forever
        self.sock.close()

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)


def meter_websockets(wsgi_app, window: int, rate: float, send_timeout: float):
    """WSGI middleware: WebSocket upgrades get a MeteredSocket (also at ENVIRON_KEY)."""

    def app(environ, start_response):
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            for key in SOCKET_KEYS:
                if key in environ:
                    metered = MeteredSocket(environ[key], window, rate, send_timeout)
                    environ[key] = environ[ENVIRON_KEY] = metered
                    break
        return wsgi_app(environ, start_response)

    return app
