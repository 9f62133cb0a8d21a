"""The hub's teacher: one native thread that runs teaches, one at a time, with a bound.

Teaches run backprop and the guard; on the teacher they never stall the worker's event
loop, and one worker's teaches never race each other.  Jobs that must not race a teach
(loading a writer, forgetting one, exporting) run there too.  Every wait is bounded:

- at most ``queue`` jobs wait; one more is refused at once (``Busy``);
- a caller waits at most TEACH_WAIT.  A teach still queued by then is withdrawn (it will
  not run: ``Unavailable``, "not saved"); one already running runs to its end, and its
  caller hears ``StillSaving`` (a resend with the same teach id gets its outcome).

After TIDY_EVERY teaches, or once teaching pauses for TIDY_IDLE seconds, the store is
pruned (``tidy``), off the teach's path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .blocking import loop_thread, native_executor, native_lock
from .store import Unavailable

TEACH_WAIT = 60.0
"""Seconds a caller waits for the teacher before answering ``unavailable`` (the store's
own timeouts come first; this bounds whatever else could hang)."""

TIDY_IDLE = 1.0
"""Seconds without a teach after which the store is pruned: freeing an old version costs
about as much as writing a new one, so it waits for a pause instead of delaying a teach."""

TIDY_EVERY = 8
"""Teaches after which the store is pruned even without a pause (bounds the disk)."""


class Busy(Exception):
    """More teaches wait for this worker than it queues; the client should slow down."""


class StillSaving(Exception):
    """A teach outlasted the wait while being saved: it may yet be saved (or not)."""


class _Raised:
    """What a job raised, carried back as its result.  gevent's thread pool prints a
    traceback for every exception a job raises, expected ones included (a full
    database, on every teach), so exceptions cross back as values and are raised again
    in the caller, which decides what is worth a log line."""

    def __init__(self, error: Exception):
        self.error = error

    @staticmethod
    def call(job: Callable, *args):
        try:
            return job(*args)
        except Exception as error:
            return _Raised(error)

    @staticmethod
    def unwrap(value):
        if isinstance(value, _Raised):
            raise value.error
        return value


class _Ticket:
    """A queued teach's fate: withdrawn before it started, or started (then it runs to
    its end).  The waiting greenlet and the teacher thread decide it under one lock."""

    def __init__(self):
        self._lock = native_lock()
        self._state = "queued"

    def start(self) -> bool:
        with self._lock:
            if self._state == "withdrawn":
                return False
            self._state = "started"
            return True

    def withdraw(self) -> bool:
        with self._lock:
            if self._state == "queued":
                self._state = "withdrawn"
            return self._state == "withdrawn"


class Teacher:
    """One native thread for teaches and the jobs that must not race them."""

    def __init__(self, queue: int, tidy: Callable[[], None]):
        if queue < 1:
            raise ValueError(f"teach_queue must be >= 1, got {queue}")
        self.queue = queue
        self.waiting = 0  # submitted and not yet finished
        self._tidy = tidy
        self._count = native_lock()  # the loop's greenlets and the threads share it
        self._pool = native_executor()
        self._untidy = 0  # teaches since the store was last tidied
        self._last_teach = time.monotonic()
        self._stopping = False

    def __repr__(self) -> str:
        return f"Teacher(waiting={self.waiting}, queue={self.queue})"

    def teach(self, job: Callable, *args):
        """Run ``job(*args)`` (a teach) and return its result (see the module doc)."""
        ticket = _Ticket()
        future = self._counted("teaches", self._teach_finished, self._unless_withdrawn,
                               ticket, job, *args)
        try:
            return _Raised.unwrap(future.result(timeout=TEACH_WAIT))
        except TimeoutError:  # the person hears what happened instead of waiting on
            if ticket.withdraw():
                raise Unavailable(f"the teach waited more than {TEACH_WAIT:.0f} s for the "
                                  "server and was not saved") from None
            raise StillSaving(f"the teach took more than {TEACH_WAIT:.0f} s") from None

    def run(self, job: Callable, *args):
        """Run a job that is not a teach, counted in the same queue; wait at most
        TEACH_WAIT (``Unavailable`` after that)."""
        future = self._counted("jobs", self._job_finished, job, *args)
        try:
            return _Raised.unwrap(future.result(timeout=TEACH_WAIT))
        except TimeoutError:
            raise Unavailable(f"the server took more than {TEACH_WAIT:.0f} s") from None

    def submit(self, job: Callable, *args):
        """Queue a job uncounted (the warm-up; tests) and return its future."""
        return self._pool.submit(job, *args)

    @staticmethod
    def _unless_withdrawn(ticket: _Ticket, job: Callable, *args):
        """The teach, unless it was withdrawn while it waited (teacher thread)."""
        return job(*args) if ticket.start() else None

    def _counted(self, what: str, finished, job, *args):
        """Count a job in (``Busy`` when ``queue`` wait) and hand it over; ``finished``
        counts it out when it has really finished, however long its caller waits."""
        with self._count:
            if self.waiting >= self.queue:
                raise Busy(f"too many {what} are waiting on this server")
            self.waiting += 1
        try:
            future = self._pool.submit(_Raised.call, job, *args)
        except BaseException:
            finished(None)
            raise
        future.add_done_callback(finished)
        return future

    def _job_finished(self, _future) -> None:
        with self._count:
            self.waiting -= 1

    def _teach_finished(self, _future) -> None:
        """A teach left the queue: count it out; tidy after TIDY_EVERY of them.  Runs where
        the executor runs done-callbacks: in the event loop's callbacks under gevent (so
        the tidy is handed over by a greenlet: the loop's thread is the only one that may
        submit to the teacher's pool, and a callback may not wait), the teacher's thread
        otherwise."""
        with self._count:
            self.waiting -= 1
            self._untidy += 1
            self._last_teach = time.monotonic()
            tidy = self._untidy >= TIDY_EVERY  # teaching without pause: tidy now
            if tidy:
                self._untidy = 0
        if tidy and not self._stopping:  # queued behind the teaches; never under a lock,
            # nor from the loop's callback itself, where nothing may wait for the pool
            loop_thread(lambda: self._pool.submit(self._tidy), "inkling-tidy")

    def tidy_when_idle(self) -> None:
        """Tidy once teaching has paused for TIDY_IDLE s (the follower's thread: it tidies
        itself rather than ask the pool, which only the event loop's thread may use)."""
        with self._count:
            if not self._untidy or self.waiting or \
                    time.monotonic() - self._last_teach < TIDY_IDLE:
                return
            self._untidy = 0
        self._tidy()

    def shutdown(self) -> None:
        """Finish the queued jobs; no tidy is started after this."""
        self._stopping = True
        self._pool.shutdown(wait=True)
