"""The HTTP JSON API, the page, and the headers every response carries.

Routes: ``GET /`` (the page), ``GET /healthz``, ``POST /api/predict``,
``POST /api/explain``, ``GET /api/classic``, ``GET /api/model``, ``GET /api/samples.npz``.
Bodies are validated by the same functions as WebSocket messages (webapp/protocol.py),
and every error, whatever its cause (a bad body, an unknown path, a body over the size
limit), is answered with JSON of the WebSocket's error shape
``{"type": "error", "code", "message"}``.

The trade-off in the headers: a strict Content-Security-Policy (scripts, styles and
connections only from our own origin, no inline script, no framing) costs the page
inline ``<script>`` and ``style=""`` conveniences and buys that injected markup cannot
run code.
"""

from __future__ import annotations

import io
import ipaddress
import json

import numpy as np
from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from wsproto.utilities import RemoteProtocolError

from network.ink.pixels import to_float
from network.ink.render import render
from webapp import get_hub, get_runtime
from webapp import metrics as metrics_module
from webapp.answers import explained_fields, prediction_fields
from webapp.protocol import DrawingLimits, ProtocolError, parse_predict_body, parse_writer
from webapp.store import Unavailable
from webapp.teacher import Busy

bp = Blueprint("api", __name__)

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}
"""The error code for an HTTP status that was not raised as a ProtocolError."""

STATUS_OF_CODE = {"too_large": 413, "rate_limited": 429, "unauthorized": 401}
"""The HTTP status for a protocol error code (all others are 400)."""


def error_response(code: str, message: str, status: int) -> Response:
    """Return a JSON error of the WebSocket's shape with the HTTP ``status``."""
    response = Response(
        _json({"type": "error", "seq": None, "code": code, "message": message}),
        status=status, mimetype="application/json")
    if status == 429:
        response.headers["Retry-After"] = "1"
    return response


def _json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


@bp.get("/")
def index():
    """The page."""
    return render_template("index.html")


@bp.get("/healthz")
def healthz():
    """200 while the model is loaded and the database reads and takes teaches; 503 with
    the reason while shutting down, or while the database is unreachable or full."""
    runtime = get_runtime()
    if runtime.closing:
        return error_response("unavailable", "The server is shutting down.", 503)
    problem = runtime.hub.health()
    if problem is not None:
        return error_response("unavailable", problem, 503)
    return {"status": "ok", "model_version": runtime.hub.version}


def body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes: 413 beyond, chunked or not."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """An IP address, localhost, or a name in ALLOWED_HOSTS (``.example.org`` also allows
    its subdomains; ``*`` any): a DNS-rebinding page names a host we do not serve."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower().rstrip(".")
    if "*" in allowed or name == "localhost" or name in allowed:
        return True
    if any(a.startswith(".") and (name.endswith(a) or name == a[1:]) for a in allowed):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def check_host():
    """Refuse a request whose Host is not ours (before any route runs)."""
    if not host_allowed(request.host, current_app.config["ALLOWED_HOSTS"]):
        return error_response("bad_host", "This server does not answer to that host name; "
                              "its operator can allow it (INKLING_ALLOWED_HOSTS).", 400)
    return None


@bp.post("/api/predict")
def predict():
    """Predict ``{"strokes": ...}`` or ``{"image": 28x28 ints}``: a prediction's fields."""
    image, writer, strokes = _drawing()
    fields = prediction_fields(get_runtime(), image, writer, strokes)
    metrics_module.PREDICTIONS.labels("http").inc()
    return {"type": "prediction", "seq": None, **fields}


@bp.get("/metrics")
def metrics():
    """Prometheus metrics (webapp/metrics.py), to whom ``INKLING_METRICS`` allows."""
    if not metrics_module.allowed(current_app.config["METRICS"], request.remote_addr):
        return error_response("not_found", "No such page.", 404)
    body, content_type = metrics_module.exposition()
    return Response(body, mimetype=None, content_type=content_type)


@bp.post("/api/explain")
def explain():
    """The body of /api/predict: a prediction's fields plus the inside view (saliency,
    layers, the classic network's answer)."""
    image, writer, strokes = _drawing()
    return {"type": "prediction", "seq": None,
            **explained_fields(get_runtime(), image, writer, strokes)}


def _drawing() -> tuple:
    """The (float32 image, writer, strokes or None) of a predict or explain body."""
    runtime = get_runtime()
    if not runtime.limits.allow_predict(request.remote_addr or "?"):
        raise ProtocolError("rate_limited", "Too many predictions; slow down.")
    data = body(current_app.config["MAX_MESSAGE_BYTES"])
    parsed = parse_predict_body(data, DrawingLimits.from_config(current_app.config))
    image = render(parsed.strokes) if parsed.strokes is not None else to_float(parsed.image)
    if parsed.writer is not None:
        runtime.hub.prepare(parsed.writer)
    return image, parsed.writer, parsed.strokes


@bp.get("/api/classic")
def classic():
    """The classic 784-15-10 network's hidden units as weight pictures."""
    pictures = get_runtime().classic_pictures
    if pictures is None:
        return error_response("not_found", "This server has no classic network.", 404)
    return pictures


@bp.get("/api/model")
def model():
    """The live model's facts: version, architecture, parameters, accuracy, samples."""
    return get_hub().info()


@bp.get("/api/samples.npz")
def samples():
    """Accepted taught drawings (or one writer's: ?writer=ID) as .npz: images and labels."""
    writer = request.args.get("writer")
    if writer is not None:
        writer = parse_writer(writer)
    hub = get_hub()
    images, labels = hub.teacher.run(hub.store.export_samples, writer)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return Response(
        buffer.getvalue(),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="inkling-samples.npz"'},
    )


def handle_protocol_error(error: ProtocolError) -> Response:
    """A body that failed validation: 400 (413 when too large)."""
    return error_response(error.code, error.message, STATUS_OF_CODE.get(error.code, 400))


def handle_http_error(error: HTTPException) -> Response:
    """Any HTTP error (404, 405, 413, ...) as JSON of the same shape."""
    status = error.code or 500
    code = ERROR_CODES.get(status, "bad_request" if status < 500 else "server_error")
    message = error.description or error.name
    if status == 413:
        message = "The request body is larger than the server accepts."
    return error_response(code, message, status)


def handle_unexpected(error: Exception) -> Response:
    """A bug: 500 without details (they are in the log)."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    if isinstance(error, RemoteProtocolError):
        # An upgrade to /ws without a valid Sec-WebSocket-Key/-Version (or Host): wsproto
        # refuses it inside flask-sock before anything is sent; the client's fault.
        status = getattr(error.event_hint, "status_code", 400)
        response = error_response("bad_request", f"Not a WebSocket handshake: {error}.", status)
        if status == 426:
            response.headers["Sec-WebSocket-Version"] = "13"
        return response
    if isinstance(error, Unavailable | Busy):  # the database or the teacher is away or busy
        response = error_response("unavailable", f"The server cannot answer now ({error}); "
                                  "try again in a moment.", 503)
        response.headers["Retry-After"] = "1"
        return response
    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    return error_response("server_error", "Something went wrong on the server.", 500)


def add_security_headers(response: Response) -> Response:
    """Add the security headers to every response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app) -> None:
    """Register the routes, the JSON error handlers and the security headers."""
    app.before_request(check_host)
    app.register_blueprint(bp)
    app.register_error_handler(ProtocolError, handle_protocol_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    app.after_request(add_security_headers)
