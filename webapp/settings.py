"""Every setting of the app, once: its config key, environment variable, parser, default.

``load_config`` layers them for every entry point (``create_app`` and the ``inkling``
operator's commands): defaults, then the instance's ``config.py``, then the
``INKLING_*`` environment, then the caller's own (a test's config, a command's flags);
docs/protocol.md lists them all, and a test checks that none is missing there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Config

from network import pretrained


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


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {text!r}")
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


def _one_of(*choices: str):
    """A parser that accepts one of ``choices`` (any case)."""
    words = f"{', '.join(choices[:-1])} or {choices[-1]}"

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"expected {words}, got {text!r}")
        return value

    return parse


def _trust(text: str) -> str | None:
    value = text.strip().lower()
    if value in ("", "auto"):
        return None
    if value not in ("local", "public"):
        raise ValueError(f"expected local, public or auto, got {text!r}")
    return value


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
    Setting("READ_RATE", "INKLING_READ_RATE", _positive_float, 65536,
            "bytes a second one WebSocket is read at, beyond bursts of twice the largest "
            "message (a person drawing sends a few kB a second)"),
    Setting("PREDICT_BATCH", "INKLING_PREDICT_BATCH", _positive_int, 32,
            "most predictions of waiting connections computed in one forward pass (1: none)"),
    Setting("TEACH_QUEUE", "INKLING_TEACH_QUEUE", _positive_int, 16,
            "teaches that may wait for a worker's teacher before more are refused"),
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
    Setting("GUARD_CLASS_DROP", "INKLING_GUARD_CLASS_DROP", _non_negative_float, 1.0,
            "a teach that leaves any class's accuracy on the guard's drawn digits more than "
            "this many points below the reference version is refused"),
    Setting("GUARD_UNSURE_DROP", "INKLING_GUARD_UNSURE_DROP", _non_negative_float, 2.0,
            "a teach that lowers the share of non-digits answered \"not sure\" more than "
            "this many points below the reference version is refused"),
    Setting("GUARD_ECE_RISE", "INKLING_GUARD_ECE_RISE", _non_negative_float, 1.0,
            "a teach that raises the calibration error on drawn digits more than this many "
            "points above the reference version is refused"),
    Setting("AGREE_SOURCES", "INKLING_AGREE_SOURCES", _non_negative_int, 0,
            "on a public server, a teach the shared model does not already read surely as "
            "its label reaches it only when an operator approves it (0, the default: "
            "inkling drawings --approve), or once this many sources (network prefixes) "
            "taught the same (1: no agreement needed)"),
    Setting("AGREE_CONFIDENCE", "INKLING_AGREE_CONFIDENCE", _positive_float, 0.9,
            "the shared model learns a drawing without agreement only when it already "
            "reads it as the taught label at least this sure"),
    Setting("AGREE_HOURS", "INKLING_AGREE_HOURS", _positive_float, 24.0,
            "how far back agreeing teaches count"),
    Setting("SHARED_TEACHES_PER_HOUR", "INKLING_SHARED_TEACHES_PER_HOUR", _positive_float, 60,
            "teaches one writer, and one address, may give the shared model an hour "
            "(burst: a third of it); beyond, teaches still adapt to the writer"),
    Setting("SHARED_TEACHES_PER_HOUR_PER_PREFIX", "INKLING_SHARED_TEACHES_PER_HOUR_PER_PREFIX",
            _positive_float, 240, "the same for one network prefix (burst: a quarter of it)"),
    Setting("PREFIX_BITS", "INKLING_PREFIX_BITS", _positive_int, 24,
            "addresses in the same /bits network (IPv6: twice the bits) are one source"),
    Setting("MAX_WRITERS", "INKLING_MAX_WRITERS", _positive_int, 10_000,
            "writers kept; beyond, the least recently active are forgotten"),
    Setting("KEEP_DRAWINGS", "INKLING_KEEP_DRAWINGS", _positive_int, 200_000,
            "drawings kept; beyond, the oldest refused ones go first, then pending ones "
            "(drawings the shared model learned are kept)"),
    Setting("MAX_DATABASE_MB", "INKLING_MAX_DATABASE_MB", _positive_int, 2048,
            "largest SQLite database; when full, teaches answer unavailable and /healthz 503"),
    Setting("DATABASE_URL", "INKLING_DATABASE_URL", _optional_text, None,
            "postgresql://... to keep the truth in PostgreSQL (many hosts); default SQLite "
            "in the instance folder"),
    Setting("INITIAL_MODEL", "INKLING_INITIAL_MODEL", _optional_text, None,
            "model file (.npz) a new instance is seeded from; default the shipped "
            "network/pretrained/cnn.npz"),
    Setting("UNFINISHED_MODEL", "INKLING_UNFINISHED_MODEL", _optional_text,
            str(pretrained.UNFINISHED) if pretrained.UNFINISHED.exists() else None,
            "model file (.npz) that reads ink while the pen is down (default the shipped "
            "network/pretrained/cnn_unfinished.npz; empty: the live model reads it, at its "
            "unfinished-ink temperature)"),
    Setting("TRUST", "INKLING_TRUST", _trust, None,
            "who teaches everyone's model directly: local (every teach is the owner's: a "
            "correction is learned at once, under the guard) or public (budgets and "
            "agreement across networks); default auto: local for a connection from this "
            "machine to a server listening on loopback only with no proxy, else public"),
    Setting("TEACH_TOKEN", "INKLING_TEACH_TOKEN", _optional_text, None,
            "when set, teaching needs this token (predicting stays open), and a teach "
            "with it is trusted: learned by everyone's model at once, under the guard and "
            "the token's budget"),
    Setting("ALLOWED_ORIGINS", "INKLING_ALLOWED_ORIGINS", _origins, (),
            "comma-separated origins allowed to open /ws besides the same origin; * allows any"),
    Setting("ALLOWED_HOSTS", "INKLING_ALLOWED_HOSTS", _origins, (),
            "comma-separated host names the server answers to besides IP addresses and "
            "localhost (.example.org: and its subdomains; *: any)"),
    Setting("TRUST_PROXY", "INKLING_TRUST_PROXY", _flag, False,
            "1 when behind one reverse proxy: client address from X-Forwarded-For, "
            "host and scheme from X-Forwarded-Host/-Proto"),
    Setting("SEED", "INKLING_SEED", int, None,
            "seed of the online learner's random draws (replay anchors): the same seed and "
            "the same teaches in the same order make the same versions; default random"),
    Setting("LEARNING", "INKLING_LEARNING", _one_of("thread", "process"), "thread",
            "where a worker's teaches compute: thread (the worker's own teacher thread) or "
            "process (a learning process beside each worker, at a lower CPU priority, so a "
            "teach's NumPy never holds the interpreter lock the worker's event loop needs)"),
    Setting("METRICS", "INKLING_METRICS", _one_of("loopback", "on", "off"), "loopback",
            "who may read GET /metrics (Prometheus): loopback (requests from this machine), "
            "on (anyone) or off"),
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


def load_config(instance: str | None = None,
                overrides: dict[str, Any] | None = None) -> tuple[Config, str]:
    """(config, absolute instance folder): the defaults, the instance folder's
    ``config.py``, the ``INKLING_*`` environment, then ``overrides``, each over the one
    before.  The folder is ``instance``, else ``$INKLING_INSTANCE_PATH``, else ./instance."""
    folder = os.path.abspath(instance or os.environ.get("INKLING_INSTANCE_PATH") or "instance")
    config = Config(folder)
    config.from_mapping({s.key: s.default for s in SETTINGS})
    config.from_pyfile("config.py", silent=True)
    config.from_mapping(settings_from_env(os.environ))
    config.from_mapping(overrides or {})
    return config, folder
