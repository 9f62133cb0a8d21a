"""Helpers for tests of the web app: a WebSocket client, live servers, gunicorn, ink.

Import them with ``from web_support import WSClient, draw_digit, ...`` (a module name
of its own: ``from conftest import`` is ambiguous once tests/browser/conftest.py is
collected too).  The fixtures built on them live in tests/conftest.py.

- ``WSClient``: a small synchronous WebSocket client on wsproto and a plain socket.
  Unlike simple_websocket.Client it never holds back a frame that arrived together
  with the handshake (the server's ``hello``), needs no thread, answers pings, and
  records the close code the server sent.
- ``LiveServer``: ``create_app`` served by werkzeug's threaded server in a thread.
- ``Gunicorn``: the README's ``gunicorn`` command in the repository root, in its own
  process group, with its log captured and waited on (no sleeps).
- ``draw_digit(d)``: simple strokes for a digit, for tests that need some ink.
- ``test_model_path()`` / ``app_config()`` / ``gunicorn_env()``: how test instances
  are configured and seeded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

# One BLAS thread, as in the gunicorn workers (gunicorn.conf.py): in-process servers run
# the learner beside their socket threads, and OpenBLAS threads spinning against them on
# a loaded 2-core machine made 300 teaches take 7x the CPU.  Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from werkzeug.serving import make_server
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

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from network.model import DEFAULT_MODEL_PATH  # noqa: E402

WAIT = 30.0
"""Default seconds to wait for a message or a server before a test fails."""


# --- the model new instances are seeded from ---------------------------------------------

_fallback_model: Path | None = None


def http_get(url: str, timeout: float = WAIT):
    """GET a URL; return parsed JSON, or the raw bytes for other bodies."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(body)
        return body


def test_model_path() -> str | None:
    """Return the model file to seed test instances from, None for the shipped default.

    ``INKLING_INITIAL_MODEL`` in the environment names another model.  Without the
    shipped weights (network/pretrained/cnn.npz), tests of the web layer seed from an
    untrained CNN of the same architecture: they check plumbing, not accuracy.
    """
    global _fallback_model
    if os.environ.get("INKLING_INITIAL_MODEL"):
        return os.environ["INKLING_INITIAL_MODEL"]
    if Path(DEFAULT_MODEL_PATH).exists():
        return None
    if _fallback_model is None:
        from network.model import build_cnn, save_model

        # One shared file (seed 0, written atomically), not one per test process.
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / "inkling-test-model"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "cnn_untrained_seed0.npz"
        if not path.exists():
            save_model(build_cnn(np.random.default_rng(0)), path)
        _fallback_model = path
    return str(_fallback_model)


test_model_path.__test__ = False  # not a test, despite its name


def app_config(instance_path, **config) -> dict:
    """Return a test_config for create_app: a fresh instance plus the given overrides."""
    base = {"TESTING": True, "INSTANCE_PATH": str(instance_path)}
    model = test_model_path()
    if model is not None:
        base["INITIAL_MODEL"] = model
    base.update(config)
    return base


def gunicorn_env(instance_path, **env) -> dict:
    """Return an environment for a gunicorn subprocess serving ``instance_path``."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("INKLING_")}
    out["INKLING_INSTANCE_PATH"] = str(instance_path)
    out["INKLING_BIND"] = "127.0.0.1:0"
    model = test_model_path()
    if model is not None:
        out["INKLING_INITIAL_MODEL"] = model
    out.update({k: str(v) for k, v in env.items()})
    return out


# --- ink for tests ------------------------------------------------------------------------


def draw_digit(digit: int, size: float = 100.0) -> list[list[list[float]]]:
    """Return simple strokes (lists of [x, y], y down) that look roughly like ``digit``."""
    s = size
    t = np.linspace(0, 2 * np.pi, 24)
    circle = [[s / 2 + s / 3 * np.cos(a), s / 2 + s / 2.2 * np.sin(a)] for a in t]
    shapes = {
        0: [circle],
        1: [[[s / 2, 0], [s / 2, s / 2], [s / 2, s]]],
        2: [[[0, s / 4], [s / 2, 0], [s, s / 4], [0, s], [s, s]]],
        3: [[[0, 0], [s, s / 4], [s / 3, s / 2], [s, 3 * s / 4], [0, s]]],
        4: [[[s * 0.7, s], [s * 0.7, 0], [0, s * 0.65], [s, s * 0.65]]],
        5: [[[s, 0], [0, 0], [0, s / 2], [s, s * 0.7], [0, s]]],
        6: [[[s, 0], [0, s * 0.7], [s / 2, s], [s, s * 0.7], [0, s * 0.6]]],
        7: [[[0, 0], [s, 0], [s * 0.3, s]]],
        8: [[[s / 2, s / 2], [0, s / 4], [s / 2, 0], [s, s / 4], [0, 3 * s / 4], [s / 2, s],
             [s, 3 * s / 4], [s / 2, s / 2]]],
        9: [[[s, s / 3], [s / 2, 0], [0, s / 3], [s, s / 3], [s * 0.8, s]]],
    }
    return [[[float(x), float(y)] for x, y in stroke] for stroke in shapes[digit]]


# --- a WebSocket client -------------------------------------------------------------------


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


class WSClient:
    """A synchronous WebSocket client for tests: wsproto over a blocking socket.

    ``recv()`` returns the next JSON message (dict), raising ``Closed`` once the server
    has closed the connection and ``TimeoutError`` if nothing arrives in time.  Pings
    are answered; the server's close code is kept in ``close_code``.
    """

    def __init__(self, url: str, headers=None, timeout: float = WAIT,
                 recv_buffer: int | None = None):
        parts = urlsplit(url)
        self.url = url
        self.timeout = timeout
        self.host = parts.hostname
        self.port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if recv_buffer:  # a small window, to play a client that stops reading
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((self.host, self.port))
        except BaseException:
            self.sock.close()
            raise
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: deque = deque()
        self.close_code = None
        self.close_reason = None
        self._fragments: list = []
        extra = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
        try:
            self.sock.sendall(self.ws.send(Request(
                host=f"{self.host}:{self.port}", target=target, extra_headers=extra)))
            self._handshake()
        except BaseException:
            self.sock.close()
            raise

    def __repr__(self) -> str:
        return f"WSClient({self.url!r}, pending={len(self.pending)}, closed={self.close_code})"

    def _handshake(self) -> None:
        status, body = None, b""
        deadline = time.monotonic() + self.timeout
        while True:
            self._feed(deadline)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    # Frames that came in the same read (the hello) are parsed now, kept.
                    self._collect()
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise HandshakeRejected(status, body)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        raise HandshakeRejected(status, body)

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
        self.ws.receive_data(data or None)

    def _collect(self) -> None:
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._fragments.append(event.data)
                if event.message_finished:
                    first = self._fragments[0]
                    joined = ("" if isinstance(first, str) else b"").join(self._fragments)
                    self._fragments = []
                    self.pending.append(joined)
            elif isinstance(event, Ping):
                self._send_bytes(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = event.code, event.reason
                try:
                    self._send_bytes(self.ws.send(event.response()))
                except Exception:  # the connection may already be half gone
                    pass

    def _send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- sending ----------------------------------------------------------------------------

    def send_json(self, obj) -> None:
        """Send a JSON text frame."""
        self.send_text(json.dumps(obj))

    def send_text(self, text: str) -> None:
        """Send a text frame (any text, valid JSON or not)."""
        self._send_bytes(self.ws.send(TextMessage(data=text)))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        self._send_bytes(self.ws.send(BytesMessage(data=data)))

    def send_burst(self, messages) -> None:
        """Send JSON messages in one socket write, so the server receives them all at once."""
        self._send_bytes(b"".join(self.ws.send(TextMessage(data=json.dumps(m)))
                                  for m in messages))

    # -- receiving ----------------------------------------------------------------------------

    def recv_raw(self, timeout: float | None = None):
        """Return the next frame's payload (str or bytes)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.pending:
            if self.close_code is not None:
                raise Closed(self.close_code, self.close_reason)
            self._feed(deadline)
            self._collect()
            if not self.pending and self.close_code is None and self.ws.state.name == "CLOSED":
                raise Closed(self.close_code, self.close_reason)
        return self.pending.popleft()

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
            lambda m: m.get("type") in ("prediction", "taught", "error")
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
            if self.ws.state.name == "OPEN":
                self._send_bytes(self.ws.send(CloseConnection(code=code)))
                deadline = time.monotonic() + 2.0
                while self.close_code is None and self.ws.state.name != "CLOSED":
                    self._feed(deadline)
                    self._collect()
        except (OSError, TimeoutError, Exception):
            pass
        finally:
            self.sock.close()

    def __enter__(self) -> WSClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# --- apps and live servers ------------------------------------------------------------------


class LiveServer:
    """An app served by werkzeug's threaded server in a background thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server",
                                       daemon=True)
        self.thread.start()

    def __repr__(self) -> str:
        return f"LiveServer({self.url})"

    def stop(self) -> None:
        """Close the app's sockets (code 1001), stop serving, close the listening socket."""
        self.app.extensions["inkling"].shutdown()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


# --- gunicorn ---------------------------------------------------------------------------------


def gunicorn_command() -> list[str]:
    """The README's command: ``gunicorn`` (from this Python's environment)."""
    exe = Path(sys.executable).parent / "gunicorn"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]


class Gunicorn:
    """``gunicorn`` run in the repository root, in its own process group, log captured."""

    LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
    READY = re.compile(r"inkling worker ready \(pid (\d+)")

    def __init__(self, instance_path, workers: int = 2, log_path=None, **env):
        self.instance_path = Path(instance_path)
        self.workers = workers
        self.env = gunicorn_env(instance_path, INKLING_WORKERS=workers, **env)
        self.log_path = Path(log_path) if log_path else None
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.port = None
        self.proc = subprocess.Popen(
            gunicorn_command(), cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, text=True)
        self.reader = threading.Thread(target=self._read_log, name="gunicorn-log", daemon=True)
        self.reader.start()

    def __repr__(self) -> str:
        return f"Gunicorn(pid={self.proc.pid}, port={self.port}, workers={self.workers})"

    def _read_log(self) -> None:
        log = open(self.log_path, "a") if self.log_path else None
        try:
            for line in self.proc.stdout:
                if log:
                    log.write(line)
                    log.flush()
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        finally:
            if log:
                log.close()
            with self.cond:
                self.cond.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log(self) -> str:
        """Return the log so far."""
        with self.cond:
            return "".join(self.lines)

    def wait_for_log(self, pattern, count: int = 1, timeout: float = 120.0) -> list:
        """Wait until ``count`` log lines match ``pattern``; return their matches."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for line in self.lines if (m := regex.search(line))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(
                        f"gunicorn log never showed {count} x {regex.pattern!r}:\n"
                        + "".join(self.lines[-60:]))
                self.cond.wait(remaining)

    def wait_ready(self, timeout: float = 120.0) -> Gunicorn:
        """Wait until gunicorn listens and every worker has loaded the app."""
        self.port = int(self.wait_for_log(self.LISTENING, 1, timeout)[-1].group(1))
        self.wait_for_log(self.READY, self.workers, timeout)
        return self

    def worker_pids(self) -> set[int]:
        """Return the pids of workers that reported ready so far."""
        with self.cond:
            return {int(m.group(1)) for line in self.lines if (m := self.READY.search(line))}

    def signal(self, signum) -> None:
        """Send ``signum`` to the master process."""
        os.kill(self.proc.pid, signum)

    def kill9(self) -> None:
        """SIGKILL the master and every worker (the whole process group) at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait(WAIT)

    def wait(self, timeout: float) -> int:
        """Wait for the master to exit; return its exit code."""
        code = self.proc.wait(timeout)
        self.reader.join(WAIT)
        self.proc.stdout.close()
        return code

    def stop(self) -> None:
        """SIGTERM, and SIGKILL the group if it is still there after a while."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.kill9()
        else:
            self.wait(WAIT)
        try:  # workers orphaned by a killed master
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
