"""The Inkling web app: an app factory that wires the model hub, the HTTP API and /ws.

Configuration is layered the way Flask's tutorial does it: built-in defaults, then
``config.py`` in the instance folder, then ``INKLING_*`` environment variables (so a
deployment can change a limit without editing files), then the ``test_config`` a test
passes.  Every setting is listed once, in ``webapp.settings``, with its environment
variable; docs/protocol.md documents them all.

The app's run-time state (the model hub, the open WebSocket sessions, the rate limits)
lives on one ``Runtime`` object in ``app.extensions["inkling"]``, reached through
``get_runtime()`` / ``get_hub()``; nothing is a module global, so tests can run several
apps side by side.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import os
import time
import weakref
from pathlib import Path

from flask import Flask, current_app

from webapp import metrics
from webapp.answers import classic_weights, inside_fields
from webapp.blocking import loop_condition, loop_thread, loop_waker, native_executor
from webapp.settings import load_config
from webapp.store import Unavailable

ROOT = Path(__file__).resolve().parent.parent

METRICS_EVERY = 1.0
"""Seconds between two updates of the gauges native threads know (webapp.metrics)."""

LAG_TICK = 0.01
"""Seconds between two looks at the event loop's delay (``inkling_loop_lag_seconds``)."""

EXPLAIN_WAIT = 30.0
"""Seconds a request waits for the inside view before it is answered 503."""
"""The repository root: templates/ and static/ live here, next to webapp/."""

log = logging.getLogger(__name__)


# --- run-time state --------------------------------------------------------------------


class Runtime:
    """What one app owns while it runs: the model hub, its batcher, open sessions, limits."""

    def __init__(self, hub, predictor, limits, prefix_bits: int = 24, classic=None):
        self.hub = hub
        self.predictor = predictor  # the Batcher every prediction goes through
        self.limits = limits
        self.prefix_bits = prefix_bits
        self.classic = classic  # the read-only 784-15-10 network of the inside view
        self.explainer = native_executor()  # inside views: milliseconds of NumPy each
        self.sessions: set = set()
        self.sessions_changed = loop_condition()
        self.closing = False
        self.closed = False

    def __repr__(self) -> str:
        return f"Runtime(hub={self.hub!r}, sessions={len(self.sessions)}, closing={self.closing})"

    def predict(self, image, writer: str | None = None, pen_down: int = 0):
        """The Prediction for a float32 (28, 28) image (with the writer's head; of ink
        still being drawn, ``pen_down`` points of it so far, when that is not 0),
        batched with whatever other connections wait for."""
        return self.predictor.predict((image, writer, pen_down))

    def explain(self, image, digit: int | None) -> dict:
        """The inside view (saliency, layers, the classic network) of a float32 (28, 28)
        image read as ``digit``, computed off the event loop."""
        future = self.explainer.submit(inside_fields, self.hub.model, self.classic, image,
                                       digit)
        try:
            return future.result(timeout=EXPLAIN_WAIT)
        except TimeoutError:
            raise Unavailable(f"the inside view took more than {EXPLAIN_WAIT:.0f} s") \
                from None

    @functools.cached_property
    def classic_pictures(self) -> dict | None:
        """The body of GET /api/classic (the classic network's unit pictures), made once."""
        return classic_weights(self.classic) if self.classic is not None else None

    def source(self, address: str) -> str:
        """The network prefix of a client address (IPv4 /prefix_bits, IPv6 /48)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        bits = self.prefix_bits if ip.version == 4 else min(128, 2 * self.prefix_bits)
        return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))

    def add_session(self, session) -> bool:
        """Register an open session; False if the app is shutting down."""
        with self.sessions_changed:
            if self.closing:
                return False
            self.sessions.add(session)
            return True

    def tell_sessions(self) -> None:
        """Tell every open page of a newer version, each on a greenlet of its own (a
        page that reads slowly delays only itself)."""
        metrics.model_news(self.hub)
        with self.sessions_changed:
            sessions = list(self.sessions)
        for session in sessions:
            loop_thread(session.push_model_news, "inkling-news")

    def watch_metrics(self) -> None:
        """Keep the gauges a native thread knows (the follower's lag, the live version)
        current, once a second, on the event loop (prometheus-client's locks are the
        loop's under gevent)."""
        def watch():
            while not self.closed:
                metrics.FOLLOWER_LAG.set(self.hub.follower.lag)
                metrics.model_news(self.hub)
                time.sleep(METRICS_EVERY)

        def lag():  # the event loop's own delay: what every socket of the worker waits
            while not self.closed:
                started = time.monotonic()
                time.sleep(LAG_TICK)
                metrics.LOOP_LAG.observe(max(0.0, time.monotonic() - started - LAG_TICK))

        loop_thread(watch, "inkling-metrics")
        loop_thread(lag, "inkling-loop-lag")

    def remove_session(self, session) -> None:
        """Forget a session that has ended."""
        with self.sessions_changed:
            self.sessions.discard(session)
            self.sessions_changed.notify_all()

    def wait_for_sessions(self, count: int, timeout: float) -> bool:
        """Wait until at most ``count`` sessions are open; False if that took too long."""
        with self.sessions_changed:
            return self.sessions_changed.wait_for(lambda: len(self.sessions) <= count, timeout)

    def shutdown(self, code: int = 1001, reason: str = "The server is restarting.") -> None:
        """Refuse new sessions and close every open one with ``code`` (1001: going away)."""
        with self.sessions_changed:
            self.closing = True
            sessions = list(self.sessions)
        for session in sessions:
            session.close(code, reason)

    def close(self) -> None:
        """Shut down the sessions and the hub; safe to call more than once."""
        self.shutdown()
        with self.sessions_changed:
            if self.closed:
                return
            self.closed = True
        atexit.unregister(self.close)
        self.predictor.stop()
        self.explainer.shutdown(wait=False)
        self.hub.close()


def get_runtime() -> Runtime:
    """Return the current app's Runtime."""
    return current_app.extensions["inkling"]


def get_hub():
    """Return the current app's ModelHub."""
    return current_app.extensions["inkling"].hub


_newest_runtime = None  # a weak reference to the Runtime this process made last


def process_runtime() -> Runtime | None:
    """The Runtime this process made last, if it is still alive: a gunicorn worker's one
    app (its server hooks find it here; gunicorn documents no way to reach the app)."""
    return _newest_runtime() if _newest_runtime is not None else None


# --- the factory -----------------------------------------------------------------------


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app: config layers, the instance folder, the hub, the API and /ws."""
    test_config = dict(test_config or {})
    config, instance_path = load_config(test_config.pop("INSTANCE_PATH", None), test_config)
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(config)
    # Derived settings, unless a layer above set them explicitly (Flask's own default
    # for MAX_CONTENT_LENGTH is None: no limit).
    # One byte more than a body may have: werkzeug cuts longer chunked bodies there, and
    # webapp.api.body sees the extra byte and answers 413.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_MESSAGE_BYTES"] + 1
    app.config.setdefault("SOCK_SERVER_OPTIONS", {
        "max_message_size": app.config["MAX_MESSAGE_BYTES"],
        "ping_interval": app.config["PING_INTERVAL"] or None,
        "receive_bytes": 65536,
    })

    os.makedirs(app.instance_path, exist_ok=True)

    from network import pretrained
    from network.nn.model import load_model
    from network.online.reading import load_unfinished
    from webapp import api, live
    from webapp.backpressure import meter_websockets
    from webapp.batching import Batcher
    from webapp.hub import ModelHub
    from webapp.learning import LearningProcess
    from webapp.limits import RateLimits
    from webapp.policy import Policy
    from webapp.store import STORE_SETTINGS, open_store

    # Unread input per socket: two of the largest messages, so a whole one always fits.
    app.wsgi_app = meter_websockets(app.wsgi_app, window=2 * app.config["MAX_MESSAGE_BYTES"],
                                    rate=app.config["READ_RATE"],
                                    send_timeout=app.config["SEND_TIMEOUT"])
    if app.config["TRUST_PROXY"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    config = app.config
    policy = Policy.from_config(config)
    store = open_store(config, app.instance_path)
    learning = None
    if config["LEARNING"] == "process":
        store_settings = {key: config.get(key) for key in STORE_SETTINGS}
        learning = LearningProcess({"store": store_settings, "policy": policy,
                                    "instance_path": app.instance_path, "seed": config["SEED"]})
    try:
        hub = ModelHub(store, policy=policy, teach_queue=config["TEACH_QUEUE"],
                       unfinished_model=load_unfinished(config["UNFINISHED_MODEL"]),
                       seed=config["SEED"], learning=learning,
                       initial_model=config["INITIAL_MODEL"])
    except BaseException:
        store.close()
        raise
    predictor = Batcher(lambda items: hub.predict_many([image for image, _, _ in items],
                                                       [writer for _, writer, _ in items],
                                                       [pen for _, _, pen in items]),
                        app.config["PREDICT_BATCH"])
    classic = load_model(pretrained.CLASSIC) if pretrained.CLASSIC.exists() else None
    runtime = Runtime(hub, predictor, RateLimits(app.config), app.config["PREFIX_BITS"],
                      classic)
    app.extensions["inkling"] = runtime
    global _newest_runtime
    _newest_runtime = weakref.ref(runtime)
    runtime.watch_metrics()
    # News of a version made live on the teacher's or the follower's thread reaches every
    # socket at once, through the event loop (the pages no longer wait to poll for it).
    hub.on_new_version(loop_waker(runtime.tell_sessions))
    hub.start()
    # For servers without gunicorn's hooks (flask run, tests): close sockets at exit.
    atexit.register(runtime.close)

    api.init_app(app)
    live.init_app(app)
    return app
