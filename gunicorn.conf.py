"""gunicorn settings: plain ``gunicorn`` in the repository root starts Inkling.

Environment: ``INKLING_BIND`` (default 127.0.0.1:8000), ``INKLING_WORKERS`` (default 2),
``INKLING_THREADS`` (default 64), ``INKLING_GRACEFUL_TIMEOUT`` (seconds, default 10),
``INKLING_SWITCH_INTERVAL`` (seconds, default 0.001),
``INKLING_LOG_LEVEL`` (default info), ``INKLING_CONTROL_SOCKET`` (default: none).

The trade-off: each open WebSocket holds one gthread thread for its lifetime, so a
worker serves at most ``threads`` sockets at once; threads are cheap while they wait,
and the gthread worker keeps plain HTTP requests on the same pool.  Nothing is
preloaded: every worker opens its own SQLite connections and model after the fork.

The hooks make shutdown prompt: on SIGTERM (stop, or the old workers of a reload)
a worker closes its open WebSockets with close code 1001 at once, so clients
reconnect to a live worker and the worker exits without waiting for its grace period.
"""

import os
import signal
import sys
import threading

# One BLAS thread per worker: a prediction is a batch of one, which BLAS threads do not
# speed up, and on busy cores they spin-wait for each other (tens of ms per forward).
# Requests run in parallel across threads and workers instead.  Set before any worker
# imports NumPy; an operator's own setting wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# Each prediction multiplies small matrices; BLAS threads would only spin against the
# worker threads (and other workers) for the same two cores. Workers inherit this.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# A worker runs many threads (three per open socket) that take turns holding the GIL.
# Python lets a busy thread keep it for 5 ms before it must yield, which a person
# drawing feels as lag behind other people's predictions; 1 ms keeps the queue short.
# Workers are forked from this process and inherit the setting.
sys.setswitchinterval(float(os.environ.get("INKLING_SWITCH_INTERVAL", "0.001")))

wsgi_app = "wsgi:app"
bind = os.environ.get("INKLING_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("INKLING_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("INKLING_THREADS", "64"))
graceful_timeout = int(os.environ.get("INKLING_GRACEFUL_TIMEOUT", "10"))
timeout = 30
keepalive = 5
preload_app = False
loglevel = os.environ.get("INKLING_LOG_LEVEL", "info")
# gunicorn's control socket defaults to one path per user, which several servers on one
# machine (tests, benchmarks) would fight over; opt in with INKLING_CONTROL_SOCKET=path.
control_socket_disable = not os.environ.get("INKLING_CONTROL_SOCKET")
if os.environ.get("INKLING_CONTROL_SOCKET"):
    control_socket = os.environ["INKLING_CONTROL_SOCKET"]


def _runtime(worker):
    """Return the worker's Inkling runtime, or None if the app did not load."""
    app = getattr(worker, "wsgi", None)
    extensions = getattr(app, "extensions", None) or {}
    return extensions.get("inkling")


def post_worker_init(worker):
    """Chain SIGTERM so open sockets get close code 1001 as soon as the worker stops."""
    runtime = _runtime(worker)
    if runtime is None:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        # Closing sockets may block on a slow client; never in the signal handler.
        threading.Thread(target=runtime.shutdown, name="inkling-shutdown", daemon=True).start()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    worker.log.info("inkling worker ready (pid %s, model version %s)",
                    os.getpid(), runtime.hub.version)


def worker_int(worker):
    """SIGINT/SIGQUIT (quick stop): close the sockets with 1001 before the worker exits."""
    runtime = _runtime(worker)
    if runtime is not None:
        runtime.shutdown()


def worker_exit(server, worker):
    """Close whatever is still open and the model hub when the worker process ends."""
    runtime = _runtime(worker)
    if runtime is not None:
        runtime.close()
