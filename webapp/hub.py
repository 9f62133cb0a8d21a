"""The worker's live model: one ModelHub per app, the only owner of the model in memory.

Who does what, and on which thread:

- *Predictions* (the batcher, or any caller) read the live snapshot: a model that is
  never mutated, so no lock is taken (inference leaves no state in the layers) and a
  prediction never waits for SQL or for a teach.
- *Teaches* run on the hub's teacher, one native thread (``webapp.blocking``): a teach
  never stalls the worker's event loop, and one worker's teaches run one at a time.  At
  most ``teach_queue`` may wait; more are refused at once (``Busy``).  The teach step
  reads top to bottom: catch up with the newest version, learn, guard, record.
- *The follower*, a second native thread, looks for other workers' versions every
  ``follow_interval`` seconds and makes them live.  Sockets notice a new version by
  comparing ``hub.version`` with the one they last told their client.

Two small locks: ``_swap``, because the teacher and the follower both make snapshots
live and a version must never be replaced by an older one; ``_count``, which guards the
number of teaches waiting.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from network import pretrained
from network.nn.model import Sequential, load_model
from network.online.learner import OnlineLearner

from .blocking import native_executor, native_sleep, start_native_thread
from .store import DEFAULT_KEEP, LearnDecision, Store, StoreError, TeachTransaction, VersionInfo
from .store.sqlite import SQLiteStore

log = logging.getLogger(__name__)


class Busy(Exception):
    """More teaches wait for this worker than it queues; the client should slow down."""


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image."""

    probabilities: np.ndarray = field(repr=False)  # (10,) float64, sums to 1
    digit: int
    confidence: float
    model_version: int


@dataclass(frozen=True)
class TeachOutcome:
    """What a teach did, after its commit."""

    label: int
    predicted: int  # the model's answer before the teach
    model_version: int
    accuracy: dict  # {"heldout": float | None, "taught": float | None}
    samples: int  # accepted taught drawings
    accepted: bool
    reason: str | None = None  # why it was set aside, in a sentence a person understands


@dataclass(frozen=True)
class Snapshot:
    """One version in memory with its facts (the body of GET /api/model); never mutated."""

    model: Sequential
    version: int
    facts: dict[str, Any]


def describe_architecture(model: Sequential) -> str:
    """Return a short readable architecture, e.g. 'Conv2D 1->32 3x3 | ... | Dense 128->10'."""
    parts = []
    for layer in model.layers:
        config = layer.config()
        name = type(layer).__name__
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
    facts = {
        "version": info.version,
        "architecture": describe_architecture(model),
        "parameters": model.n_parameters,
        "accuracy": {"heldout": info.heldout, "taught": taught},
        "samples": samples,
        "temperature": model.temperature,
        "created": info.created,
        "parent": info.parent,
        "layers": model.architecture(),
    }
    return Snapshot(model, info.version, facts)


class ModelHub:
    """The live model of one worker process: predictions, teaches and following others.

    The hub owns the store it is given and closes it in :meth:`close`.
    """

    def __init__(self, store: Store, *, guard_drop: float = 2.0, guard_step: float = 0.5,
                 seed: int | None = None, follow_interval: float = 0.25, teach_queue: int = 16,
                 learner: OnlineLearner | None = None,
                 initial_model: Sequential | str | os.PathLike | None = None) -> None:
        if guard_drop < 0 or guard_step < 0:
            raise ValueError(f"guard_drop and guard_step must be >= 0 points, "
                             f"got {guard_drop} and {guard_step}")
        if follow_interval <= 0 or teach_queue < 1:
            raise ValueError("follow_interval must be > 0 and teach_queue >= 1")
        self.store = store
        self.guard_drop = float(guard_drop)
        self.guard_step = float(guard_step)
        self.follow_interval = float(follow_interval)
        self.rng = np.random.default_rng(seed)
        self.learner = learner if learner is not None else OnlineLearner.from_subset(rng=self.rng)
        self.store_error: str | None = None  # why the follower cannot read the store, if so

        self.teach_queue = teach_queue
        self.teaches_waiting = 0  # submitted to the teacher and not yet answered
        self._swap = threading.Lock()
        self._count = threading.Lock()
        self._teacher = native_executor()
        self._started = False
        self._followed = threading.Event()  # set when the follower has stopped
        self._stopping = False

        if store.latest_version() is None:
            self._seed(initial_model)
        self._live = self._load(None)

    @classmethod
    def from_instance(cls, instance_path: str | os.PathLike, *, keep: int = DEFAULT_KEEP,
                      **options: Any) -> ModelHub:
        """Open the store in an instance folder (created if needed), seeding it on first start."""
        store = SQLiteStore.in_folder(instance_path, keep=keep)
        try:
            return cls(store, **options)
        except BaseException:
            store.close()
            raise

    def __repr__(self) -> str:
        return (f"ModelHub(version={self._live.version}, store={self.store!r}, "
                f"guard_drop={self.guard_drop}, guard_step={self.guard_step})")

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
        heldout = self.learner.heldout_accuracy(model)
        self.store.seed(model.to_bytes(), {"seeded_from": origin, "heldout": heldout}, heldout)

    def _load(self, version: int | None) -> Snapshot:
        """Read a version (None = newest) and its facts from the store."""
        record = self.store.load_version(version)
        model = Sequential.from_bytes(record.weights)
        return snapshot(model, record, self.store.taught_accuracy(), self.store.sample_count())

    def _adopt(self, candidate: Snapshot) -> bool:
        """Make the snapshot live if it is newer than the live one; versions never go back."""
        with self._swap:
            if candidate.version > self._live.version:
                self._live = candidate
                return True
            return False

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
    def predict_many(self, images) -> list[Prediction]:
        """Classify float32 (28, 28) images in [0, 1] in one forward pass of the live model."""
        live = self._live
        probabilities = live.model.predict_proba(np.stack(images)).astype(np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        digits = probabilities.argmax(axis=1)
        return [Prediction(p, int(d), float(p[d]), live.version)
                for p, d in zip(probabilities, digits, strict=True)]

    def predict(self, image: np.ndarray) -> Prediction:
        """Classify one float32 (28, 28) image in [0, 1] with the live model."""
        return self.predict_many([image])[0]

    # -- teaching -------------------------------------------------------------------
    def teach(self, strokes: Any, pixels: np.ndarray, label: int) -> TeachOutcome:
        """Learn that the drawing (uint8 (28, 28) pixels) is the digit label; return after
        the commit.  Raises Busy when ``teach_queue`` teaches already wait.

        Trusted input: ``label`` is an int 0..9 (``webapp.protocol`` checks it at the edge).
        """
        with self._count:
            if self.teaches_waiting >= self.teach_queue:
                raise Busy("too many teaches are waiting on this server")
            self.teaches_waiting += 1
        try:
            return self._teacher.submit(self._teach, strokes, pixels, label).result()
        finally:
            with self._count:
                self.teaches_waiting -= 1

    def _teach(self, strokes: Any, pixels: np.ndarray, label: int) -> TeachOutcome:
        """The teach step, on the teacher thread: catch up, learn, guard, record."""
        made: dict[str, Any] = {}

        def learn(txn: TeachTransaction) -> LearnDecision:
            # Catch up: learn from the newest version, which another worker may have made.
            live = self._live
            base = live.model if live.version == txn.base.version \
                else Sequential.from_bytes(txn.weights())
            replay_x, replay_y = txn.replay(self.learner.taught, self.rng)
            result = self.learner.teach(base, pixels, label, replay_x, replay_y)
            reason = self._guard(label, txn.base.heldout, txn.best_heldout(), result.heldout)
            if reason is not None:
                return LearnDecision(accepted=False, predicted=result.predicted, reason=reason)
            metadata = {"label": label, "predicted": result.predicted,
                        "loss": result.loss, "learner": self.learner.config()}
            made["model"] = result.model
            return LearnDecision(accepted=True, predicted=result.predicted,
                                 heldout=result.heldout, weights=result.model.to_bytes(),
                                 metadata=metadata)

        record = self.store.teach(strokes, pixels, label, learn)
        if record.accepted:
            info = VersionInfo(record.version, record.created, {}, record.heldout,
                               record.base_version)
            self._adopt(snapshot(made["model"], info, record.taught, record.samples))
        else:
            self.sync()  # it may have caught up with another worker's version
        return TeachOutcome(label=label, predicted=record.predicted,
                            model_version=record.version,
                            accuracy={"heldout": record.heldout, "taught": record.taught},
                            samples=record.samples, accepted=record.accepted,
                            reason=record.reason)

    def _guard(self, label: int, base: float | None, best: float | None,
               heldout: float) -> str | None:
        """Why the new version must not be kept (held-out accuracy), or None to keep it.

        Honest teaches move held-out accuracy by a tenth of a point at most, while a
        wrong label on a clear digit often costs a point or more: one teach may cost at
        most ``guard_step`` points, and no version may fall ``guard_drop`` points below
        the best recent one.  Exactly at a margin is allowed (1e-9 absorbs rounding).
        """
        if base is not None and heldout < base - self.guard_step / 100.0 - 1e-9:
            return (f"This drawing was set aside: learning it as a {label} would lower "
                    f"accuracy on held-out digits from {100 * base:.1f}% to "
                    f"{100 * heldout:.1f}% in one step, more than {self.guard_step:g} points. "
                    f"If it really is a {label}, try drawing it more clearly.")
        if best is not None and heldout < best - self.guard_drop / 100.0 - 1e-9:
            return (f"This drawing was set aside: learning it as a {label} would lower "
                    f"accuracy on held-out digits to {100 * heldout:.1f}%, more than "
                    f"{self.guard_drop:g} points below the best recent version "
                    f"({100 * best:.1f}%).")
        return None

    def samples_npz(self) -> bytes:
        """Every accepted taught drawing as .npz bytes: images uint8 (N,28,28), labels uint8."""
        images, labels = self._teacher.submit(self.store.export_samples).result()
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
        # The first teach would otherwise compute the anchors' trunk features.
        try:
            self.learner.warm_up(self._live.model)
        except Exception:  # only an optimisation: a teach computes what it needs
            log.exception("learner warm-up failed")

    def _follow(self) -> None:
        try:
            self._follow_until_stopped()
        finally:
            self._followed.set()

    def _follow_until_stopped(self) -> None:
        while not self._stopping:
            native_sleep(self.follow_interval)
            try:
                self.sync()
                error = None
            except Exception as exc:  # the store is briefly unreadable: try again next tick
                error = f"{type(exc).__name__}: {exc}"
            if error != self.store_error:  # say it once per change of state
                if error:
                    log.error("cannot follow the store's versions: %s", error)
                else:
                    log.info("following the store's versions again")
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
