"""Native threads for work that must not stall a worker's event loop.

Under gunicorn's gevent worker every connection is a greenlet on one OS thread, so a
teach (tens of milliseconds of NumPy and an fsync) or a wait on the database would
stall every prediction of the worker.  Such work runs on a native thread instead, and
the greenlet that asked for it waits cooperatively for the result.  gevent's
``ThreadPoolExecutor`` is documented to use native threads even when ``threading`` is
monkey-patched; without gevent (werkzeug in tests, the gthread worker) the standard
executor is the same thing.

Code that runs on these threads sleeps with ``native_sleep``: gevent's patched
``time.sleep`` belongs to the event loop's thread.  A lock that both a greenlet and a
native thread take is a ``native_lock``: an OS lock, not gevent's cooperative one (whose
wake-ups across threads go through the loop).  Such a lock guards a few assignments
and never a wait, so a greenlet that finds it taken blocks the loop for microseconds.

The one threading rule, enforced here: every lock, condition, event and thread of the
app is made by a factory of this module (``tests/test_threading_rule.py`` fails on any
other), so each one says which kind it is:

- ``native_lock``, ``native_event``: state that a native thread (the teacher, the
  follower) touches too;
- ``loop_lock``, ``loop_condition``, ``loop_event``, ``loop_thread``: state that only
  the event loop's greenlets touch (under gevent these are gevent's; without it, the
  server's request threads, they are the standard ones).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor


def gevent_active() -> bool:
    """True inside a gevent worker (the threading module is monkey-patched)."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("threading")


def native_executor() -> Executor:
    """A one-thread executor whose thread is a real OS thread, gevent or not."""
    if gevent_active():
        from gevent.threadpool import ThreadPoolExecutor

        return ThreadPoolExecutor(1)
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1)


def start_native_thread(target: Callable[[], None], name: str) -> None:
    """Run ``target`` on a native daemon thread of its own (it must end by itself)."""
    if gevent_active():
        from gevent.threadpool import ThreadPool

        ThreadPool(1).spawn(target)
    else:
        threading.Thread(target=target, name=name, daemon=True).start()


def native_lock():
    """An OS-level lock, gevent or not (for state shared with native threads)."""
    if gevent_active():
        from gevent import monkey

        return monkey.get_original("_thread", "allocate_lock")()
    return threading.Lock()


def native_sleep(seconds: float) -> None:
    """Sleep on a native thread without touching gevent's event loop."""
    if gevent_active():
        from gevent import monkey

        monkey.get_original("time", "sleep")(seconds)
    else:
        time.sleep(seconds)


def native_os(name: str) -> Callable:
    """The ``os`` function ``name`` as the OS gives it: gevent's ``posix_spawn`` and
    ``waitpid`` watch children through the event loop, which a native thread does not run."""
    if gevent_active():
        from gevent import monkey

        return monkey.get_original("os", name)
    return getattr(os, name)


def native_event():
    """An OS-level event, gevent or not (set by a native thread, waited on anywhere:
    a greenlet that waits on it blocks the loop, so only for shutdown)."""
    if gevent_active():
        from gevent import monkey

        return monkey.get_original("threading", "Event")()
    return threading.Event()


def loop_lock():
    """A lock for state only the event loop's greenlets (or request threads) touch."""
    return threading.Lock()


def loop_condition():
    """A condition for state only the event loop's greenlets (or request threads) touch."""
    return threading.Condition()


def loop_event():
    """An event set and waited on by the event loop's greenlets (or request threads)."""
    return threading.Event()


def loop_thread(target: Callable[[], None], name: str):
    """A greenlet under gevent (``gevent.spawn``: it never waits, so even a loop callback
    may start one), a daemon thread without it; started."""
    if gevent_active():
        import gevent

        return gevent.spawn(target)
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def loop_waker(callback: Callable[[], None]) -> Callable[[], None]:
    """A function any thread may call to have ``callback()`` run soon on the event loop.

    Under gevent: a loop watcher (``loop.async_()``, whose ``send`` is gevent's
    documented thread-safe wake-up) that spawns a greenlet for the callback; it must be
    made on the event loop's thread.  Without gevent, the callback runs at once on the
    caller's thread.
    """
    if not gevent_active():
        return callback
    import gevent

    watcher = gevent.get_hub().loop.async_()
    watcher.start(lambda: gevent.spawn(callback))
    return watcher.send
