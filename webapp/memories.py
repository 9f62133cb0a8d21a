"""A worker's writers' personal heads (``network.online.personal.PersonalHead``).

The truth is the writer's drawings in the store; a worker keeps the memories of the
writers it has seen lately (least recently used go first beyond ``size``), each with
the writer's revision when it was built (``build``: their drawings from the store,
fitted under the live model).  A teach on this worker updates its writer's
entry at once; teaches and forgets on other workers change the writer's revision in the
store, and the hub's follower reloads those entries (``stale``), so a writer's drawings
follow them to every worker within a second.

One lock: the batcher reads entries, the teacher and the follower replace them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from network.nn.model import Sequential
from network.online.personal import PersonalHead as Memory

from .blocking import native_lock


class Memories:
    """Writer id -> (revision, Memory), at most ``size`` of them."""

    def __init__(self, store, learner, live_model: Callable[[], Sequential],
                 capacity: int = 100, size: int = 64):
        self.store = store
        self.learner = learner
        self.live_model = live_model  # the model heads are fitted under, when built
        self.capacity = capacity  # a writer's drawings a head learns from
        self.size = size
        self._entries: OrderedDict[str, tuple[int, Memory]] = OrderedDict()
        self._teaching: set[str] = set()  # writers a teach of this worker will put
        self._lock = native_lock()  # taken by greenlets and native threads

    def __repr__(self) -> str:
        return f"Memories(writers={len(self._entries)}, size={self.size})"

    def get(self, writer: str) -> Memory | None:
        """The writer's memory if this worker has it (and mark it recently used)."""
        with self._lock:
            entry = self._entries.get(writer)
            if entry is None:
                return None
            self._entries.move_to_end(writer)
            return entry[1]

    def entry(self, writer: str) -> tuple[int, Memory] | None:
        """(revision, memory) of the writer if this worker has it (marked recently used)."""
        with self._lock:
            entry = self._entries.get(writer)
            if entry is not None:
                self._entries.move_to_end(writer)
            return entry

    def put(self, writer: str, revision: int, memory: Memory) -> None:
        """Keep a memory built at ``revision``, unless a newer one is kept already."""
        with self._lock:
            entry = self._entries.get(writer)
            if entry is not None and entry[0] > revision:
                return
            self._entries[writer] = (revision, memory)
            self._entries.move_to_end(writer)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, writer: str) -> None:
        with self._lock:
            self._entries.pop(writer, None)

    def stale(self, changed: list[tuple[str, int]]) -> list[str]:
        """Of writers whose drawings changed (with their new revision), those cached here
        at an older revision, except those this worker is teaching (``teaching``)."""
        with self._lock:
            return [w for w, revision in changed if w in self._entries and
                    w not in self._teaching and self._entries[w][0] < revision]

    def teaching(self, writer: str, now: bool) -> None:
        """Mark (``now``) or unmark a writer this worker is teaching.  Meanwhile the
        follower leaves their head alone: the teach commits, then puts the head it fitted
        (or reloads it, when another worker taught them first), and a rebuild by the
        follower in between would fit the same drawings a second time.  A teach
        elsewhere after it is still seen: the follower looks back LOOK_BACK."""
        with self._lock:
            if now:
                self._teaching.add(writer)
            else:
                self._teaching.discard(writer)

    def build(self, writer: str) -> tuple[int, Memory]:
        """(revision, head) of a writer from the store, fitted under the live model (an
        empty head, at 0, for a new writer)."""
        state = self.store.writer_state(writer)
        if state is None:
            return 0, Memory(np.zeros((0, 1)), [], self.capacity)
        images, labels = self.store.writer_drawings(writer, self.capacity)
        model = self.live_model()
        head = Memory(self.learner.features(model, images), labels, self.capacity)
        return state.revision, head.fitted(model, *self.learner.personal_anchors(model))

    def load(self, writer: str) -> None:
        """Build a writer's memory from the store and keep it."""
        self.put(writer, *self.build(writer))

    def now(self, writer: str) -> tuple[int, Memory]:
        """The writer's (revision, head), loaded now if this worker has none."""
        entry = self.entry(writer)
        if entry is None:
            self.load(writer)
            entry = self.entry(writer)
        return entry

    def prepare(self, writer: str):
        """The writer's state in the store (``WriterState``, or None for a new writer),
        with this worker's head of them made current first (loaded if it has none, or
        if the store's revision is newer: a teach on another worker or host is committed,
        and acknowledged, before this worker's follower may have looked)."""
        state = self.store.writer_state(writer)
        entry = self.entry(writer)
        if entry is None or (state is not None and state.revision > entry[0]):
            self.load(writer)
        return state

    def reload(self, changed: list[tuple[str, int]]) -> None:
        """Rebuild the heads held here of writers whose drawings changed elsewhere
        ((writer, revision) pairs, from ``Store.changed_writers``)."""
        for writer in self.stale(changed):
            self.load(writer)
