"""The Inkling web app: an app factory that wires the model hub, the HTTP API and /ws.

Configuration is layered the way Flask's tutorial does it: built-in defaults, then
``config.py`` in the instance folder, then ``INKLING_*`` environment variables (so a
deployment can change a limit without editing files), then the ``test_config`` a test
passes.  Every setting is listed once, in ``SETTINGS``, with its environment variable;
docs/protocol.md documents them all.

The app's run-time state (the model hub, the open WebSocket sessions, the rate limits)
lives on one ``Runtime`` object in ``app.extensions["inkling"]``, reached through
``get_runtime()`` / ``get_hub()``; nothing is a module global, so tests can run several
apps side by side.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: templates/ and static/ live here, next to webapp/."""

log = logging.getLogger(__name__)


# --- settings --------------------------------------------------------------------------


def _flag(text: str) -> bool:
    """Parse on/off, true/false, yes/no, 1/0 (any case)."""
    value = text.strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no", ""):
        return False
    raise ValueError(f"expected on or off, got {text!r}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a number >= 0, got {text!r}")
    return value


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip().lower().rstrip("/") for o in text.split(",") if o.strip())


def _optional_text(text: str) -> str | None:
    return text or None


@dataclass(frozen=True)
class Setting:
    """One configuration key: its environment variable, parser, default and meaning."""

    key: str
    env: str
    parse: Any
    default: Any
    doc: str


SETTINGS = (
    Setting("RATE_LIMITS", "INKLING_RATE_LIMITS", _flag, True,
            "off disables every rate limit (teaches, HTTP predictions, connections per address)"),
    Setting("TEACHES_PER_MINUTE_PER_CONNECTION", "INKLING_TEACHES_PER_MINUTE", _positive_float, 120,
            "teaches one WebSocket may make per minute (burst: ten seconds' worth)"),
    Setting("TEACHES_PER_MINUTE_PER_ADDRESS", "INKLING_TEACHES_PER_MINUTE_PER_ADDRESS",
            _positive_float, 600, "teaches one client address may make per minute, per worker"),
    Setting("PREDICTS_PER_MINUTE_PER_ADDRESS", "INKLING_PREDICTS_PER_MINUTE_PER_ADDRESS",
            _positive_float, 1200,
            "POST /api/predict calls per client address per minute, per worker"),
    Setting("CONNECTIONS_PER_ADDRESS", "INKLING_CONNECTIONS_PER_ADDRESS", _positive_int, 64,
            "open WebSockets per client address, per worker"),
    Setting("MAX_MESSAGE_BYTES", "INKLING_MAX_MESSAGE_BYTES", _positive_int, 512 * 1024,
            "largest WebSocket message (beyond it: close code 1009) and HTTP body (413)"),
    Setting("MAX_POINTS_PER_STROKE", "INKLING_MAX_POINTS_PER_STROKE", _positive_int, 4_000,
            "points in one stroke"),
    Setting("MAX_POINTS_PER_DRAWING", "INKLING_MAX_POINTS_PER_DRAWING", _positive_int, 10_000,
            "points in one drawing, all strokes together"),
    Setting("MAX_STROKES", "INKLING_MAX_STROKES", _positive_int, 200, "strokes in one drawing"),
    Setting("MAX_COORDINATE", "INKLING_MAX_COORDINATE", _positive_float, 1e6,
            "largest absolute value of a coordinate"),
    Setting("INBOX_SIZE", "INKLING_INBOX_SIZE", _positive_int, 64,
            "messages waiting per connection before the server reports rate_limited"),
    Setting("PING_INTERVAL", "INKLING_PING_INTERVAL", _non_negative_float, 25.0,
            "seconds between WebSocket pings (0: none); an unanswered ping closes the socket"),
    Setting("SEND_TIMEOUT", "INKLING_SEND_TIMEOUT", _positive_float, 10.0,
            "seconds a send may block on a client that does not read before it is dropped"),
    Setting("GUARD_DROP", "INKLING_GUARD_DROP", _non_negative_float, 2.0,
            "a teach that drops held-out accuracy more than this many points below the "
            "best recent version is rolled back"),
    Setting("GUARD_STEP", "INKLING_GUARD_STEP", _non_negative_float, 0.5,
            "a single teach that drops held-out accuracy more than this many points below "
            "the version it was learned from is rolled back"),
    Setting("INITIAL_MODEL", "INKLING_INITIAL_MODEL", _optional_text, None,
            "model file (.npz) a new instance is seeded from; default the shipped "
            "network/pretrained/cnn.npz"),
    Setting("TEACH_TOKEN", "INKLING_TEACH_TOKEN", _optional_text, None,
            "when set, teaching needs this token (predicting stays open)"),
    Setting("ALLOWED_ORIGINS", "INKLING_ALLOWED_ORIGINS", _origins, (),
            "comma-separated origins allowed to open /ws besides the same origin; * allows any"),
    Setting("TRUST_PROXY", "INKLING_TRUST_PROXY", _flag, False,
            "1 when behind one reverse proxy: client address from X-Forwarded-For, "
            "host and scheme from X-Forwarded-Host/-Proto"),
    Setting("BENCH_ECHO", "INKLING_BENCH_ECHO", _flag, False,
            "1 adds the bare echo WebSocket /ws/echo used by benchmarks/roundtrip.py"),
)
"""Every setting of the app; the environment variable overrides the instance config.py."""


def settings_from_env(environ) -> dict[str, Any]:
    """Return the config values given by ``INKLING_*`` environment variables."""
    values = {}
    for setting in SETTINGS:
        text = environ.get(setting.env)
        if text is None:
            continue
        try:
            values[setting.key] = setting.parse(text)
        except ValueError as exc:
            raise ValueError(f"{setting.env}: {exc}") from None
    return values


# --- run-time state --------------------------------------------------------------------


class Runtime:
    """What one app owns while it runs: the model hub, open sessions and rate limits."""

    def __init__(self, hub, limits):
        self.hub = hub
        self.limits = limits
        self.sessions: set = set()
        self.lock = threading.Condition()
        self.closing = False
        self.closed = False

    def __repr__(self) -> str:
        return f"Runtime(hub={self.hub!r}, sessions={len(self.sessions)}, closing={self.closing})"

    def add_session(self, session) -> bool:
        """Register an open session; False if the app is shutting down."""
        with self.lock:
            if self.closing:
                return False
            self.sessions.add(session)
            return True

    def remove_session(self, session) -> None:
        """Forget a session that has ended."""
        with self.lock:
            self.sessions.discard(session)
            self.lock.notify_all()

    def wait_for_sessions(self, count: int, timeout: float) -> bool:
        """Wait until at most ``count`` sessions are open; False if that took too long."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.sessions) <= count, timeout)

    def shutdown(self, code: int = 1001, reason: str = "The server is restarting.") -> None:
        """Refuse new sessions and close every open one with ``code`` (1001: going away)."""
        with self.lock:
            self.closing = True
            sessions = list(self.sessions)
        for session in sessions:
            session.close(code, reason)

    def close(self) -> None:
        """Shut down the sessions and the hub; safe to call more than once."""
        self.shutdown()
        with self.lock:
            if self.closed:
                return
            self.closed = True
        atexit.unregister(self.close)
        self.hub.close()


def get_runtime() -> Runtime:
    """Return the current app's Runtime."""
    return current_app.extensions["inkling"]


def get_hub():
    """Return the current app's ModelHub."""
    return current_app.extensions["inkling"].hub


# --- the factory -----------------------------------------------------------------------


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app: config layers, the instance folder, the hub, the API and /ws."""
    test_config = dict(test_config or {})
    instance_path = os.path.abspath(
        test_config.pop("INSTANCE_PATH", None)
        or os.environ.get("INKLING_INSTANCE_PATH")
        or "instance"
    )
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping({s.key: s.default for s in SETTINGS})
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(settings_from_env(os.environ))
    app.config.from_mapping(test_config)
    # Derived settings, unless a layer above set them explicitly (Flask's own default
    # for MAX_CONTENT_LENGTH is None: no limit).
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_MESSAGE_BYTES"]
    app.config.setdefault("SOCK_SERVER_OPTIONS", {
        "max_message_size": app.config["MAX_MESSAGE_BYTES"],
        "ping_interval": app.config["PING_INTERVAL"] or None,
    })

    os.makedirs(app.instance_path, exist_ok=True)

    if app.config["TRUST_PROXY"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from webapp import api, live
    from webapp.limits import RateLimits
    from webapp.state import ModelHub

    options = {"guard_drop": app.config["GUARD_DROP"], "guard_step": app.config["GUARD_STEP"]}
    if app.config["INITIAL_MODEL"]:
        options["initial_model"] = app.config["INITIAL_MODEL"]
    hub = ModelHub.from_instance(app.instance_path, **options)
    runtime = Runtime(hub, RateLimits(app.config))
    app.extensions["inkling"] = runtime
    hub.start()
    # For servers without gunicorn's hooks (flask run, tests): close sockets at exit.
    atexit.register(runtime.close)

    api.init_app(app)
    live.init_app(app)
    return app
