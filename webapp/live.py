"""GET /ws: one drawing session per WebSocket, continuous and never behind.

Each connection has three threads:

- simple-websocket's own thread reads the socket into frames;
- the *reader* (``Session.read_loop``) takes every frame at once, validates it, applies
  ink changes to the connection's ink and puts the work to do into the ``Inbox``;
- the *worker* (the request thread, ``Session.work_loop``) takes work from the inbox in
  order and answers it: predictions, teaches, errors and model news.

The fast path: when the worker is idle and a prediction is all there is to do (a person
drawing, nothing else going on), the reader answers it itself, so a stroke costs the
same single thread hand-off as a bare echo.  Anything else (a teach, an error, a busy
worker, a socket that cannot take a send at once) goes through the inbox.

The inbox folds: a prediction waiting in the queue is replaced by a newer one instead
of queueing behind it, so when strokes arrive faster than the network predicts the
worker answers only the newest ink, with the newest seq, and is never behind.  Teaches
and errors are never folded; they are answered in order.  The inbox is bounded: when
it is full, further refusable messages are counted and reported in one
``rate_limited`` error, and the newest ink is kept in one slot, so a flood costs a
fixed amount of memory.

The trade-off: a reader thread per connection costs a little memory, but it keeps
simple-websocket's unbounded frame list empty and lets the worker see *all* waiting
messages before answering, which a single blocking loop cannot do.

All sends go through one lock per connection, so a shutdown can close the socket from
another thread; the hub's subscriber callback never sends itself (a client that does
not read must not stall everyone's broadcasts), it only puts a note in the inbox.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import select
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
from flask import Blueprint, current_app, g, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from wsproto.utilities import LocalProtocolError

from network.ink.pixels import to_float, to_uint8
from network.ink.render import render
from network.pretrained import NOT_SURE_BELOW
from webapp import get_runtime
from webapp.protocol import (
    INK_MESSAGES,
    Clear,
    End,
    Ink,
    Limits,
    ProtocolError,
    Stroke,
    Teach,
    Undo,
    parse_message,
)

PROTOCOL = 1
"""Protocol version announced in ``hello``."""

CLOSE_GOING_AWAY = 1001
"""Close code for a server shutdown or reload: clients reconnect at once."""

CLOSE_WAIT = 2.0
"""Seconds to wait for a client's close reply before the socket is shut down hard."""

DRAIN = 256
"""Frames the reader takes in one go before it answers (or wakes the worker)."""

log = logging.getLogger(__name__)

bp = Blueprint("live", __name__)
echo_bp = Blueprint("live_echo", __name__)
sock = Sock()


# --- presenting results ------------------------------------------------------------------


def prediction_fields(hub, image: np.ndarray) -> dict:
    """Return the prediction fields for a float32 (28, 28) image; nulls for an empty one.

    The network is shown the image quantised to uint8, exactly the pixels sent back in
    ``image`` (and stored by a teach), so "what the network saw" is literally true.
    """
    pixels = to_uint8(image)
    encoded = base64.b64encode(pixels.tobytes()).decode("ascii")
    if not pixels.any():
        return {"digit": None, "confidence": None, "probabilities": None,
                "model_version": hub.version, "image": encoded}
    p = hub.predict(to_float(pixels))
    return {
        "digit": int(p.digit),
        "confidence": round(float(p.confidence), 6),
        "probabilities": [round(float(x), 6) for x in p.probabilities],
        "model_version": int(p.model_version),
        "image": encoded,
    }


def server_error(seq) -> dict:
    """The error sent when answering failed because of a bug (it is logged)."""
    return ProtocolError("server_error", "Something went wrong on the server; the "
                         "connection is still open.", seq).to_json()


def accuracy_json(accuracy: dict) -> dict:
    """Return the accuracy dict with plain floats (or None)."""
    return {k: (None if v is None else float(v)) for k, v in accuracy.items()}


# --- the connection's ink -------------------------------------------------------------------


class InkState:
    """A connection's ink: a list of float64 (k, 2) strokes, the last one possibly open."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.strokes: list[np.ndarray] = []
        self.open = False
        self.points = 0

    def __repr__(self) -> str:
        return f"InkState(strokes={len(self.strokes)}, points={self.points}, open={self.open})"

    def apply(self, message) -> None:
        """Apply one ink message, or raise ProtocolError(too_large) and change nothing."""
        limits = self.limits
        if isinstance(message, Stroke):
            new = len(message.points)
            if self.points + new > limits.max_points_per_drawing:
                raise ProtocolError("too_large", "The drawing would have more than "
                                    f"{limits.max_points_per_drawing} points.", message.seq)
            if self.open:
                stroke = np.concatenate([self.strokes[-1], message.points])
                if len(stroke) > limits.max_points_per_stroke:
                    raise ProtocolError("too_large", "The stroke would have more than "
                                        f"{limits.max_points_per_stroke} points.", message.seq)
                self.strokes[-1] = stroke
            else:
                if len(self.strokes) >= limits.max_strokes:
                    raise ProtocolError("too_large", "The drawing would have more than "
                                        f"{limits.max_strokes} strokes.", message.seq)
                self.strokes.append(message.points)
                self.open = True
            self.points += new
        elif isinstance(message, End):
            self.open = False
        elif isinstance(message, Undo):
            if self.strokes:
                self.points -= len(self.strokes.pop())
            self.open = False
        elif isinstance(message, Clear):
            self.strokes, self.points, self.open = [], 0, False
        elif isinstance(message, Ink):
            self.strokes = list(message.strokes)
            self.points = sum(len(s) for s in self.strokes)
            self.open = False
        else:
            raise TypeError(f"not an ink message: {message!r}")

    def snapshot(self) -> tuple[np.ndarray, ...]:
        """Return the strokes as they are now (arrays are never mutated, only replaced)."""
        return tuple(self.strokes)


# --- the inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictWork:
    """Predict ``strokes`` and answer with ``seq``."""

    seq: int | None
    strokes: tuple


@dataclass(frozen=True)
class TeachWork:
    """Teach ``strokes`` as ``label`` and answer with ``seq``."""

    seq: int | None
    label: int
    strokes: tuple


@dataclass(frozen=True)
class ErrorWork:
    """Send an error."""

    error: ProtocolError

    @property
    def seq(self):
        return self.error.seq


@dataclass(frozen=True)
class ModelWork:
    """Tell the client the model is now ``version``."""

    version: int
    accuracy: dict


class Inbox:
    """The bounded, folding queue of work between a connection's reader and worker."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items: deque = deque()
        self.cond = threading.Condition()
        self.closed = False
        # Overflow mode: the queue filled up; until it drains, refusable work is only
        # counted, and the newest ink waits in one slot.
        self.overflow = False
        self.dropped = 0
        self.dropped_seq = None
        self.late_prediction: PredictWork | None = None
        self.busy = False  # the worker is answering something it took

    def __repr__(self) -> str:
        return (f"Inbox(waiting={len(self.items)}, capacity={self.capacity}, "
                f"overflow={self.overflow}, dropped={self.dropped}, closed={self.closed})")

    def put_prediction(self, work: PredictWork, wake: bool = True) -> None:
        """Queue a prediction, replacing one waiting at the end of the queue (fold).

        ``wake=False`` leaves the worker asleep: the reader may answer it itself
        (``take_inline``) or wake the worker later (``wake``).
        """
        with self.cond:
            if self.overflow:
                self.late_prediction = work
            elif self.items and isinstance(self.items[-1], PredictWork):
                self.items[-1] = work
            elif len(self.items) >= self.capacity:
                self.overflow = True
                self.late_prediction = work
            else:
                self.items.append(work)
            if wake:
                self.cond.notify()

    def take_inline(self) -> PredictWork | None:
        """Return the waiting prediction if it is the only work and the worker is idle.

        The reader then answers it itself: one thread hand-off fewer per stroke, which
        on a busy machine is the difference between microseconds and milliseconds.
        Otherwise wake the worker and return None.
        """
        with self.cond:
            if (not self.busy and not self.overflow and not self.closed
                    and len(self.items) == 1 and isinstance(self.items[0], PredictWork)):
                return self.items.popleft()
            if self.items or self.overflow:
                self.cond.notify()
            return None

    def wake(self) -> None:
        """Wake the worker (for work queued with ``wake=False``)."""
        with self.cond:
            self.cond.notify()

    def put(self, work) -> bool:
        """Queue a teach or an error; False (and counted) if the inbox is full."""
        with self.cond:
            if self.overflow or len(self.items) >= self.capacity:
                self.overflow = True
                self.dropped += 1
                self.dropped_seq = work.seq
                self.cond.notify()
                return False
            self.items.append(work)
            self.cond.notify()
            return True

    def put_model(self, work: ModelWork) -> None:
        """Queue model news, replacing any waiting model news (only the newest matters)."""
        with self.cond:
            for i, item in enumerate(self.items):
                if isinstance(item, ModelWork):
                    if work.version >= item.version:
                        self.items[i] = work
                    break
            else:
                self.items.append(work)  # at most one beyond capacity
            self.cond.notify()

    def get(self):
        """Return the next work, waiting for it; None once the inbox is closed.

        Calling ``get`` also says the worker has finished the work it took before.
        """
        with self.cond:
            self.busy = False
            while True:
                if self.closed:
                    return None
                if self.items:
                    self.busy = True
                    return self.items.popleft()
                if self.overflow:
                    if self.dropped:
                        n, seq = self.dropped, self.dropped_seq
                        self.dropped, self.dropped_seq = 0, None
                        self.busy = True
                        return ErrorWork(ProtocolError(
                            "rate_limited",
                            f"{n} message(s) came faster than the server could answer and "
                            "were refused; slow down.", seq, refused=n))
                    late, self.late_prediction = self.late_prediction, None
                    self.overflow = False
                    if late is not None:
                        self.busy = True
                        return late
                    continue
                self.cond.wait()

    def close(self) -> None:
        """Wake the worker and make ``get`` return None from now on."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()


# --- the session ---------------------------------------------------------------------------


class Session:
    """One WebSocket connection: its ink, its inbox, its send lock and its threads."""

    def __init__(self, ws, runtime, address: str, token_ok: bool, config):
        self.ws = ws
        self.runtime = runtime
        self.hub = runtime.hub
        self.address = address
        self.limits = Limits.from_config(config)
        self.teach_token = config["TEACH_TOKEN"]
        self.token_ok = token_ok
        self.ink = InkState(self.limits)
        self.inbox = Inbox(int(config["INBOX_SIZE"]))
        self.teach_bucket = runtime.limits.connection_bucket()
        self.send_lock = threading.Lock()
        self.known_version = -1  # the newest version this client was told (with accuracy)
        self.stopping = False
        self.holds_slot = False  # counted in the address's open connections
        self._set_send_timeout(float(config["SEND_TIMEOUT"]))
        self._poll = select.poll()
        self._poll.register(ws.sock, select.POLLOUT)

    def __repr__(self) -> str:
        return f"Session(address={self.address!r}, {self.ink!r}, {self.inbox!r})"

    def _set_send_timeout(self, seconds: float) -> None:
        # SO_SNDTIMEO bounds only sends: a client that stops reading makes our send fail
        # after `seconds` instead of holding this thread forever; reads are unaffected.
        whole = int(seconds)
        timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
        try:
            self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        except (OSError, AttributeError):
            pass

    # -- sending ------------------------------------------------------------------------------

    def send(self, message: dict) -> None:
        """Send one JSON message (raises ConnectionClosed or OSError if the socket is gone)."""
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        with self.send_lock:
            self.ws.send(text)

    def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Close the connection with ``code`` from any thread and stop both loops."""
        self.stopping = True
        if self.send_lock.acquire(timeout=CLOSE_WAIT):
            try:
                if self.ws.connected:
                    self.ws.close(code, reason)
            except (ConnectionClosed, OSError, LocalProtocolError):
                pass  # already closing (e.g. simple-websocket just sent 1009)
            finally:
                self.send_lock.release()
        else:
            # The worker is stuck in a send to a client that does not read.
            self._shutdown_socket()
        self.ws.event.set()  # wakes the reader blocked in ws.receive()
        self.inbox.close()

    def _shutdown_socket(self) -> None:
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- the threads ----------------------------------------------------------------------------

    def run(self) -> None:
        """Serve the connection until it closes (runs on the request thread)."""
        try:
            if self.runtime.add_session(self):
                self._serve()
            else:
                self.close(CLOSE_GOING_AWAY, "The server is restarting.")
                self._finish_socket()
        finally:
            if self.holds_slot:
                self.holds_slot = False
                self.runtime.limits.close_connection(self.address)
            self.runtime.remove_session(self)

    def _serve(self) -> None:
        subscription = self.hub.subscribe(self.on_model)
        reader = threading.Thread(target=self.read_loop, name="inkling-ws-reader", daemon=True)
        try:
            info = self.hub.info()
            self.known_version = int(info["version"])
            self.send({
                "type": "hello",
                "protocol": PROTOCOL,
                "model": info,
                "limits": self.limits.to_json(),
                "not_sure_below": NOT_SURE_BELOW,
                "teach": {"token_required": self.teach_token is not None,
                          "authorized": self.token_ok},
            })
            reader.start()
            self.work_loop()
        except (ConnectionClosed, OSError, LocalProtocolError):
            pass  # the client went away, or the socket is closing
        finally:
            self.hub.unsubscribe(subscription)
            self.stopping = True
            self.inbox.close()
            self._finish_socket()
            if reader.is_alive():
                reader.join(CLOSE_WAIT)

    def _finish_socket(self) -> None:
        # simple-websocket's thread ends when the close handshake completes; a client
        # that never answers must not keep it (and the worker's exit) waiting forever.
        thread = self.ws.thread
        if self.ws.connected:
            try:
                with self.send_lock:
                    self.ws.close(1000, "")
            except (ConnectionClosed, OSError, LocalProtocolError):
                pass
        self.ws.event.set()
        thread.join(CLOSE_WAIT)
        if thread.is_alive():
            self._shutdown_socket()
            thread.join(CLOSE_WAIT)

    def read_loop(self) -> None:
        """Take every frame as it arrives and turn it into work (the reader thread).

        After a frame, the reader takes whatever else has already arrived (up to
        ``DRAIN``), so a burst is folded into one prediction; then, if the worker is
        idle and a prediction is all there is to do, it answers it itself.
        """
        try:
            while not self.stopping:
                data = self.ws.receive()
                if data is None:
                    continue
                self.handle_frame(data)
                for _ in range(DRAIN):
                    data = self.ws.receive(timeout=0)
                    if data is None:
                        break
                    self.handle_frame(data)
                work = self.inbox.take_inline() if self._can_send_now() else None
                if work is None:
                    self.inbox.wake()
                else:
                    self.answer_inline(work)
        except (ConnectionClosed, LocalProtocolError):
            pass
        except OSError:
            self._shutdown_socket()  # a send timed out: the client stopped reading
        except Exception:
            log.exception("reader of %r failed", self)
        finally:
            self.inbox.close()

    def answer_inline(self, work: PredictWork) -> None:
        """Answer a prediction on the reader thread (see ``Inbox.take_inline``)."""
        try:
            message = self.predict(work)
        except Exception:
            log.exception("answering %r failed", work)
            message = server_error(work.seq)
        self.send(message)

    def _can_send_now(self) -> bool:
        # The reader must never block in a send: while it waits, nobody drains
        # simple-websocket's unbounded frame list.  A writable socket has room for a
        # prediction (Linux reports writable only with a third of the buffer free).
        try:
            return bool(self._poll.poll(0))
        except (OSError, ValueError):
            return False

    def handle_frame(self, data) -> None:
        """Validate one frame, apply it to the ink and queue what it asks for."""
        try:
            message = parse_message(data, self.limits)
            if isinstance(message, INK_MESSAGES):
                self.ink.apply(message)
                self.inbox.put_prediction(PredictWork(message.seq, self.ink.snapshot()),
                                          wake=False)
            elif isinstance(message, Teach):
                self.inbox.put(self.teach_work(message))
        except ProtocolError as error:
            self.inbox.put(ErrorWork(error))

    def teach_work(self, message: Teach) -> TeachWork:
        """Return the work for a teach message, or raise ProtocolError if it is refused."""
        if not self.authorised(message.token):
            raise ProtocolError("unauthorized", "Teaching needs the server's teach token.",
                                message.seq)
        strokes = self.ink.snapshot()
        if not strokes:
            raise ProtocolError("no_ink", "There is no ink to learn from; draw a digit first.",
                                message.seq)
        if not self.runtime.limits.allow_teach(self.address, self.teach_bucket):
            raise ProtocolError("rate_limited", "Too many teaches; wait a moment and try again.",
                                message.seq)
        return TeachWork(message.seq, message.label, strokes)

    def authorised(self, token: str | None) -> bool:
        """Return True if this connection may teach (with the message's token, if any)."""
        if self.teach_token is None or self.token_ok:
            return True
        return token is not None and tokens_match(token, self.teach_token)

    def on_model(self, version: int, accuracy: dict) -> None:
        """Hub callback (any thread): note the new version for the worker to send."""
        self.inbox.put_model(ModelWork(int(version), accuracy))

    def work_loop(self) -> None:
        """Answer the inbox's work in order until the connection closes (the worker)."""
        while (work := self.inbox.get()) is not None:
            try:
                self.answer(work)
            except (ConnectionClosed, OSError, LocalProtocolError):
                raise
            except Exception:
                # A bug must cost one answer, not the connection.
                log.exception("answering %r failed", work)
                self.send(server_error(getattr(work, "seq", None)))

    def answer(self, work) -> None:
        """Send the answer to one piece of work."""
        if isinstance(work, PredictWork):
            self.send(self.predict(work))
        elif isinstance(work, TeachWork):
            self.send(self.teach(work))
        elif isinstance(work, ErrorWork):
            self.send(work.error.to_json())
        elif isinstance(work, ModelWork):
            # The teacher already got `taught` for its own version; others get news.
            if work.version > self.known_version:
                self.known_version = work.version
                message = {"type": "model", "model_version": work.version,
                           "accuracy": accuracy_json(work.accuracy)}
                info = self.hub.info()  # cached per version: no query on the hot path
                if info["version"] == work.version:
                    message["samples"] = int(info["samples"])
                self.send(message)

    def predict(self, work: PredictWork) -> dict:
        """Return the prediction message for the ink in ``work``."""
        image = render(work.strokes)
        return {"type": "prediction", "seq": work.seq, **prediction_fields(self.hub, image)}

    def teach(self, work: TeachWork) -> dict:
        """Teach the hub and return the ``taught`` message (sent only after the commit)."""
        pixels = to_uint8(render(work.strokes))
        try:
            outcome = self.hub.teach(work.strokes, pixels, work.label)
        except Exception:
            log.exception("teach failed")
            return ProtocolError("unavailable", "The server could not save this teach; "
                                 "please try again.", work.seq).to_json()
        self.known_version = max(self.known_version, int(outcome.model_version))
        if not outcome.accepted:
            return ProtocolError(
                "rejected", outcome.reason or "The teach was not accepted.", work.seq,
                label=int(outcome.label), predicted=int(outcome.predicted),
                model_version=int(outcome.model_version)).to_json()
        return {
            "type": "taught",
            "seq": work.seq,
            "label": int(outcome.label),
            "predicted": int(outcome.predicted),
            "model_version": int(outcome.model_version),
            "accuracy": accuracy_json(outcome.accuracy),
            "samples": int(outcome.samples),
        }


# --- the handshake ----------------------------------------------------------------------


def tokens_match(given: str, expected: str) -> bool:
    """Compare tokens in constant time."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def handshake_token() -> str | None:
    """Return the teach token of the handshake: ``Authorization: Bearer`` or ``?token=``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """Return True if a handshake from ``origin`` may proceed.

    No Origin header: not a browser page, served.  The same host: served.  Otherwise
    the origin must be listed in ALLOWED_ORIGINS (``*`` allows any).
    """
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host.lower()


def json_error(status: int, code: str, message: str):
    """Return an HTTP error response of the WebSocket's error shape."""
    return {"type": "error", "seq": None, "code": code, "message": message}, status


@bp.before_request
def check_handshake():
    """Refuse the handshake when shutting down, for a foreign origin, or too many sockets."""
    runtime = get_runtime()
    if runtime.closing:
        return json_error(503, "unavailable", "The server is restarting; try again.")
    allowed = current_app.config["ALLOWED_ORIGINS"]
    if not origin_allowed(request.headers.get("Origin"), request.host, allowed):
        return json_error(403, "forbidden_origin",
                          "WebSocket connections from this origin are not allowed.")
    address = request.remote_addr or "?"
    if not runtime.limits.open_connection(address):
        body, status = json_error(429, "rate_limited",
                                  "Too many open connections from your address.")
        return body, status, {"Retry-After": "10"}
    g.inkling_connection = address
    return None


@bp.teardown_request
def release_connection(_exc):
    """Release the connection's slot if no session took it over (a failed handshake)."""
    address = g.pop("inkling_connection", None)
    if address is not None:
        get_runtime().limits.close_connection(address)


@sock.route("/ws", bp=bp)
def ws(connection):
    """The drawing session (protocol 1, docs/protocol.md)."""
    config = current_app.config
    token = handshake_token()
    expected = config["TEACH_TOKEN"]
    token_ok = expected is None or (token is not None and tokens_match(token, expected))
    address = request.remote_addr or "?"
    session = Session(connection, get_runtime(), address, token_ok, config)
    # The session releases the address's connection slot itself, as it ends.
    session.holds_slot = g.pop("inkling_connection", None) is not None
    session.run()


@sock.route("/ws/echo", bp=echo_bp)
def echo(connection):
    """Send every frame back unchanged: the benchmark's baseline on the same stack."""
    while True:
        data = connection.receive()
        connection.send(data)


def init_app(app) -> None:
    """Register /ws (and /ws/echo when BENCH_ECHO is on)."""
    app.register_blueprint(bp)
    if app.config["BENCH_ECHO"]:
        app.register_blueprint(echo_bp)
