"""The durable truth: model versions and taught drawings behind one small interface.

Everything above this package talks to :class:`Store`; ``webapp.store.sqlite`` keeps it
in one SQLite file in the instance folder (the default, embedded).  A teach is one
transaction that holds the store's single write lock while the learner runs, so
teaches from any number of threads, workers (and, with a server database, hosts) are
serialised and version v+1 is always learned from version v; it is acknowledged only
after its commit.

Inner layers trust their inputs: labels are ints 0..9 and images uint8 (28, 28), as
``webapp.protocol`` checks them at the edge (the schema's CHECK constraints are the
database's own last word).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMAGE_SHAPE = (28, 28)
IMAGE_BYTES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
DEFAULT_KEEP = 20
TAUGHT_WINDOW = 100



class StoreError(RuntimeError):
    """The store cannot do what was asked (no version yet, a pruned version, a closed store)."""


@dataclass(frozen=True)
class VersionInfo:
    """One model version without its weights: cheap to read and pass around."""

    version: int
    created: float
    metadata: dict[str, Any]
    heldout: float | None
    parent: int | None


@dataclass(frozen=True)
class VersionRecord(VersionInfo):
    """One model version with its weights blob (``Sequential.to_bytes()``)."""

    weights: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class LearnDecision:
    """What the learning callback of :meth:`Store.teach` decided.

    ``accepted`` True stores ``weights`` as version v+1 and the drawing as
    accepted; False keeps the version unchanged and quarantines the drawing
    with ``reason``.
    """

    accepted: bool
    predicted: int
    heldout: float | None = None
    weights: bytes | None = field(default=None, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class TeachRecord:
    """The committed result of one teach transaction."""

    drawing_id: int
    accepted: bool
    version: int  # the newest version after the teach (unchanged when quarantined)
    base_version: int  # the version the teach learned from
    created: float  # time.time() of the teach
    label: int
    predicted: int
    heldout: float | None  # held-out accuracy of ``version``
    taught: float | None  # taught accuracy after the teach
    samples: int  # accepted drawings after the teach
    reason: str | None


class TeachTransaction(abc.ABC):
    """What the learning callback sees while it holds the write lock."""

    base: VersionInfo

    @abc.abstractmethod
    def weights(self) -> bytes:
        """Return the weights blob of ``base`` (read lazily: callers often have it)."""

    @abc.abstractmethod
    def replay(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return up to k accepted drawings as (uint8 (n,28,28), uint8 (n,)), n <= k."""

    @abc.abstractmethod
    def best_heldout(self) -> float | None:
        """Return the best held-out accuracy among the seed and the retained versions."""


Learn = Callable[[TeachTransaction], LearnDecision]


class Store(abc.ABC):
    """The persistence interface the rest of Inkling relies on."""

    keep: int

    @abc.abstractmethod
    def seed(
        self, weights: bytes, metadata: dict[str, Any], heldout: float | None
    ) -> tuple[VersionInfo, bool]:
        """Store version 1 unless any version exists; return (newest info, whether we seeded)."""

    @abc.abstractmethod
    def latest_version(self) -> int | None:
        """Return the newest version number (None before seeding); one indexed lookup."""

    @abc.abstractmethod
    def version_info(self, version: int | None = None) -> VersionInfo:
        """Return a version's facts without its weights (None = the newest)."""

    @abc.abstractmethod
    def load_version(self, version: int | None = None) -> VersionRecord:
        """Return a version with its weights (None = the newest)."""

    @abc.abstractmethod
    def teach(self, strokes: Any, image: Any, label: int, learn: Learn) -> TeachRecord:
        """Run one teach transaction; ``learn`` runs under the write lock; commit, then return."""

    @abc.abstractmethod
    def replay_sample(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return up to k accepted drawings, at a cost that does not grow with history."""

    @abc.abstractmethod
    def taught_accuracy(self, window: int = TAUGHT_WINDOW) -> float | None:
        """Return the share of the last ``window`` accepted teaches predicted right before."""

    @abc.abstractmethod
    def sample_count(self) -> int:
        """Return the number of accepted drawings."""

    @abc.abstractmethod
    def export_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every accepted drawing as (uint8 (N,28,28), uint8 (N,)) in teach order."""

    @abc.abstractmethod
    def quarantine(self, drawing_ids: Sequence[int], reason: str) -> int:
        """Set accepted drawings aside (out of replay and export); return how many changed."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection."""


def images_from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    """Return uint8 (n,28,28) from n blobs of 784 bytes."""
    return np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(-1, *IMAGE_SHAPE).copy()


def image_to_bytes(image: np.ndarray) -> bytes:
    """Return the 784 bytes of a uint8 (28, 28) image, row-major."""
    return np.ascontiguousarray(image, dtype=np.uint8).tobytes()


def strokes_to_json(strokes: Any) -> str:
    """Return strokes (a list of (k, 2) point arrays or lists) as compact JSON text."""
    lists = [np.asarray(stroke, dtype=np.float64).reshape(-1, 2).tolist() for stroke in strokes]
    return json.dumps(lists, allow_nan=False, separators=(",", ":"))
