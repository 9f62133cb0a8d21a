"""gunicorn settings: plain ``gunicorn`` in the repository root starts Inkling.

Environment: ``INKLING_BIND`` (default 127.0.0.1:8000), ``INKLING_WORKERS`` (default 2),
``INKLING_WORKER_CLASS`` (gevent, or gthread for comparison), ``INKLING_CONNECTIONS``
(open connections per worker, default 2000), ``INKLING_THREADS`` (gthread only,
default 64), ``INKLING_GRACEFUL_TIMEOUT`` (seconds, default 10), ``INKLING_KEEPALIVE``
(seconds, default 5), ``INKLING_SWITCH_INTERVAL`` (seconds, default 0.001),
``INKLING_LOG_LEVEL`` (default info), ``INKLING_ACCESS_LOG`` (on: one line per request
on stderr), ``INKLING_CONTROL_SOCKET`` (default: none).

The trade-off: the gevent worker serves every connection of a worker as a greenlet on
one OS thread, so an idle WebSocket costs a few kilobytes instead of a thread, and a
prediction never waits for the interpreter lock behind dozens of threads.  Work that
would block that thread (a teach, waiting on the database) runs on native threads
(``webapp/blocking.py``).  A request must arrive within ``keepalive`` seconds of the
connection (gunicorn's gevent worker times the reading of every request, the first one
included), so half-sent requests cannot pile up.  Nothing is preloaded: every worker
opens its own database connections and model after the fork.

The hooks make shutdown prompt: on SIGTERM (stop, or the old workers of a reload)
a worker closes its open WebSockets with close code 1001 at once, so clients
reconnect to a live worker and the worker exits without waiting for its grace period.
"""

import ctypes
import os
import signal
import sys

# One BLAS thread per worker: a prediction batch is small, BLAS threads would only spin
# against the worker's own threads (and other workers) for the same cores.  Set before
# any worker imports NumPy; an operator's own setting wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# The event loop shares the interpreter with a worker's two native threads (teaching,
# following other workers); a teach must not hold the interpreter for the default 5 ms
# while predictions wait.  Workers are forked from this process and inherit it.
sys.setswitchinterval(float(os.environ.get("INKLING_SWITCH_INTERVAL", "0.001")))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "on", "true", "yes")


wsgi_app = "wsgi:app"
bind = os.environ.get("INKLING_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("INKLING_WORKERS", "2"))
worker_class = os.environ.get("INKLING_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("INKLING_CONNECTIONS", "2000"))
threads = int(os.environ.get("INKLING_THREADS", "64"))
graceful_timeout = int(os.environ.get("INKLING_GRACEFUL_TIMEOUT", "10"))
timeout = 30
keepalive = int(os.environ.get("INKLING_KEEPALIVE", "5"))
preload_app = False
loglevel = os.environ.get("INKLING_LOG_LEVEL", "info")
accesslog = "-" if _flag("INKLING_ACCESS_LOG") else None
# gunicorn's control socket defaults to one path per user, which several servers on one
# machine (tests, benchmarks) would fight over; opt in with INKLING_CONTROL_SOCKET=path.
control_socket_disable = not os.environ.get("INKLING_CONTROL_SOCKET")
if os.environ.get("INKLING_CONTROL_SOCKET"):
    control_socket = os.environ["INKLING_CONTROL_SOCKET"]


def on_starting(server):
    """Metrics (webapp/metrics.py): a fresh folder for every worker's samples, made
    before any worker forks, unless the operator named one."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        folder = tempfile.mkdtemp(prefix="inkling-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        os.environ["INKLING_METRICS_DIR_MADE"] = folder


def child_exit(server, worker):
    """A worker is gone: its live gauges (open connections) stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this server made."""
    folder = os.environ.get("INKLING_METRICS_DIR_MADE")
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def post_fork(server, worker):
    """Tell the app where it listens (webapp/trust.py: a server reachable beyond loopback
    treats teaches as public); at most two malloc arenas per worker, so memory returns to
    the system under long load."""
    os.environ["INKLING_LISTENS_ON"] = ",".join(server.cfg.bind)
    try:
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX (glibc); elsewhere a harmless no-op
    except (OSError, AttributeError):
        pass


def _runtime(worker):
    """Return the worker's Inkling runtime, or None if the app did not load."""
    import webapp

    return webapp.process_runtime()


def post_worker_init(worker):
    """Chain SIGTERM so open sockets get close code 1001 as soon as the worker stops."""
    runtime = _runtime(worker)
    if runtime is None:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        # Closing sockets may block on a slow client: never in the signal handler, which
        # under gevent runs inside the event loop, where nothing may block.
        from webapp.blocking import gevent_active, loop_thread

        if gevent_active():
            import gevent

            gevent.spawn(runtime.shutdown)
        else:
            loop_thread(runtime.shutdown, "inkling-shutdown")
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


if worker_class == "gevent":
    import time

    try:
        import gevent
        from gunicorn.workers.ggevent import GeventWorker
    except ImportError as error:  # gunicorn would print only "Failed to read config file"
        raise SystemExit(
            f"Inkling: the gevent worker needs the Python package {error.name!r}, which is "
            "not installed; install Inkling with its dependencies "
            "(python -m pip install -e .)") from None

    class InklingWorker(GeventWorker):
        """gunicorn's gevent worker, counting the connections it closes for sending no
        complete request within ``keepalive`` seconds (half-sent or idle keep-alive).

        Not a documented route: gunicorn closes those connections inside the worker's
        ``timeout_ctx()`` and offers no hook, setting or log line for them, so this
        subclass wraps that one method (``worker_class`` may be any Worker subclass).
        If gunicorn renames it, nothing breaks but the count, and tests/test_capacity.py,
        which waits for the log line, fails and says so."""

        SUMMARY_EVERY = 10.0  # seconds between two log lines about them

        def init_process(self):
            self.timed_out = 0
            self._reported, self._report_due = 0, 0.0
            super().init_process()

        def timeout_ctx(self):
            return _CountedTimeout(self, self.cfg.keepalive)

        def notify(self):
            super().notify()
            now = time.monotonic()
            if self.timed_out > self._reported and now >= self._report_due:
                self.log.info("closed %d connection(s) that sent no complete request within "
                              "%d s (%d in all)", self.timed_out - self._reported,
                              self.cfg.keepalive, self.timed_out)
                self._reported, self._report_due = self.timed_out, now + self.SUMMARY_EVERY

    class _CountedTimeout:
        """``gevent.Timeout(seconds, False)`` that counts how often it fires."""

        def __init__(self, worker, seconds):
            self.worker = worker
            self.timeout = gevent.Timeout(seconds, False)

        def __enter__(self):
            self.timeout.start()
            return self

        def __exit__(self, kind, value, traceback):
            if value is self.timeout:
                self.worker.timed_out += 1
            return self.timeout.__exit__(kind, value, traceback)

    worker_class = InklingWorker
