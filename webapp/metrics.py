"""What an operator watches: Prometheus metrics, counted in every gunicorn worker.

``GET /metrics`` answers in Prometheus's text format (prometheus-client).  Under gunicorn
every worker is a process of its own, so the metrics use prometheus-client's
multiprocess mode: each worker writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR``, which gunicorn.conf.py makes fresh in the master before
any worker forks (and tidies when a worker exits), and a scrape adds up every worker's
files.  Without that variable (a test's server, ``flask run``) the metrics live in the
process.  The variable must be set before prometheus-client is imported: the app is
loaded in each worker after the fork (no ``--preload``), so it is.

Who may scrape: ``INKLING_METRICS`` is ``loopback`` by default (requests from this
machine only, e.g. a local Prometheus or node exporter's proxy), ``on`` for anyone (put
it behind your own network rules) or ``off``.
"""

from __future__ import annotations

import ipaddress
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PREDICTIONS = Counter("inkling_predictions", "Predictions sent, by route.", ["route"])
PREDICTION_SECONDS = Histogram(
    "inkling_prediction_seconds",
    "Server-side time of one prediction, from its ink to its message handed to the socket.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
FRAMES_FOLDED = Counter("inkling_frames_folded",
                        "Ink frames answered together with a later one (one prediction "
                        "for several, when frames come faster than predictions).")
TEACHES = Counter("inkling_teaches", "Teaches by outcome: accepted, pending and refused "
                  "(by everyone's model), rejected (without a writer), error.", ["outcome"])
GUARD_REFUSALS = Counter("inkling_guard_refusals", "Steps the guard refused, by the check "
                         "that refused them.", ["check"])
CONNECTIONS = Gauge("inkling_open_connections", "Open WebSockets.",
                    multiprocess_mode="livesum")
MODEL_VERSION = Gauge("inkling_model_version", "The live model version.",
                      multiprocess_mode="max")
HELDOUT = Gauge("inkling_heldout_accuracy", "Held-out accuracy of the live version.",
                multiprocess_mode="mostrecent")
WRITE_ERRORS = Counter("inkling_database_write_errors",
                       "Teaches (and probe writes) the database could not save.")
STAGE_SECONDS = Histogram(
    "inkling_stage_seconds",
    "Server-side seconds of each stage of a prediction: parse (a frame read and applied "
    "to the ink), render (ink to pixels) and send (JSON and the socket) on /ws; predict "
    "(waiting for the batch and its forward pass) and fields (the answer's fields) on /ws "
    "and the HTTP API; and forward (one batch's forward pass, once per batch).", ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1))
STAGES = {name: STAGE_SECONDS.labels(name)
          for name in ("parse", "render", "predict", "fields", "send", "forward")}
SENT_BYTES = Counter("inkling_websocket_sent_bytes",
                     "Bytes sent to WebSocket clients as they cross the wire (after "
                     "permessage-deflate, when the client asked for it).")
BATCH_SIZE = Histogram("inkling_batch_size", "Predictions in one forward pass.",
                       buckets=(1, 2, 4, 8, 16, 32, 64))
LOOP_LAG = Histogram(
    "inkling_loop_lag_seconds",
    "How late the worker's event loop wakes a 10 ms timer: the time other work held the "
    "loop (or the interpreter lock) while every socket of the worker waited.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
FOLLOWER_LAG = Gauge("inkling_follower_lag_versions", "Versions a worker's live model is "
                     "behind the newest in the database.", multiprocess_mode="max")

CHECKS = (("held-out", "heldout"), ("drawn", "drawn_digit"), ("no digit", "not_sure"),
          ("calibration", "calibration"))
"""Words of the guard's sentence (network.online.guard.verdict) -> the check's name."""


def guard_check(reason: str) -> str:
    """The name of the guard's check that a refusal's sentence reports."""
    for words, name in CHECKS:
        if words in reason:
            return name
    return "other"


def allowed(setting: str, remote_addr: str | None) -> bool:
    """Whether this request may read /metrics (``INKLING_METRICS``)."""
    if setting == "on":
        return True
    if setting != "loopback":
        return False
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every worker's metrics added up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def model_news(hub) -> None:
    """Record the live version's number and held-out accuracy."""
    info = hub.info()
    MODEL_VERSION.set(info["version"])
    if info["accuracy"]["heldout"] is not None:
        HELDOUT.set(info["accuracy"]["heldout"])
