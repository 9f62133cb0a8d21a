"""Predictions batched across connections: many sockets, one forward pass.

A forward pass over a batch of images costs much less per image than one image at a
time (BLAS works on bigger matrices; Python's per-layer overhead is paid once), so
when several connections want a prediction at the same moment, one batch serves them
all.  Batches form by themselves: a connection hands its image to the batcher and
waits; the batcher takes everything that waits, runs it, and hands each answer back.
When nobody else waits, a batch is one image and costs one extra hand-off.

The batcher's thread (a greenlet under gevent) exists for exactly this: to run the
forward pass for everyone who waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from webapp import metrics
from webapp.blocking import loop_condition, loop_event, loop_thread

log = logging.getLogger(__name__)


class _Slot:
    """One waiting request: its image, and its answer once the batch has run."""

    __slots__ = ("item", "answer", "error", "done")

    def __init__(self, item):
        self.item = item
        self.answer = None
        self.error: BaseException | None = None
        self.done = loop_event()


class Batcher:
    """Runs ``predict_many(items)`` for every item waiting, at most ``max_batch`` at once."""

    def __init__(self, predict_many: Callable[[Sequence], list], max_batch: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.predict_many = predict_many
        self.max_batch = max_batch
        self._waiting: list[_Slot] = []
        self._cond = loop_condition()
        self._stopped = False
        self._thread = loop_thread(self._run, "inkling-batcher")

    def __repr__(self) -> str:
        return f"Batcher(max_batch={self.max_batch}, waiting={len(self._waiting)})"

    def predict(self, item):
        """Return the answer for one item (an image and whose it is); waits for its batch."""
        slot = _Slot(item)
        with self._cond:
            if self._stopped:
                raise RuntimeError("the batcher has stopped")
            self._waiting.append(slot)
            self._cond.notify()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.answer

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopped:
                    self._cond.wait()
                if self._stopped and not self._waiting:
                    return
                batch = self._waiting[:self.max_batch]
                del self._waiting[:self.max_batch]
            try:
                started = time.perf_counter()
                answers = self.predict_many([slot.item for slot in batch])
                metrics.STAGES["forward"].observe(time.perf_counter() - started)
                metrics.BATCH_SIZE.observe(len(batch))
            except Exception as error:  # a bug costs this batch its answers, not the thread
                log.exception("a batch of %d predictions failed", len(batch))
                answers = [None] * len(batch)
                for slot in batch:
                    slot.error = error
            for slot, answer in zip(batch, answers, strict=True):
                slot.answer = answer
                slot.done.set()

    def stop(self) -> None:
        """Answer what waits, then stop the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)
