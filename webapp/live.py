"""GET /ws: one drawing session per WebSocket, a loop that receives, decides and sends.

The request's greenlet (gunicorn's gevent worker) or thread (werkzeug in tests) runs
the session's loop; each turn:

1. receive a frame, waiting at most ``WAKE`` seconds, then every frame already waiting
   (up to ``TURN_BYTES``, so a flood cannot keep the others waiting);
2. apply them in order to the connection's ink; a teach or an error is answered in its
   turn, after the prediction of the ink before it;
3. predict the newest ink once and send it with the newest seq;
4. if the model changed since the client last heard, send ``model``.

Folding falls out of the loop: while one prediction is computed, new frames wait, and
the next turn answers only the newest ink.  Teaches run on the hub's teacher thread
while this connection waits (its client waits for ``taught`` anyway).  Memory stays
bounded because simple-websocket reads through a ``MeteredSocket``
(``webapp.backpressure``), and a client that stops reading is dropped by its send
deadline.  Other sessions never wait for this one: nothing here is shared but the hub.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, current_app, g, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from wsproto.utilities import LocalProtocolError

from network.ink.pixels import to_uint8
from network.pretrained import NOT_SURE_BELOW
from webapp import get_runtime, metrics
from webapp.answers import explained_fields, prediction_fields
from webapp.backpressure import ENVIRON_KEY
from webapp.blocking import loop_lock
from webapp.handshake import handshake_token, json_error, origin_allowed, tokens_match
from webapp.inkstate import InkState
from webapp.protocol import (
    INK_MESSAGES,
    DrawingLimits,
    Forget,
    Inside,
    ProtocolError,
    parse_message,
    parse_writer,
)
from webapp.store import TeachRequest, Unavailable
from webapp.teacher import Busy, StillSaving
from webapp.trust import connection_trust, teach_terms, teach_trust

PROTOCOL = 1
"""Protocol version announced in ``hello``."""

CLOSE_GOING_AWAY = 1001
"""Close code for a server shutdown or reload: clients reconnect at once."""

WAKE = 0.5
"""Seconds a session waits for a frame before it looks for news of the model."""

TURN_BYTES = 64 * 1024
"""Bytes of frames a session takes in one turn before it answers."""

log = logging.getLogger(__name__)
bp = Blueprint("live", __name__)
echo_bp = Blueprint("live_echo", __name__)
sock = Sock()
_NO_INK_CHANGE = object()  # a turn's pending seq before any ink message (seq may be None)


class Session:
    """One WebSocket connection: its ink, what its client last heard, and its loop."""

    def __init__(self, ws, runtime, address: str, token_ok: bool, config,
                 writer: str | None = None, trust: str = "public"):
        self.ws = ws
        self.writer = writer
        self.metered = request.environ.get(ENVIRON_KEY)
        self.runtime = runtime
        self.hub = runtime.hub
        self.address = address
        self.limits = DrawingLimits.from_config(config)
        self.teach_token = config["TEACH_TOKEN"]
        self.token_ok = token_ok
        self.trust = trust  # local or public (webapp.trust), fixed at the handshake
        self.agree_sources = config["AGREE_SOURCES"]
        self.ink = InkState(self.limits)
        self.teach_bucket = runtime.limits.connection_bucket()
        self.send_lock = loop_lock()  # the loop, a shutdown and news may all send
        self.news_lock = loop_lock()  # one ``model`` at a time, in version order
        self.teaching = False  # a teach of this session's is out (its answer tells news)
        self.known_version = -1  # the newest version this client was told of
        self.inside = False  # whether the client asked for the inside view

    def __repr__(self) -> str:
        return f"Session(address={self.address!r}, {self.ink!r})"

    def send(self, message: dict) -> None:
        """Send one JSON message (ConnectionClosed or OSError if the socket is gone)."""
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        with self.send_lock:
            self.ws.send(text)

    def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Close the connection from any thread; the loop ends at its next wake."""
        if self.send_lock.acquire(timeout=2.0):
            try:
                self.ws.close(code, reason)
            except (ConnectionClosed, OSError, LocalProtocolError):
                pass  # already closed, or closing
            finally:
                self.send_lock.release()
        elif self.metered is not None:  # stuck in a send to a client that does not read
            self.metered.close()

    def run(self) -> None:
        """Serve the connection until it closes."""
        if not self.runtime.add_session(self):
            self.close(CLOSE_GOING_AWAY, "The server is restarting.")
            return
        metrics.CONNECTIONS.inc()
        try:
            info = self.hub.info()
            self.known_version = info["version"]
            hello = {"type": "hello", "protocol": PROTOCOL, "model": info,
                     "limits": self.limits.to_json(), "not_sure_below": NOT_SURE_BELOW,
                     "teach": self.teach_terms()}
            if self.writer is not None:
                hello["writer"] = self.hub.prepare(self.writer)
            self.send(hello)
            while True:
                self.turn()
        except (ConnectionClosed, OSError, LocalProtocolError):
            pass  # the client went away or stopped reading, or the socket is closing
        finally:
            metrics.CONNECTIONS.dec()
            self.runtime.remove_session(self)

    def turn(self) -> None:
        """Take the waiting frames, answer them in order, tell of a new model."""
        frames = self.receive()
        pending = _NO_INK_CHANGE
        for data in frames:
            try:
                started = time.perf_counter()
                message = parse_message(data, self.limits)
                if isinstance(message, INK_MESSAGES):
                    if pending is not _NO_INK_CHANGE:  # answered with this one, not alone
                        metrics.FRAMES_FOLDED.inc()
                    self.ink.apply(message)
                    pending = message.seq
                    metrics.STAGES["parse"].observe(time.perf_counter() - started)
                    continue
                if isinstance(message, Inside):  # answered by the prediction, as ink is
                    self.inside = message.on
                    pending = message.seq
                    continue
                self.answer_ink(pending)
                pending = _NO_INK_CHANGE
                self.send(self.forget(message) if isinstance(message, Forget)
                          else self.teach(message))
            except ProtocolError as error:
                self.answer_ink(pending)
                pending = _NO_INK_CHANGE
                self.send(error.to_json())
        self.answer_ink(pending)
        self.tell_model_news()

    def receive(self) -> list:
        """One frame (or none after WAKE seconds), then every frame already waiting."""
        first = self.ws.receive(timeout=WAKE)
        if first is None:
            return []
        frames, taken = [first], len(first)
        while taken < TURN_BYTES:
            data = self.ws.receive(timeout=0)
            if data is None:
                if self.metered is not None:
                    self.metered.consumed()
                break
            frames.append(data)
            taken += len(data)
        return frames

    def answer_ink(self, seq) -> None:
        """Send the prediction of the ink as it is now, answering ``seq`` (if ink changed)."""
        if seq is _NO_INK_CHANGE:
            return
        answer = explained_fields if self.inside else prediction_fields
        started = time.perf_counter()
        try:
            image = self.ink.image()
            metrics.STAGES["render"].observe(time.perf_counter() - started)
            message = {"type": "prediction", "seq": seq,
                       **answer(self.runtime, image, self.writer,
                                self.ink.strokes, self.ink.open)}
        except Unavailable as error:  # the inside view took too long: say so, go on
            message = ProtocolError("unavailable", f"The server cannot answer now ({error}); "
                                    "the next drawing will be answered.", seq).to_json()
        except Exception:  # a bug must cost one answer, not the connection
            log.exception("predicting for %r failed", self)
            message = server_error(seq)
        metrics.PREDICTIONS.labels("ws").inc()  # counted before the send may yield
        sending = time.perf_counter()
        metrics.PREDICTION_SECONDS.observe(sending - started)
        self.send(message)
        metrics.STAGES["send"].observe(time.perf_counter() - sending)

    def teach(self, message) -> dict:
        """``teach_step``, counted by outcome (webapp/metrics.py)."""
        try:
            taught = self.teach_step(message)
        except ProtocolError as error:
            metrics.TEACHES.labels("rejected" if error.code == "rejected" else "error").inc()
            raise
        status = taught["shared"]["status"] if "shared" in taught else "accepted"
        metrics.TEACHES.labels(status).inc()
        return taught

    def teach_step(self, message) -> dict:
        """Teach the hub the current ink; return ``taught`` (after the commit) or an error."""
        seq = message.seq
        if not self.authorised(message.token):
            raise ProtocolError("unauthorized", "Teaching needs the server's teach token.", seq)
        if not self.ink.strokes:
            raise ProtocolError("no_ink", "There is no ink to learn from; draw a digit first.",
                                seq)
        if not self.runtime.limits.allow_teach(self.address, self.teach_bucket):
            raise ProtocolError("rate_limited", "Too many teaches; wait a moment and try again.",
                                seq)
        strokes = list(self.ink.strokes)
        request = TeachRequest(strokes, to_uint8(self.ink.image()), message.label, self.writer,
                               self.address, self.runtime.source(self.address),
                               teach_trust(self.trust, self.teach_token is not None),
                               message.teach_id)
        self.teaching = True
        try:
            outcome = self.hub.teach(request)
        except Busy:
            raise ProtocolError("rate_limited", "The server is busy learning from other "
                                "drawings; try again in a moment.", seq) from None
        except StillSaving:
            raise ProtocolError("unavailable", "The server is still saving this teach; send "
                                "it again with the same id to hear how it went.", seq,
                                saved="unknown") from None
        except Unavailable:  # the database is away or full (the hub logs it once)
            metrics.WRITE_ERRORS.inc()
            raise ProtocolError("unavailable", "The server could not save this teach; "
                                "please try again.", seq) from None
        except Exception:
            log.exception("teach failed")
            raise ProtocolError("unavailable", "The server could not save this teach; "
                                "please try again.", seq) from None
        finally:
            self.teaching = False
        self.known_version = max(self.known_version, outcome.version)
        if outcome.status == "refused" and outcome.reason and "aside" in outcome.reason:
            metrics.GUARD_REFUSALS.labels(metrics.guard_check(outcome.reason)).inc()
        if not outcome.accepted and self.writer is None:
            raise ProtocolError("rejected", outcome.reason or "The teach was not accepted.", seq,
                                label=outcome.label, predicted=outcome.predicted,
                                model_version=outcome.version)
        taught = {"type": "taught", "seq": seq, "label": outcome.label,
                  "predicted": outcome.predicted, "model_version": outcome.version,
                  "accuracy": outcome.accuracy, "samples": outcome.samples,
                  "after": outcome.after}
        if self.writer is not None:
            taught["writer"] = {"samples": outcome.writer.samples,
                                "accuracy": outcome.writer.accuracy}
            taught["shared"] = {"status": outcome.status, "reason": outcome.reason}
        return taught

    def forget(self, message: Forget) -> dict:
        """Remove this writer's drawings and adaptation everywhere; ``forgotten``."""
        if self.writer is None:
            raise ProtocolError("bad_message", "forget needs a connection with a writer "
                                "(/ws?writer=...).", message.seq)
        try:
            self.hub.forget(self.writer)
        except Exception:
            log.exception("forget failed")
            raise ProtocolError("unavailable", "The server could not forget your drawings "
                                "now; please try again.", message.seq) from None
        return {"type": "forgotten", "seq": message.seq}

    def teach_terms(self) -> dict:
        """``hello.teach``: whether a token is needed, and who this client teaches."""
        holder = self.teach_token is not None and self.token_ok
        return {"token_required": self.teach_token is not None, "authorized": self.token_ok,
                **teach_terms(self.trust, holder, self.agree_sources)}

    def authorised(self, token: str | None) -> bool:
        """Return True if this connection may teach (with the message's token, if any)."""
        if self.teach_token is None or self.token_ok:
            return True
        return token is not None and tokens_match(token, self.teach_token)

    def tell_model_news(self) -> None:
        """Send ``model`` if anyone's teach made a version this client has not heard of
        (versions are told in order: the check and the send hold ``news_lock``)."""
        with self.news_lock:
            if self.hub.version > self.known_version:
                info = self.hub.info()
                self.known_version = info["version"]
                self.send({"type": "model", "model_version": info["version"],
                           "accuracy": info["accuracy"], "samples": info["samples"]})

    def push_model_news(self) -> None:
        """``tell_model_news`` from outside the session's loop (the runtime's push); not
        while this session's own teach is out: ``taught`` tells its version, and the
        loop tells any other once the teach is answered."""
        if self.teaching:
            return
        try:
            self.tell_model_news()
        except (ConnectionClosed, OSError, LocalProtocolError):
            pass  # the socket is going: its loop ends by itself


def server_error(seq) -> dict:
    """The error sent when answering failed because of a bug (it is logged)."""
    return ProtocolError("server_error", "Something went wrong on the server; the "
                         "connection is still open.", seq).to_json()


# --- the handshake ----------------------------------------------------------------------


@bp.before_request
def check_handshake():
    """Refuse the handshake when shutting down, for a foreign origin, or too many sockets."""
    runtime = get_runtime()
    if runtime.closing:
        body, status = json_error(503, "unavailable", "The server is restarting; try again.")
        return body, status, {"Retry-After": "1"}
    if not origin_allowed(request.headers.get("Origin"), request.host,
                          current_app.config["ALLOWED_ORIGINS"]):
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
    """Release the address's connection slot when the socket's request ends."""
    address = g.pop("inkling_connection", None)
    if address is not None:
        get_runtime().limits.close_connection(address)


@sock.route("/ws", bp=bp)
def ws(connection):
    """The drawing session (protocol 1, docs/protocol.md)."""
    config = current_app.config
    token, expected = handshake_token(), config["TEACH_TOKEN"]
    token_ok = expected is None or (token is not None and tokens_match(token, expected))
    writer = request.args.get("writer")
    if writer is not None:
        try:
            writer = parse_writer(writer)
        except ProtocolError as error:
            connection.send(json.dumps(error.to_json()))
            connection.close(1008, "bad writer id")
            return
    trust = connection_trust(config, request.remote_addr, request.host, request.headers)
    Session(connection, get_runtime(), request.remote_addr or "?", token_ok, config,
            writer, trust).run()


@sock.route("/ws/echo", bp=echo_bp)
def echo(connection):
    """Send every frame back unchanged: the benchmark's baseline on the same stack."""
    while True:
        connection.send(connection.receive())


def init_app(app) -> None:
    """Register /ws (and /ws/echo when BENCH_ECHO is on)."""
    app.register_blueprint(bp)
    if app.config["BENCH_ECHO"]:
        app.register_blueprint(echo_bp)
