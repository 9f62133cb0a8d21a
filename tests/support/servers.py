"""Servers for tests and benchmarks: live werkzeug servers and the README's gunicorn.

- ``LiveServer``: ``create_app`` served by werkzeug's threaded server in a thread.
- ``Gunicorn``: the README's ``gunicorn`` command in the repository root, in its own
  process group, with its log captured and waited on (no sleeps); ``pids()`` for the
  benchmarks' CPU and memory figures.
- ``test_model_path()`` / ``app_config()`` / ``gunicorn_env()``: how test instances are
  configured and seeded.
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
import urllib.error
import urllib.request
from pathlib import Path

# One BLAS thread, as in the gunicorn workers (gunicorn.conf.py): in-process servers run
# the learner beside their socket threads, and OpenBLAS threads spinning against them on
# a loaded 2-core machine made 300 teaches take 7x the CPU.  Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from network import pretrained  # noqa: E402

from .wsclient import WAIT  # noqa: E402

LEARN_EVERYTHING = {"INKLING_RATE_LIMITS": "off", "INKLING_AGREE_SOURCES": "1",
                    **{f"INKLING_GUARD_{name}": "100"
                       for name in ("DROP", "STEP", "CLASS_DROP", "UNSURE_DROP", "ECE_RISE")}}
"""Environment of a server whose shared model learns every teach: no rate limits or
budgets, no agreement needed, no guard (for tests that count versions exactly; the crude
test drawings may legitimately be refused by a real guard)."""


# --- the model new instances are seeded from ---------------------------------------------

_fallback_model: Path | None = None


def http_get(url: str, timeout: float = WAIT):
    """GET a URL; return parsed JSON, or the raw bytes for other bodies."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(body)
        return body


def http_post(url: str, body, timeout: float = WAIT) -> tuple[int, dict]:
    """POST a JSON body (or raw bytes); return (status, the parsed JSON answer), errors too."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_model_path() -> str | None:
    """Return the model file to seed test instances from, None for the shipped default.

    ``INKLING_INITIAL_MODEL`` in the environment names another model.  Without the
    shipped weights (network/pretrained/cnn.npz), tests of the web layer seed from an
    untrained CNN of the same architecture: they check plumbing, not accuracy.
    """
    global _fallback_model
    if os.environ.get("INKLING_INITIAL_MODEL"):
        return os.environ["INKLING_INITIAL_MODEL"]
    if pretrained.CNN.exists():
        return None
    if _fallback_model is None:
        from network.nn.architectures import build_cnn
        from network.nn.model import save_model

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
    # A seeded learner: the same teaches make the same versions on every run.
    base = {"TESTING": True, "INSTANCE_PATH": str(instance_path), "SEED": 0}
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


# --- apps and live servers ------------------------------------------------------------------


class _Loopback:
    """The addresses of a server listening on 127.0.0.1:``port``."""

    port: int | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


class LiveServer(_Loopback):
    """The real app on werkzeug's threaded server in a thread of the test process.

    Given an ``app``, it serves that app (its owner closes it).  Given an
    ``instance_path`` (and ``config`` overrides), it makes its own app on every
    ``start`` and closes it on ``stop``, so ``restart`` brings a new server up on the
    same port and instance folder, which "restart the server under an open page" needs.
    """

    def __init__(self, app=None, *, instance_path=None, config: dict | None = None):
        if (app is None) == (instance_path is None):
            raise ValueError("give either an app or an instance_path")
        self.app = app
        self.owns_app = app is None
        self.instance_path = instance_path
        self.config = dict(config or {})
        self.server = None
        self.thread = None
        self.port = 0
        if app is not None:
            self.start()

    def __repr__(self) -> str:
        state = "running" if self.server is not None else "stopped"
        return f"LiveServer(port={self.port}, {state})"

    @property
    def runtime(self):
        """The running app's Runtime (its model hub, sessions and limits)."""
        return self.app.extensions["inkling"]

    def start(self, port: int = 0) -> LiveServer:
        """Serve on 127.0.0.1:port (0: a port the OS picks); a new app if it owns one."""
        if self.owns_app:
            from webapp import create_app

            self.app = create_app(app_config(self.instance_path, **self.config))
        try:
            self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        except BaseException:
            if self.owns_app:
                self.runtime.close()
            raise
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       name=f"live-server-{self.port}", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Close the app's sockets (code 1001), stop serving and release the port."""
        if self.server is None:
            return
        self.runtime.shutdown()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)
        if self.owns_app:
            self.runtime.close()
        self.server = None
        self.thread = None

    def restart(self) -> None:
        """Stop, then start a new app on the same port and instance folder."""
        port = self.port
        self.stop()
        self.start(port)


# --- gunicorn ---------------------------------------------------------------------------------


def gunicorn_command() -> list[str]:
    """The README's command: ``gunicorn`` (from this Python's environment)."""
    exe = Path(sys.executable).parent / "gunicorn"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]


class Gunicorn(_Loopback):
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

    def pids(self) -> list[int]:
        """Return the master's pid and its descendants' (the workers and their learning
        processes), for CPU and memory."""
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        family, grown = {self.proc.pid}, True
        while grown:
            kin = {pid for pid, parent in parents.items() if parent in family}
            grown = not kin <= family
            family |= kin
        return [self.proc.pid, *sorted(family - {self.proc.pid})]

    def worker_of(self, client: socket.socket) -> int:
        """The pid of the worker serving a connected client socket (read from /proc)."""
        port = client.getsockname()[1]
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == self.port and int(remote.split(":")[1], 16) == port:
                inode = fields[9]
                break
        if inode is None:
            raise AssertionError(f"no server socket for client port {port}")
        for pid in self.pids()[1:]:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        raise AssertionError(f"no worker holds socket {inode}")

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
