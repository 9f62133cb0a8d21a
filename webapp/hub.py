"""The worker's live model: one ModelHub per app, the only owner of the model in memory.

Trade-off: predictions must never wait for SQL or for a teach, while a teach
must learn from the newest version in the database (another worker may have
moved it).  So the hub keeps an immutable *snapshot* (model, version, facts)
and swaps the reference atomically; predictions read whatever snapshot is
current, and teaches run inside the store's write transaction, learning on
the newest version there.  Other workers' versions arrive two ways: a
throttled ``SELECT max(version)`` before a prediction (at most every
``check_interval``) and a daemon watcher thread that polls every
``sync_interval`` and tells subscribers (the open sockets) about new versions.

Locks, all small: ``_teach_lock`` serialises this worker's teaches (the store
serialises across workers); ``_swap_lock`` makes "adopt only newer versions"
atomic; ``_announce_lock`` makes every subscriber see versions in increasing
order, each once.  Predictions take no lock at all: the engine's inference
leaves no state in the layers, and a snapshot's model is never mutated.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from network import pretrained
from network.nn.model import Sequential, load_model
from network.online.learner import OnlineLearner

from .store import DEFAULT_KEEP, LearnDecision, Store, StoreError, TeachTransaction, VersionInfo
from .store.sqlite import SQLiteStore

log = logging.getLogger(__name__)

Subscriber = Callable[[int, dict], None]


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image."""

    probabilities: np.ndarray = field(repr=False)  # (10,) float, sums to 1
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
class _Snapshot:
    """One version in memory; never mutated, replaced as a whole."""

    model: Sequential
    info: VersionInfo

    @property
    def version(self) -> int:
        return self.info.version


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


class ModelHub:
    """The live model of one worker process: predictions, teaches, sync and broadcasts.

    The hub owns the store it is given and closes it in :meth:`close`.
    """

    def __init__(self, store: Store, *, guard_drop: float = 2.0, guard_step: float = 0.5,
                 seed: int | None = None,
                 sync_interval: float = 0.25, check_interval: float = 0.1,
                 learner: OnlineLearner | None = None,
                 initial_model: Sequential | str | os.PathLike | None = None) -> None:
        if guard_drop < 0 or guard_step < 0:
            raise ValueError(f"guard_drop and guard_step must be >= 0 points, "
                             f"got {guard_drop} and {guard_step}")
        if sync_interval <= 0 or check_interval < 0:
            raise ValueError("sync_interval must be > 0 and check_interval >= 0")
        self.store = store
        self.guard_drop = float(guard_drop)
        self.guard_step = float(guard_step)
        self.sync_interval = float(sync_interval)
        self.check_interval = float(check_interval)
        self.rng = np.random.default_rng(seed)
        self.learner = learner if learner is not None else OnlineLearner.from_subset(rng=self.rng)

        self._teach_lock = threading.Lock()
        # Held while the learner computes its cached trunk features, so a teach that
        # arrives during the background warm-up waits for it instead of computing the
        # same features again inside the database's write lock.
        self._warm_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._announce_lock = threading.RLock()  # a callback may unsubscribe
        self._subscribers: dict[int, Subscriber] = {}
        self._next_token = 0
        self._info_cache: tuple[int, dict] | None = None
        self._last_check = time.monotonic()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

        if store.latest_version() is None:
            self._seed(initial_model)
        self._live = self._load(None)
        self._announced = self._live.version

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

    # -- loading --------------------------------------------------------------------
    def _seed(self, initial_model: Sequential | str | os.PathLike | None) -> None:
        """Store the shipped (or given) model as version 1; a no-op if another process won."""
        if isinstance(initial_model, Sequential):
            model, origin = initial_model, "a model given in memory"
        else:
            path = initial_model if initial_model is not None else pretrained.CNN
            model, origin = load_model(path), os.fspath(path)
        heldout = self.learner.heldout_accuracy(model)
        metadata = {"seeded_from": origin, "heldout": heldout}
        self.store.seed(model.to_bytes(), metadata, heldout)

    def _load(self, version: int | None) -> _Snapshot:
        """Read a version (None = newest) from the store into a snapshot."""
        record = self.store.load_version(version)
        model = Sequential.from_bytes(record.weights)
        info = VersionInfo(record.version, record.created, record.metadata, record.heldout,
                           record.parent)
        return _Snapshot(model, info)

    def _adopt(self, snapshot: _Snapshot) -> bool:
        """Make snapshot live if it is newer than the live one; versions never go back."""
        with self._swap_lock:
            if snapshot.version > self._live.version:
                self._live = snapshot
                return True
            return False

    def sync(self) -> bool:
        """Adopt the store's newest version if it is newer; return whether it changed."""
        with self._sync_lock:
            return self._sync_locked()

    def _sync_locked(self) -> bool:
        latest = self.store.latest_version()
        if latest is None or latest <= self._live.version:
            return False
        try:
            snapshot = self._load(latest)
        except StoreError:  # pruned meanwhile by a burst of teaches: take the newest
            snapshot = self._load(None)
        return self._adopt(snapshot)

    def _maybe_sync(self) -> None:
        """Check for a newer version at most every check_interval; never wait for another check."""
        now = time.monotonic()
        if now - self._last_check < self.check_interval:
            return
        if not self._sync_lock.acquire(blocking=False):
            return  # another thread is checking right now; its answer is as good as ours
        try:
            self._last_check = now
            self._sync_locked()
        finally:
            self._sync_lock.release()

    @property
    def version(self) -> int:
        """The live version number."""
        return self._live.version

    @property
    def model(self) -> Sequential:
        """The live model (read-only by convention: call predict, never mutate it)."""
        return self._live.model

    # -- predicting -----------------------------------------------------------------
    def predict(self, image: np.ndarray) -> Prediction:
        """Classify one float32 (28, 28) image in [0, 1] with the live model."""
        x = image
        self._maybe_sync()
        snapshot = self._live
        # No lock: inference leaves no state in the layers, and snapshots are never mutated.
        probabilities = snapshot.model.predict_proba(x[None])[0].astype(np.float64)
        probabilities /= probabilities.sum()
        digit = int(probabilities.argmax())
        return Prediction(probabilities, digit, float(probabilities[digit]), snapshot.version)

    # -- teaching -------------------------------------------------------------------
    def teach(self, strokes: Any, pixels: np.ndarray, label: int) -> TeachOutcome:
        """Learn that the drawing (uint8 (28, 28) pixels) is the digit label; return after commit.

        Trusted input: ``label`` is an int 0..9 (``webapp.protocol`` checks it at the edge).

        The guard: if the new version's held-out accuracy would be more than
        guard_drop points below the best recent version (or the seed), the
        update is rolled back, the drawing is quarantined, and the outcome says why.
        """
        made: dict[str, Any] = {}
        self._warm_up(quiet=False)  # outside the write lock; a cache hit after the first

        def learn(txn: TeachTransaction) -> LearnDecision:
            live = self._live
            if live.version == txn.base.version:
                base = live
            else:  # another worker taught meanwhile: learn from its version
                base = _Snapshot(Sequential.from_bytes(txn.weights()), txn.base)
                made["base"] = base
            replay_x, replay_y = txn.replay(self.learner.taught, self.rng)
            result = self.learner.teach(base.model, pixels, label, replay_x, replay_y)
            best = txn.best_heldout()
            # "more than guard_drop points": exactly at the margin is allowed (the 1e-9
            # absorbs rounding in best - drop, since accuracies are multiples of 1/N)
            # One teach alone may not cost more than guard_step points either: honest
            # teaches move held-out accuracy by a tenth of a point at most, while a wrong
            # label on a clear digit often costs a point or more. Refusing those keeps a
            # poisoner far from the guard_drop edge, where honest teaches would suffer.
            base_heldout = base.info.heldout
            if base_heldout is not None and \
                    result.heldout < base_heldout - self.guard_step / 100.0 - 1e-9:
                return LearnDecision(
                    accepted=False, predicted=result.predicted,
                    reason=(f"This drawing was set aside: learning it as a {label} would lower "
                            f"accuracy on held-out digits from {100 * base_heldout:.1f}% to "
                            f"{100 * result.heldout:.1f}% in one step, more than "
                            f"{self.guard_step:g} points. If it really is a {label}, "
                            f"try drawing it more clearly."))
            if best is not None and result.heldout < best - self.guard_drop / 100.0 - 1e-9:
                return LearnDecision(
                    accepted=False, predicted=result.predicted,
                    reason=(f"This drawing was set aside: learning it as a {label} would lower "
                            f"accuracy on held-out digits to {100 * result.heldout:.1f}%, more "
                            f"than {self.guard_drop:g} points below the best recent version "
                            f"({100 * best:.1f}%)."))
            metadata = {"label": label, "predicted": result.predicted,
                        "loss": result.loss, "learner": self.learner.config()}
            made["model"], made["metadata"] = result.model, metadata
            return LearnDecision(accepted=True, predicted=result.predicted,
                                 heldout=result.heldout, weights=result.model.to_bytes(),
                                 metadata=metadata)

        with self._teach_lock:
            record = self.store.teach(strokes, pixels, label, learn)
        if record.accepted:
            info = VersionInfo(record.version, record.created, made["metadata"],
                               record.heldout, record.base_version)
            self._adopt(_Snapshot(made["model"], info))
            self._announce()
        elif "base" in made:
            self._adopt(made["base"])
        accuracy = {"heldout": record.heldout, "taught": record.taught}
        return TeachOutcome(label=label, predicted=record.predicted,
                            model_version=record.version, accuracy=accuracy,
                            samples=record.samples, accepted=record.accepted,
                            reason=record.reason)

    # -- facts ----------------------------------------------------------------------
    def accuracy(self) -> dict:
        """{"heldout": accuracy of the live version, "taught": share right of the last 100}."""
        return dict(self.info()["accuracy"])

    def info(self) -> dict:
        """The model facts of GET /api/model (cached per version: a few indexed reads)."""
        return _copy_info(self._facts(self._live))

    def _facts(self, snapshot: _Snapshot) -> dict:
        """The facts of a snapshot, computed once per version."""
        cached = self._info_cache
        if cached is not None and cached[0] == snapshot.version:
            return cached[1]
        model = snapshot.model
        info = {
            "version": snapshot.version,
            "architecture": describe_architecture(model),
            "parameters": model.n_parameters,
            "accuracy": {"heldout": snapshot.info.heldout,
                         "taught": self.store.taught_accuracy()},
            "samples": self.store.sample_count(),
            "temperature": model.temperature,
            "created": snapshot.info.created,
            "parent": snapshot.info.parent,
            "layers": model.architecture(),
        }
        self._info_cache = (snapshot.version, info)
        return info

    def samples_npz(self) -> bytes:
        """Every accepted taught drawing as .npz bytes: images uint8 (N,28,28), labels uint8."""
        images, labels = self.store.export_samples()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images, labels=labels)
        return buffer.getvalue()

    # -- broadcasting -----------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> int:
        """Call callback(version, accuracy) on every new version; keep it quick (enqueue)."""
        with self._announce_lock:
            self._next_token += 1
            self._subscribers[self._next_token] = callback
            return self._next_token

    def unsubscribe(self, token: int) -> None:
        """Stop calling the callback registered under token (unknown tokens are ignored)."""
        with self._announce_lock:
            self._subscribers.pop(token, None)

    def _announce(self) -> None:
        """Tell every subscriber about the live version, once each, in increasing order."""
        with self._announce_lock:
            snapshot = self._live
            if snapshot.version <= self._announced:
                return
            self._announced = snapshot.version
            accuracy = self._facts(snapshot)["accuracy"]
            for callback in list(self._subscribers.values()):
                try:
                    callback(snapshot.version, dict(accuracy))
                except Exception:  # one broken subscriber must not silence the others
                    log.exception("model subscriber %r failed", callback)

    # -- lifetime ---------------------------------------------------------------------
    def start(self) -> ModelHub:
        """Start the watcher thread and warm the learner up in the background (idempotent)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="inkling-model-watcher",
                                             daemon=True)
            self._watcher.start()
            # The first teach would otherwise compute the anchors' trunk features (about
            # a second); doing it now keeps that off a person's first teach.  Not joined
            # on close: it holds nothing but arrays.
            threading.Thread(target=self._warm_up, name="inkling-learner-warm-up",
                             daemon=True).start()
        return self

    def _warm_up(self, quiet: bool = True) -> None:
        with self._warm_lock:
            try:
                self.learner.warm_up(self._live.model)
            except Exception:  # only an optimisation: the teach computes what it needs
                if not quiet:
                    raise
                log.exception("learner warm-up failed")

    def _watch(self) -> None:
        while not self._stop.wait(self.sync_interval):
            try:
                self.sync()
                self._announce()
            except Exception:  # a locked or briefly unreadable database: try again next tick
                log.exception("model watcher failed to sync")

    def close(self) -> None:
        """Stop the watcher (joined promptly) and close the store."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10.0)
            self._watcher = None
        self.store.close()

    def __enter__(self) -> ModelHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _copy_info(info: dict) -> dict:
    """A copy the caller may change without touching the cache."""
    copied = dict(info)
    copied["accuracy"] = dict(info["accuracy"])
    return copied
