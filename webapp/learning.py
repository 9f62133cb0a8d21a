"""The learning process: a worker's teaches computed in a child process of its own
(``INKLING_LEARNING=process``; by default they run on the worker's teacher thread).

A teach is tens of milliseconds of NumPy: the drawing's features, backprop with replay,
the guard's figures, the writer's head.  On the teacher thread it shares the worker's
interpreter lock with the event loop that serves every socket, and the loop gets the
lock back only in turns of the switch interval, so everyone drawing on that worker
waits while one person teaches.  In a process of its own the same work needs only a
core, which the operating system shares out, and at a lower priority (``NICE``) the
drawers' event loops come first.  (Measured against the teacher thread, the people
drawing did not feel the difference once each teach stopped fitting its writer's head
twice: benchmarks/README.md.  So it is a choice, not the default.)

The worker's side is ``LearningProcess``: ``start`` spawns ``python -m webapp.learning``
with one end of a socket pair and waits until it is warm; ``learn`` (on the teacher
thread, which still runs one teach at a time) sends the job and waits for the answer,
blocking only its own thread.
The answer is the hub's ``_Done``: the committed record, the drawing's trunk features and
the writer's fitted head.  The worker keeps the head and makes a new version live the
way it adopts any other process's: from the store (``ModelHub.sync``, which its follower
has usually done already), so a version is loaded once per worker.

The child (``main``) opens its own connection to the same store and builds a
``ModelHub`` it never starts (no teacher, no follower).  Before each teach it catches up
with the newest version (``ModelHub.sync``), then runs ``ModelHub.learn``: the very code
the teacher thread runs by default.  The store serialises teaches
of every process exactly as it serialises the workers' teacher threads.

If the child dies, the next teach starts a new one.  A teach it was running may or may
not have been committed, so its caller hears ``StillSaving`` (a resend with the same
teach id hears how it went).  The child ends by itself when the worker's end closes.

The wire is this worker and its own child only: each message is its length (8 bytes,
big-endian) and a pickle.  The socket is the C module's (``_socket``), because gevent
patches ``socket`` for the event loop's thread and this one blocks a native thread.
"""

from __future__ import annotations

import _socket
import logging
import os
import pickle
import signal
import struct
import sys
from typing import Any

from .blocking import native_os
from .hub import ModelHub
from .store import StoreError, Unavailable, open_store
from .teacher import StillSaving

log = logging.getLogger(__name__)

NICE = 10
"""How much lower the learning process runs than the worker (``os.nice``): the drawers'
event loops come first for a core, the teach takes what they leave."""

READY_WAIT = 120.0
"""Seconds a new learning process may take to import, open the store and warm up."""

ANSWER_WAIT = 300.0
"""Seconds a teach may take in the learning process before it is given up for hung
(its caller has long heard ``StillSaving``: the teacher waits at most TEACH_WAIT)."""

_LENGTH = struct.Struct(">Q")


def _send(sock, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _exactly(sock, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the socket")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(sock) -> Any:
    (n,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    return pickle.loads(_exactly(sock, n))


def _environment() -> dict:
    """The worker's environment, with this very checkout first on the import path."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))


class LearningProcess:
    """A worker's learning process, as the worker's teacher thread sees it.

    ``options``: what the child needs to open the same store and decide as this worker
    does: {"store": the store settings, "instance_path", "policy": a Policy, "seed"}.
    Only the teacher thread calls ``learn``; ``start`` and ``close`` run on the
    worker's own thread before and after it.
    """

    def __init__(self, options: dict, nice: int = NICE):
        self.options = dict(options, nice=nice)
        self.pid: int | None = None
        self._exited: list[int] = []  # children closed and not yet reaped
        self._sock = None
        self._ready = False

    def __repr__(self) -> str:
        return f"LearningProcess(pid={self.pid}, ready={self._ready})"

    def start(self) -> LearningProcess:
        """Spawn the child and wait until it is warm (imported, store open, the guard's
        features computed), so that a worker that says it is ready can teach at once."""
        try:
            if self._sock is None:
                self._spawn()
            self._wait_ready()
        except (OSError, EOFError) as error:  # predictions go on; the next teach tries again
            log.error("the learning process did not start: %s", error)
            self.close()
        return self

    def _wait_ready(self) -> None:
        if not self._ready:
            self._sock.settimeout(READY_WAIT)
            _receive(self._sock)  # "ready"
            self._ready = True

    def _spawn(self) -> None:
        mine, theirs = _socket.socketpair()
        try:
            os.set_inheritable(theirs.fileno(), True)
            self.pid = native_os("posix_spawn")(
                sys.executable, [sys.executable, "-m", "webapp.learning", str(theirs.fileno())],
                _environment())
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self._sock, self._ready = mine, False
        _send(mine, self.options)

    def _alive(self) -> bool:
        """Whether the child is still there (a closed socket reads as empty at once)."""
        self._sock.settimeout(0.0)  # non-blocking: a timeout would wait for data
        try:
            return self._sock.recv(1, _socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def learn(self, request, head, revision: int):
        """The teach's work in the child (``ModelHub.learn``); returns the hub's _Done.

        Raises what the child raised (``Unavailable``, ``StoreError``, ...),
        ``Unavailable`` when no child could take the teach (nothing was saved), or
        ``StillSaving`` when the child died or hung during it.
        """
        for _ in range(2):  # a child found dead is replaced once
            if self._sock is None or (self._ready and not self._alive()):
                self.close()
                self._spawn()
            try:
                self._wait_ready()
                self._sock.settimeout(ANSWER_WAIT)
                _send(self._sock, (request, head, revision))
                break
            except (OSError, EOFError) as error:  # the job has not reached a child
                log.error("the learning process is gone: %s", error)
                self.close()
        else:
            raise Unavailable("the learning process could not be started")
        try:
            status, answer = _receive(self._sock)
        except (OSError, EOFError) as error:  # died or hung: the next teach starts anew
            log.error("the learning process stopped during a teach: %s", error)
            self.close()
            raise StillSaving("the learning process stopped during the teach") from None
        if status == "error":
            raise answer
        return answer

    def close(self) -> None:
        """Close the worker's end: the child finishes what it is doing and exits."""
        sock, self._sock, self._ready = self._sock, None, False
        if sock is not None:
            sock.close()
        if self.pid is not None:
            self._exited.append(self.pid)
            self.pid = None
        self._reap()

    def _reap(self) -> None:
        """Collect the exit of children that have ended (no zombies are kept)."""
        waitpid = native_os("waitpid")
        for pid in list(self._exited):
            try:
                if waitpid(pid, os.WNOHANG)[0] == 0:
                    continue  # still finishing its teach: next time
            except ChildProcessError:  # reaped already (gevent reaps what it watches)
                pass
            self._exited.remove(pid)


def main(fd: int) -> None:
    """The child: open the store, warm up, then learn one teach at a time until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker; EOF stops this
    sock = _socket.socket(fileno=fd)
    options = _receive(sock)
    os.nice(options["nice"])
    store = open_store(options["store"], options["instance_path"])
    with ModelHub(store, policy=options["policy"], seed=options["seed"]) as hub:
        hub.learner.warm_up(hub.model)
        _send(sock, "ready")
        while True:
            try:
                request, head, revision = _receive(sock)
            except (EOFError, OSError):  # the worker has gone (or closed its end)
                return
            try:
                hub.sync()  # another worker's version may have come
                done = hub.learn(request, head, revision)  # its version is live here
                # Without the models: the worker loads the version from the store.
                answer = ("done", done._replace(model=None, learned=None))
            except Exception as error:
                if not isinstance(error, StoreError):  # a bug: its traceback is here
                    log.exception("a teach failed in the learning process")
                answer = ("error", error)
            try:
                try:
                    _send(sock, answer)
                except (pickle.PicklingError, TypeError, AttributeError):  # not picklable
                    _send(sock, ("error", RuntimeError(f"the teach failed: {answer[1]!r}")))
            except OSError:  # the worker has gone: what was committed stays committed
                return


if __name__ == "__main__":
    main(int(sys.argv[1]))
