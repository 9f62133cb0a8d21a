"""The worker's live model: one ModelHub per app, the only owner of the model in memory.

Who does what, and on which thread:

- *Predictions* (the batcher, or any caller) read the live snapshot: a model that is
  never mutated, so no lock is taken (inference leaves no state in the layers) and a
  prediction never waits for the database or a teach.  A writer's predictions add
  their personal head's correction (``network.online.personal``).
- *Teaches* run on the hub's teacher, one native thread (``webapp.blocking``): a teach
  never stalls the worker's event loop, and one worker's teaches run one at a time.  At
  most ``teach_queue`` may wait; more are refused at once (``Busy``).
- *The follower*, a second native thread, waits for other workers' versions and
  writers' changes (``Store.wait_for_change``) and makes them live here.

The teach step, one transaction, reads top to bottom: catch up with the newest shared
version; the shared model learns the drawing only as ``webapp.policy`` allows (trust,
budgets, agreement, the guard); everything is recorded; then the writer's head is
fitted again to all their drawings under the model now live (it affects no one else).
A new live version is news for every open page: ``on_new_version`` callbacks (the
runtime's, which wakes the event loop to tell every socket at once) run as it is made
live, here or by the follower.

Two locks: ``_swap`` (the teacher and the follower both make snapshots live, and a
version must never be replaced by an older one) and ``_count`` (the teaches waiting,
and those since the store was last pruned).
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from network import pretrained
from network.nn.losses import softmax
from network.nn.model import Sequential, load_model
from network.online.features import forward, head_start
from network.online.learner import OnlineLearner
from network.online.personal import (
    NONDIGIT_EVERY,
    PersonalHead,
    hidden_end,
    hidden_features,
    pick_anchors,
)

from .blocking import (
    loop_thread,
    native_event,
    native_executor,
    native_lock,
    start_native_thread,
)
from .memories import Memories
from .policy import Policy, shared_step
from .store import (
    DEFAULT_KEEP,
    Store,
    StoreError,
    TeachDecision,
    TeachRecord,
    TeachRequest,
    TeachTransaction,
    Unavailable,
    VersionInfo,
)
from .store.sqlite import SQLiteStore

log = logging.getLogger(__name__)


TIDY_IDLE = 1.0
"""Seconds without a teach after which the store is pruned: freeing an old version costs
about as much as writing a new one, so it waits for a pause instead of delaying a teach."""

TEACH_WAIT = 60.0
"""Seconds a teach's connection waits for the teacher before answering ``unavailable``
(the store's own timeouts come first; this bounds whatever else could hang)."""

TIDY_EVERY = 8
"""Teaches after which the store is pruned even without a pause (bounds the disk)."""


class Busy(Exception):
    """More teaches wait for this worker than it queues; the client should slow down."""


class StillSaving(Exception):
    """A teach outlasted the wait while being saved: it may yet be saved (or not)."""


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


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image (with the writer's head when there is one)."""

    probabilities: np.ndarray = field(repr=False)  # (10,) float64, sums to 1
    digit: int
    confidence: float
    model_version: int
    personal: bool = False


@dataclass(frozen=True)
class TeachOutcome:
    """What a teach did, after its commit."""

    label: int
    predicted: int  # the shared model's answer before the teach
    model_version: int
    accuracy: dict  # {"heldout": float | None, "taught": float | None}
    samples: int  # accepted taught drawings (shared)
    status: str  # the shared model's: accepted, pending or refused
    reason: str | None  # why not accepted, in a sentence a person understands
    after: dict  # {"digit", "confidence"}: what the writer's predictions say now
    writer: dict | None  # {"samples", "accuracy"} of the writer, if any

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Snapshot:
    """One version in memory with its facts (the body of GET /api/model); never mutated."""

    model: Sequential
    version: int
    facts: dict[str, Any]


def read(model: Sequential, x: np.ndarray, start: int,
         temperature=None) -> tuple[np.ndarray, np.ndarray]:
    """The hidden features h (N, H) and calibrated shared probabilities (N, 10) of x
    entering ``model.layers[start:]`` (images at 0, trunk features at ``head_start``);
    ``temperature`` (a number, or (N, 1) per row) defaults to the model's."""
    end = hidden_end(model)
    h = forward(model.layers[start:end], x)
    t = model.temperature if temperature is None else temperature
    return h, softmax(forward(model.layers[end:], h).astype(np.float64) / t)


def unfinished_temperature(model: Sequential) -> float:
    """The temperature for ink that is unfinished for certain (the pen is down), fitted
    on drawings cut part-way (``network.training.loop``); the model's own otherwise."""
    return float(model.metadata.get("temperature_unfinished") or model.temperature)


def load_unfinished(path) -> Sequential | None:
    """The model that reads ink while the pen is down (``pretrained.UNFINISHED``), or None
    when there is none (the live model reads it then, at its unfinished temperature)."""
    return load_model(path) if path is not None and os.path.exists(path) else None


def describe_architecture(model: Sequential) -> str:
    """Return a short readable architecture, e.g. 'Conv2D 1->32 3x3 | ... | Dense 128->10'."""
    parts = []
    for layer in model.layers:
        config, name = layer.config(), type(layer).__name__
        if name == "Conv2D":
            parts.append(f"Conv2D {config['c_in']}->{config['c_out']} "
                         f"{config['kernel']}x{config['kernel']}")
        elif name == "Dense":
            parts.append(f"Dense {config['n_in']}->{config['n_out']}")
        elif name in ("ReLU", "Sigmoid", "MaxPool2D", "Flatten", "Dropout"):
            parts.append(name)
    return " | ".join(parts)


def snapshot(model: Sequential, info: VersionInfo, taught: float | None, samples: int) -> Snapshot:
    """The snapshot of a version, its facts computed once."""
    facts = {"version": info.version, "architecture": describe_architecture(model),
             "parameters": model.n_parameters,
             "accuracy": {"heldout": info.heldout, "taught": taught}, "samples": samples,
             "temperature": model.temperature, "created": info.created,
             "parent": info.parent, "layers": model.architecture()}
    return Snapshot(model, info.version, facts)


class ModelHub:
    """The live model of one worker process: predictions, teaches and following others.

    The hub owns the store it is given and closes it in :meth:`close`.
    """

    def __init__(self, store: Store, *, policy: Policy | None = None, seed: int | None = None,
                 follow_interval: float = 0.25, teach_queue: int = 16,
                 personal_capacity: int = 100, learner: OnlineLearner | None = None,
                 initial_model: Sequential | str | os.PathLike | None = None,
                 unfinished_model: Sequential | None = None) -> None:
        if follow_interval <= 0 or teach_queue < 1:
            raise ValueError("follow_interval must be > 0 and teach_queue >= 1")
        self.store = store
        self.policy = policy if policy is not None else Policy()
        self.follow_interval = float(follow_interval)
        self.teach_queue = teach_queue
        self.personal_capacity = personal_capacity
        self.rng = np.random.default_rng(seed)
        self.learner = learner if learner is not None else OnlineLearner.from_subset(
            rng=self.rng, not_sure_below=pretrained.NOT_SURE_BELOW)
        self.memories = Memories()
        self.unfinished_model = unfinished_model  # reads ink while the pen is down
        self._anchor_cache: tuple[Sequential, np.ndarray, np.ndarray] | None = None
        self._news: list = []  # called when a newer version becomes live
        self.store_error: str | None = None  # why the follower cannot read the store, if so
        self.write_error: str | None = None  # why the last teach could not be saved, if so
        self.teaches_waiting = 0  # submitted to the teacher and not yet answered
        self.lag = 0  # versions the live model was behind the store at the follower's look

        self._swap = native_lock()  # the follower, the teacher and greenlets share these
        self._count = native_lock()
        self._teacher = native_executor()
        self._started = False
        self._followed = native_event()  # set when the follower has stopped
        self._stopping = False
        self._writer_revision = 0
        self._untidy = 0  # teaches since the store was last tidied
        self._last_teach = time.monotonic()

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
        """Adopt the store's newest version if it is newer; return whether it changed."""
        latest = self.store.latest_version()
        if latest is None or latest <= self._live.version:
            return False
        try:
            candidate = self._load(latest)
        except StoreError:  # pruned meanwhile by a burst of teaches: take the newest
            candidate = self._load(None)
        return self._adopt(candidate)

    # -- predicting -----------------------------------------------------------------
    def predict_many(self, images, writers=None, unfinished=None) -> list[Prediction]:
        """Classify float32 (28, 28) images in one forward pass of the live model; where
        ``writers`` names a writer with a personal head, their head answers.  Where
        ``unfinished`` is true (the pen is down) the unfinished-ink model reads instead
        (``pretrained.UNFINISHED``: trained for ink cut part-way; not taught online, so
        no personal head), or without one the live model at its unfinished temperature."""
        live = self._live
        x = np.stack(images).astype(np.float32)
        n = len(x)
        down = np.zeros(n, bool) if unfinished is None else np.asarray(unfinished, bool)
        by_live = ~down if self.unfinished_model is not None else np.ones(n, bool)
        t = np.where(down, unfinished_temperature(live.model), live.model.temperature)[:, None]
        probabilities, hidden = np.empty((n, 10)), [None] * n
        rows = np.flatnonzero(by_live)
        if len(rows):
            h, probabilities[rows] = read(live.model, x[rows], 0, t[rows])
            for k, row in enumerate(rows):
                hidden[row] = h[k]
        rows = np.flatnonzero(~by_live)
        if len(rows):
            model = self.unfinished_model
            probabilities[rows] = read(model, x[rows], 0, unfinished_temperature(model))[1]
        out = []
        for i, p in enumerate(probabilities):
            head = self.memories.get(writers[i]) if writers and writers[i] else None
            if head is not None and hidden[i] is not None:
                p = head.probabilities(hidden[i][None], p[None], float(t[i, 0]))[0]
            digit = int(p.argmax())
            out.append(Prediction(p, digit, float(p[digit]), live.version,
                                  head is not None and len(head) > 0))
        return out

    def predict(self, image: np.ndarray, writer: str | None = None,
                unfinished: bool = False) -> Prediction:
        """Classify one float32 (28, 28) image in [0, 1] with the live model."""
        return self.predict_many([image], [writer], [unfinished])[0]

    # -- writers ----------------------------------------------------------------------
    def prepare(self, writer: str) -> dict:
        """Make sure this worker has the writer's newest head (loading it on the teacher if
        not: a new writer gets an empty one, so later changes are followed); return the
        writer's {"samples", "accuracy"}."""
        try:
            return self._on_teacher(self._prepare, writer)
        except (Busy, Unavailable):  # predictions go on without the head meanwhile
            return {"samples": 0, "accuracy": None}

    def _prepare(self, writer: str) -> dict:
        try:
            state = self.store.writer_state(writer)
            entry = self.memories.entry(writer)
            # Read your own writes: a teach on another worker or host is committed (and
            # acknowledged) before its follower here may have looked; the revision tells.
            if entry is None or (state is not None and state.revision > entry[0]):
                self.memories.load(writer, self._build_memory)
        except StoreError:  # the database is away: predictions go on without the head
            state = None
        if state is None:
            return {"samples": 0, "accuracy": None}
        return {"samples": state.samples, "accuracy": state.accuracy}

    def _build_memory(self, writer: str) -> tuple[int, PersonalHead]:
        """(revision, head) of a writer from the store, fitted under the live model (an
        empty head, at 0, for a new writer)."""
        state = self.store.writer_state(writer)
        if state is None:
            return 0, PersonalHead(np.zeros((0, 1)), [], self.personal_capacity)
        images, labels = self.store.writer_drawings(writer, self.personal_capacity)
        model = self._live.model
        head = PersonalHead(self.learner.features(model, images), labels,
                            self.personal_capacity)
        return state.revision, head.fitted(model, *self._anchors(model))

    def _anchors(self, model: Sequential) -> tuple[np.ndarray, np.ndarray]:
        """What a personal head replays besides the writer's drawings: fixed anchor digits
        and non-digits (label -1), as hidden features (m, H) under ``model`` and labels
        (m,).  The last model's are kept (the teacher and the follower may both ask:
        each computes the same)."""
        known = self._anchor_cache
        if known is not None and known[0] is model:
            return known[1], known[2]
        learner = self.learner
        picks = pick_anchors(learner.anchor_y)
        nondigits = learner.check_x[learner.segments["nondigits"]][::NONDIGIT_EVERY]
        trunk = np.concatenate([learner.anchor_features(model)[picks],
                                learner.features(model, nondigits)])
        labels = np.concatenate([learner.anchor_y[picks], np.full(len(nondigits), -1)])
        self._anchor_cache = (model, hidden_features(model, trunk), labels)
        return self._anchor_cache[1], labels

    def forget(self, writer: str) -> int:
        """Delete the writer's drawings and head everywhere; return how many drawings."""
        deleted = self._on_teacher(self.store.forget, writer)
        self.memories.drop(writer)
        return deleted

    # -- teaching -------------------------------------------------------------------
    def teach(self, request: TeachRequest) -> TeachOutcome:
        """Learn the drawing: the writer's head at once, the shared model if the policy
        allows; return after the commit.  Raises Busy when ``teach_queue`` teaches wait,
        Unavailable when it could not be saved (a teach still queued after TEACH_WAIT is
        withdrawn, so it is not saved), and StillSaving when it outlasted TEACH_WAIT
        while being saved (a resend with the same ``teach_id`` gets its outcome).

        Trusted input: ``request`` was made from checked values (``webapp.protocol``).
        """
        ticket = _Ticket()
        future = self._submit("teaches", self._teach_finished, self._teach_ticket, request,
                              ticket)
        try:
            return future.result(timeout=TEACH_WAIT)
        except TimeoutError:  # the person hears what happened instead of waiting on
            if ticket.withdraw():
                raise Unavailable(f"the teach waited more than {TEACH_WAIT:.0f} s for the "
                                  "server and was not saved") from None
            raise StillSaving(f"the teach took more than {TEACH_WAIT:.0f} s") from None

    def _on_teacher(self, job, *args):
        """Run a job that is not a teach on the teacher (one at a time with teaches, on
        its native thread), counted in the same queue, waiting at most TEACH_WAIT."""
        future = self._submit("jobs", self._left_queue, job, *args)
        try:
            return future.result(timeout=TEACH_WAIT)
        except TimeoutError:
            raise Unavailable(f"the server took more than {TEACH_WAIT:.0f} s") from None

    def _submit(self, what: str, finished, job, *args):
        """Count a job into the teacher's queue (Busy when ``teach_queue`` wait) and hand
        it over; ``finished(future)`` counts it out when it has really finished, however
        long its caller waits."""
        with self._count:
            if self.teaches_waiting >= self.teach_queue:
                raise Busy(f"too many {what} are waiting on this server")
            self.teaches_waiting += 1
        try:
            future = self._teacher.submit(job, *args)
        except BaseException:
            finished(None)
            raise
        future.add_done_callback(finished)
        return future

    def _left_queue(self, _future) -> None:
        with self._count:
            self.teaches_waiting -= 1

    def _teach_finished(self, _future) -> None:
        """A teach left the queue: count it out; tidy after TIDY_EVERY of them.  Runs where
        the executor runs done-callbacks: in the event loop's callbacks under gevent (so
        the tidy is handed over by a greenlet: the loop's thread is the only one that may
        submit to the teacher's pool, and a callback may not wait), the teacher's thread
        otherwise."""
        with self._count:
            self.teaches_waiting -= 1
            self._untidy += 1
            self._last_teach = time.monotonic()
            tidy = self._untidy >= TIDY_EVERY  # teaching without pause: tidy now
            if tidy:
                self._untidy = 0
        if tidy and not self._stopping:  # queued behind the teaches; never under a lock,
            # nor from the loop's callback itself, where nothing may wait for the pool
            loop_thread(lambda: self._teacher.submit(self._tidy), "inkling-tidy")

    def approve(self, drawing_id: int) -> TeachOutcome:
        """An operator approves a pending drawing: everyone's model learns it as the
        owner's teach (learner and guard, no budgets or agreement), in that drawing's
        own row.  Raises StoreError if it is not pending."""
        pending = self.store.pending_drawing(drawing_id)
        if pending is None:
            raise StoreError(f"drawing {drawing_id} is not pending")
        return self.teach(TeachRequest(pending["strokes"], pending["image"], pending["label"],
                                       None, None, pending["source"], trust="owner",
                                       approves=int(drawing_id)))

    def _teach_ticket(self, request: TeachRequest, ticket: _Ticket) -> TeachOutcome | None:
        """The teach, unless it was withdrawn while it waited (teacher thread)."""
        if not ticket.start():
            return None
        return self._teach(request)

    def _teach(self, request: TeachRequest) -> TeachOutcome:
        """The teach step, on the teacher thread: one transaction (see the module doc)."""
        writer = request.writer
        revision, head = self._memory_now(writer) if writer else (0, None)
        made: dict[str, Any] = {}

        def step(txn: TeachTransaction) -> TeachDecision:
            # Catch up: learn from the newest version, which another worker may have made.
            live = self._live
            model = live.model if live.version == txn.base.version \
                else Sequential.from_bytes(txn.weights())
            trunk = self.learner.features(model, request.pixels)
            h, shared = read(model, trunk, head_start(model))
            predicted = int(shared[0].argmax())
            seen = predicted
            if head is not None:
                seen = int(head.probabilities(h, shared, model.temperature)[0].argmax())
                # Another worker taught this writer since we built the head: rebuild it.
                made["stale"] = txn.writer_revision(writer) != revision
            made["trunk"], made["model"] = trunk[0], model
            decision, made["new"] = shared_step(self.policy, self.learner, self.rng, txn,
                                                model, request, shared[0], predicted, seen)
            return decision

        try:
            record = self.store.teach(request, step)
        except Unavailable as error:
            self._note_write(str(error))
            raise
        self._note_write(None)
        if record.replayed:  # a resend of a teach already committed: its answer again
            return self._outcome(record, self._replayed_after(request))
        model = made["model"]
        if record.accepted:
            model = made["new"]
            info = VersionInfo(record.version, record.created, {}, record.heldout,
                               record.base_version, record.checks)
            self._adopt(snapshot(model, info, record.taught, record.samples))
        else:
            self.sync()  # it may have caught up with another worker's version
        if writer is not None and record.writer is not None:
            if made.get("stale"):
                self.memories.load(writer, self._build_memory)
                head = self.memories.get(writer)
            else:
                head = head.added(made["trunk"], request.label) \
                    .fitted(model, *self._anchors(model))
                self.memories.put(writer, record.writer.revision, head)
        return self._outcome(record, self._after(model, made["trunk"], head))

    @staticmethod
    def _outcome(record: TeachRecord, after: dict) -> TeachOutcome:
        return TeachOutcome(
            label=record.label, predicted=record.predicted, model_version=record.version,
            accuracy={"heldout": record.heldout, "taught": record.taught},
            samples=record.samples, status=record.status, reason=record.reason, after=after,
            writer=None if record.writer is None else {"samples": record.writer.samples,
                                                       "accuracy": record.writer.accuracy})

    def _replayed_after(self, request: TeachRequest) -> dict:
        """What the writer's predictions say now of a drawing taught before."""
        model = self._live.model
        head = self._memory_now(request.writer)[1] if request.writer else None
        return self._after(model, self.learner.features(model, request.pixels)[0], head)

    def _after(self, model: Sequential, trunk: np.ndarray, head: PersonalHead | None) -> dict:
        """What the writer's predictions say of the taught drawing now."""
        h, p = read(model, trunk[None], head_start(model))
        if head is not None:
            p = head.probabilities(h, p, model.temperature)
        return {"digit": int(p[0].argmax()), "confidence": round(float(p[0].max()), 6)}

    def _tidy_when_idle(self) -> None:
        """On the follower's thread: tidy the store once teaching has paused for TIDY_IDLE
        s.  It tidies itself rather than ask the teacher: only the event loop's thread may
        submit to the teacher's pool (gevent's pools are not shared between threads)."""
        with self._count:
            if not self._untidy or self.teaches_waiting or \
                    time.monotonic() - self._last_teach < TIDY_IDLE:
                return
            self._untidy = 0
        self._tidy()

    def _tidy(self) -> None:
        """Prune old versions and drawings beyond retention (teacher or follower thread)."""
        try:
            self.store.tidy()
        except Exception as error:  # the next teach's tidy tries again
            log.warning("could not prune the store: %s", error)

    def _memory_now(self, writer: str) -> tuple[int, PersonalHead]:
        """The writer's (revision, head), loaded now if this worker has none (teacher)."""
        entry = self.memories.entry(writer)
        if entry is None:
            self.memories.load(writer, self._build_memory)
            entry = self.memories.entry(writer)
        return entry

    def _probe_write(self) -> None:
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
        if self.store_error:
            return f"The database cannot be reached ({self.store_error})."
        if self.write_error:
            return f"The database cannot take new drawings ({self.write_error})."
        return None

    def samples_npz(self, writer: str | None = None) -> bytes:
        """Accepted drawings (or one writer's) as .npz bytes: images uint8 (N,28,28), labels."""
        images, labels = self._on_teacher(self.store.export_samples, writer)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images, labels=labels)
        return buffer.getvalue()

    # -- lifetime ---------------------------------------------------------------------
    def start(self) -> ModelHub:
        """Warm the learner up (the teacher's first job) and start following (idempotent)."""
        if not self._started:
            self._started = True
            self._teacher.submit(self._warm_up)
            start_native_thread(self._follow, "inkling-follower")
        return self

    def _warm_up(self) -> None:
        # The first teach would otherwise compute the guard sets' trunk features.
        try:
            self.learner.warm_up(self._live.model)
        except Exception:  # only an optimisation: a teach computes what it needs
            log.exception("learner warm-up failed")

    def _follow(self) -> None:
        try:
            while not self._stopping:
                self._follow_once()
        finally:
            self._followed.set()

    def _follow_once(self) -> None:
        try:
            self.store.wait_for_change(self.follow_interval)
            if self._stopping:
                return
            self.sync()
            latest = self.store.latest_version()
            self.lag = 0 if latest is None else max(0, latest - self.version)
            self._tidy_when_idle()
            if self.write_error and self.store.has_room():
                self._probe_write()
            newest, changed = self.store.changed_writers(self._writer_revision)
            for writer in self.memories.stale(changed):
                self.memories.load(writer, self._build_memory)
            self._writer_revision = newest
            error = None
        except Exception as exc:  # the store is briefly unreadable: try again next tick
            error = f"{type(exc).__name__}: {exc}"
        if error != self.store_error:  # say it once per change of state
            if error:
                log.error("cannot follow the store: %s", error)
            else:
                log.info("following the store again")
            self.store_error = error

    def close(self) -> None:
        """Stop following, finish the queued teaches, close the store (idempotent)."""
        self._stopping = True
        if self._started:
            self._followed.wait(timeout=10 * self.follow_interval + 10)
        self._teacher.shutdown(wait=True)
        self.store.close()

    def __enter__(self) -> ModelHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

