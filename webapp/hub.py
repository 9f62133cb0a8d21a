"""The worker's live model: one ModelHub per app, the only owner of the model in memory.

Who does what, and on which thread:

- *Predictions* (the batcher, or any caller) read the live snapshot (``webapp.snapshot``),
  never mutated, so no lock is taken and a prediction never waits for the database or a
  teach.  A writer's predictions add their personal head (``webapp.memories``).
- *Teaches* run on the teacher (``webapp.teacher``), one native thread with a bounded
  queue: a teach never stalls the event loop, and one worker's teaches run one at a time.
  Their NumPy runs on the teacher thread itself, or with ``INKLING_LEARNING=process`` in
  the worker's learning process (``webapp.learning``): the same ``learn``.
- *The follower* (``webapp.follower``), a native thread, makes other workers' versions
  and writers' changes live here.

A teach reads top to bottom in ``_teach`` and ``learn``: one transaction (``with
store.teaching``) catches up with the newest version, reads the drawing, lets the policy
decide what the shared model learns (``webapp.policy``) and records it; after the commit
the new version goes live and the writer's head learns the drawing.  A new live version is
news for every open page: ``on_new_version`` callbacks run as it is made live.  One
lock, ``_swap``: a version is never replaced by an older one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from network import pretrained
from network.nn.model import Sequential, load_model
from network.online.features import head_start
from network.online.learner import OnlineLearner
from network.online.personal import PersonalHead
from network.online.reading import read, read_ink

from .blocking import native_lock
from .follower import Follower
from .memories import Memories
from .policy import Policy, shared_step
from .snapshot import Snapshot, snapshot, taught_snapshot
from .store import (
    DEFAULT_KEEP,
    BaseMoved,
    Store,
    StoreError,
    TeachRecord,
    TeachRequest,
    Unavailable,
)
from .store.sqlite import SQLiteStore
from .teacher import Busy, Teacher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image (with the writer's head when there is one)."""

    probabilities: np.ndarray = field(repr=False)  # (10,) float64, sums to 1
    digit: int
    confidence: float
    model_version: int
    personal: bool = False


class _Done(NamedTuple):
    """A committed teach, as ``ModelHub.learn`` leaves it for the worker (``model`` is
    None when it comes from the learning process: the worker's live one stands in)."""

    record: TeachRecord
    model: Sequential | None  # the version the drawing was read with
    trunk: np.ndarray | None = None  # (D,) the drawing's trunk features under it
    learned: Sequential | None = None  # the new version, if accepted
    stale: bool = False  # the writer's head here missed a teach made elsewhere
    head: PersonalHead | None = None  # the writer's head with the drawing, fitted


class ModelHub:
    """The live model of one worker process: predictions, teaches and following others.

    The hub owns the store it is given and closes it in :meth:`close`.
    """

    def __init__(self, store: Store, *, policy: Policy | None = None, seed: int | None = None,
                 follow_interval: float = 0.25, teach_queue: int = 16,
                 personal_capacity: int = 100, learner: OnlineLearner | None = None,
                 initial_model: Sequential | str | os.PathLike | None = None,
                 unfinished_model: Sequential | None = None, learning=None) -> None:
        self.store = store
        self.learning = learning  # a LearningProcess (webapp.learning), or None: this thread
        self.policy = policy if policy is not None else Policy()
        self.rng = np.random.default_rng(seed)
        self.learner = learner if learner is not None else OnlineLearner.from_subset(
            rng=self.rng, not_sure_below=pretrained.NOT_SURE_BELOW)
        self.memories = Memories(store, self.learner, lambda: self._live.model,
                                 personal_capacity)
        self.unfinished_model = unfinished_model  # reads ink while the pen is down
        self.teacher = Teacher(teach_queue, tidy=self._tidy)
        self.follower = Follower(self, follow_interval)
        self.write_error: str | None = None  # why the last teach could not be saved, if so
        self.latest_seen: int | None = None  # the newest version in the store at sync
        self._news: list = []  # called when a newer version becomes live
        self._swap = native_lock()  # the follower, the teacher and greenlets share it
        self._syncing = native_lock()  # held while loading a version: native threads only
        self._started = False

        if store.latest_version() is None:
            self._seed(initial_model)
        self._live = self._load(None)

    @classmethod
    def from_instance(cls, instance_path: str | os.PathLike, *, keep: int = DEFAULT_KEEP,
                      **options: Any) -> ModelHub:
        """Open the SQLite store in an instance folder, seeding it on first start."""
        store = SQLiteStore.in_folder(instance_path, keep=keep)
        try:
            return cls(store, **options)
        except BaseException:
            store.close()
            raise

    def __repr__(self) -> str:
        return f"ModelHub(version={self._live.version}, store={self.store!r})"

    # -- the live version -----------------------------------------------------------
    @property
    def version(self) -> int:
        """The live version number."""
        return self._live.version

    @property
    def model(self) -> Sequential:
        """The live model (read-only by convention: predict with it, never mutate it)."""
        return self._live.model

    def info(self) -> dict:
        """The live version's facts: the body of GET /api/model (a copy)."""
        facts = dict(self._live.facts)
        facts["accuracy"] = dict(facts["accuracy"])
        return facts

    def _seed(self, initial_model: Sequential | str | os.PathLike | None) -> None:
        """Store the shipped (or given) model as version 1; a no-op if another process won."""
        if isinstance(initial_model, Sequential):
            model, origin = initial_model, "a model given in memory"
        else:
            path = initial_model if initial_model is not None else pretrained.CNN
            model, origin = load_model(path), os.fspath(path)
        checks = self.learner.checks(model)
        self.store.seed(model.to_bytes(), {"seeded_from": origin}, checks.heldout,
                        checks.to_json())

    def _load(self, version: int | None) -> Snapshot:
        """Read a version (None = newest) and its facts from the store."""
        record = self.store.load_version(version)
        model = Sequential.from_bytes(record.weights)
        return snapshot(model, record, self.store.taught_accuracy(), self.store.sample_count())

    def on_new_version(self, callback) -> None:
        """Call ``callback()`` whenever a newer version becomes live (from the thread that
        made it live: the teacher or the follower)."""
        self._news.append(callback)

    def _adopt(self, candidate: Snapshot) -> bool:
        """Make the snapshot live if it is newer than the live one; versions never go back."""
        with self._swap:
            if candidate.version <= self._live.version:
                return False
            self._live = candidate
        for callback in self._news:
            callback()
        return True

    def sync(self) -> bool:
        """Adopt the store's newest version (``latest_seen``) if newer; True if it did."""
        with self._syncing:  # the follower and the teacher: one loads, the other finds it
            latest = self.latest_seen = self.store.latest_version()
            if latest is None or latest <= self._live.version:
                return False
            try:
                candidate = self._load(latest)
            except StoreError:  # pruned meanwhile by a burst of teaches: take the newest
                candidate = self._load(None)
            return self._adopt(candidate)

    # -- predicting -----------------------------------------------------------------
    def predict_many(self, images, writers=None, pen_down=None) -> list[Prediction]:
        """Classify float32 (28, 28) images in one forward pass of the live model; where
        ``writers`` names a writer with a personal head, their head answers.  Where
        ``pen_down`` gives the points drawn so far (0: the pen is up), the unfinished-ink
        model reads (``pretrained.UNFINISHED``; not taught online, so no personal head) at
        its temperature for that many points, or without one the live model at its own."""
        live, x = self._live, np.stack(images).astype(np.float32)
        drawn = (np.zeros(len(x)) if pen_down is None
                 else np.asarray(pen_down, dtype=np.float64))
        probabilities, hidden, t = read_ink(live.model, self.unfinished_model, x, drawn)
        out = []
        for i, p in enumerate(probabilities):
            head = self.memories.get(writers[i]) if writers and writers[i] else None
            if head is not None and hidden[i] is not None:
                p = head.probabilities(hidden[i][None], p[None], float(t[i]))[0]
            digit = int(p.argmax())
            out.append(Prediction(p, digit, float(p[digit]), live.version,
                                  head is not None and len(head) > 0))
        return out

    def predict(self, image: np.ndarray, writer: str | None = None,
                pen_down: int = 0) -> Prediction:
        """Classify one float32 (28, 28) image in [0, 1] with the live model."""
        return self.predict_many([image], [writer], [pen_down])[0]

    # -- writers ----------------------------------------------------------------------
    def prepare(self, writer: str) -> dict:
        """Make sure this worker has the writer's newest head (loading it on the teacher if
        not: a new writer gets an empty one, so later changes are followed); return the
        writer's {"samples", "accuracy"}."""
        try:
            return self.teacher.run(self._prepare, writer)
        except (Busy, Unavailable):  # predictions go on without the head meanwhile
            return {"samples": 0, "accuracy": None}

    def _prepare(self, writer: str) -> dict:
        try:
            state = self.memories.prepare(writer)  # read your own writes
        except StoreError:  # the database is away: predictions go on without the head
            state = None
        if state is None:
            return {"samples": 0, "accuracy": None}
        return {"samples": state.samples, "accuracy": state.accuracy}

    def forget(self, writer: str) -> int:
        """Delete the writer's drawings and head everywhere; return how many drawings."""
        deleted = self.teacher.run(self.store.forget, writer)
        self.memories.drop(writer)
        return deleted

    # -- teaching -------------------------------------------------------------------
    def teach(self, request: TeachRequest) -> TeachRecord:
        """Learn the drawing: the writer's head at once, the shared model if the policy
        allows; return what the teach did, after the commit.  Raises ``Busy`` when the
        teacher's queue is full, ``Unavailable`` when it was not saved and
        ``StillSaving`` when it outlasted the wait while being saved (``webapp.teacher``).

        Trusted input: ``request`` was made from checked values (``webapp.protocol``).
        """
        return self.teacher.teach(self._teach, request)

    def approve(self, drawing_id: int) -> TeachRecord:
        """An operator approves a pending drawing: everyone's model learns it as the
        owner's teach (learner and guard, no budgets or agreement), in that drawing's
        own row.  Raises StoreError if it is not pending."""
        pending = self.store.pending_drawing(drawing_id)
        if pending is None:
            raise StoreError(f"drawing {drawing_id} is not pending")
        return self.teach(TeachRequest(pending["strokes"], pending["image"], pending["label"],
                                       None, None, pending["source"], trust="owner",
                                       approves=int(drawing_id)))

    def _teach(self, request: TeachRequest) -> TeachRecord:
        """One teach, on the teacher thread, top to bottom (see the module doc)."""
        writer = request.writer
        revision, head = self.memories.now(writer) if writer else (0, None)
        learn = self.learning.learn if self.learning is not None else self.learn
        if writer:
            self.memories.teaching(writer, True)
        try:
            try:
                done = learn(request, head, revision)
            except Unavailable as error:
                self._note_write(str(error))
                raise
            self._note_write(None)  # committed
            record = done.record
            if not record.replayed:
                # A version learned on this thread is live already; one the learning
                # process made loads from the store, unless the follower was first.
                if done.learned is None:
                    self.sync()
                if writer is not None and record.writer is not None:
                    if done.stale:  # another worker taught this writer meanwhile
                        self.memories.load(writer)
                    else:
                        self.memories.put(writer, record.writer.revision, done.head)
        finally:
            if writer:
                self.memories.teaching(writer, False)
        model = next(m for m in (done.learned, done.model, self._live.model) if m is not None)
        return self._answer(record, model, done.trunk, request)

    def learn(self, request: TeachRequest, head: PersonalHead | None,
              revision: int) -> _Done:
        """A teach's work, on the teacher thread or in the learning process
        (``webapp.learning``): the transaction, the new version made live here, and the
        writer's head (as of ``revision``) with the drawing, fitted."""
        try:
            done = self._transaction(request, head, revision,
                                     exclusive=self.policy.always_learns(request))
        except BaseMoved:  # a version came between reading and locking: again, locked
            done = self._transaction(request, head, revision, exclusive=True)
        record = done.record
        if record.replayed:
            return done
        if record.accepted:
            self._adopt(taught_snapshot(done.learned, record))
        if request.writer is None or record.writer is None or done.stale:
            return done  # no head, or a stale one: the worker loads it from the store
        model = done.learned if record.accepted else done.model
        anchors = self.learner.personal_anchors(model)
        return done._replace(head=head.added(done.trunk, request.label).fitted(model, *anchors))

    def _transaction(self, request: TeachRequest, head: PersonalHead | None, revision: int,
                     exclusive: bool) -> _Done:
        """The teach's one transaction: read the drawing under the newest version, let the
        policy decide (it locks everyone's model only to learn), record it, commit."""
        with self.store.teaching(request, exclusive) as txn:
            if txn.replayed is not None:  # a resend of a committed teach: its answer
                return _Done(txn.replayed, self._live.model)
            # Catch up: learn from the newest version, which another worker may have made.
            live = self._live
            model = live.model if live.version == txn.base.version \
                else Sequential.from_bytes(txn.weights())
            trunk = self.learner.features(model, request.pixels)
            h, shared = read(model, trunk, head_start(model))
            predicted = seen = int(shared[0].argmax())
            if head is not None:
                seen = int(head.probabilities(h, shared, model.temperature)[0].argmax())
            decision, learned = shared_step(self.policy, self.learner, self.rng, txn, model,
                                            trunk[0], shared[0], predicted, seen)
            # Another worker taught this writer since this head was built: rebuild it.
            stale = head is not None and txn.writer_revision(request.writer) != revision
            return _Done(txn.record(decision), model, trunk[0], learned, stale)

    def _answer(self, record: TeachRecord, model: Sequential, trunk: np.ndarray | None,
                request: TeachRequest) -> TeachRecord:
        """The record with ``after``: what the writer's predictions say of the drawing now."""
        if trunk is None:
            trunk = self.learner.features(model, request.pixels)[0]
        head = self.memories.get(request.writer) if request.writer else None
        h, p = read(model, trunk[None], head_start(model))
        if head is not None:
            p = head.probabilities(h, p, model.temperature)
        return replace(record, after={"digit": int(p[0].argmax()),
                                      "confidence": round(float(p[0].max()), 6)})

    def _tidy(self) -> None:
        """Prune old versions and drawings beyond retention (teacher or follower thread)."""
        try:
            self.store.tidy()
        except Exception as error:  # the next teach's tidy tries again
            log.warning("could not prune the store: %s", error)

    # -- health -----------------------------------------------------------------------
    def probe_write(self) -> None:
        """Teaches could not be saved: the error stays until a write succeeds again."""
        try:
            self.store.probe_write()
        except Exception as error:
            self._note_write(f"{type(error).__name__}: {error}")
        else:
            self._note_write(None)

    def _note_write(self, error: str | None) -> None:
        """Remember whether teaches can be saved; say so once per change of state."""
        if error != self.write_error:
            if error:
                log.error("teaches cannot be saved: %s", error)
            else:
                log.info("teaches are saved again")
            self.write_error = error

    def health(self) -> str | None:
        """Why this worker cannot serve everything (database down or full), or None."""
        if self.follower.error:
            return f"The database cannot be reached ({self.follower.error})."
        if self.write_error:
            return f"The database cannot take new drawings ({self.write_error})."
        return None

    # -- lifetime ---------------------------------------------------------------------
    def start(self) -> ModelHub:
        """Start the learning process and wait until it is warm (or, teaching on the
        teacher thread, warm its learner up as its first job); start following
        (idempotent)."""
        if not self._started:
            self._started = True
            if self.learning is not None:
                self.learning.start()
            else:
                self.teacher.submit(self._warm_up)
            self.follower.start()
        return self

    def _warm_up(self) -> None:
        # The first teach would otherwise compute the guard sets' trunk features.
        try:
            self.learner.warm_up(self._live.model)
        except Exception:  # only an optimisation: a teach computes what it needs
            log.exception("learner warm-up failed")

    def close(self) -> None:
        """Stop following, finish the queued teaches, close the store (idempotent)."""
        self.follower.stop()
        self.teacher.shutdown()
        if self.learning is not None:
            self.learning.close()
        self.store.close()

    def __enter__(self) -> ModelHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
