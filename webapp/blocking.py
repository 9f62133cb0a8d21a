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
"""

from __future__ import annotations

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
