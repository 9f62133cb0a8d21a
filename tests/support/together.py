"""Many clients at once: one thread each, started together, failures reported back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from support.wsclient import WAIT


def at_once(task: Callable, items: Sequence, timeout: float = 300) -> list[BaseException]:
    """Run ``task(i, item)`` for every item on a thread of its own, all released at one
    barrier (so their requests really overlap); return what any of them raised."""
    go = threading.Barrier(len(items))
    failures: list[BaseException] = []

    def run(i, item):
        try:
            go.wait(WAIT)
            task(i, item)
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return failures
