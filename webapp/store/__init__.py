"""The durable truth: model versions, taught drawings and writers, behind one interface.

Everything above this package talks to :class:`Store`.  ``webapp.store.sql`` holds the
one implementation, in SQL both databases understand; ``webapp.store.sqlite`` adapts it
to one SQLite file in the instance folder (the default, embedded) and
``webapp.store.postgres`` to a PostgreSQL server (many hosts, one truth).  ``open_store``
picks one from ``INKLING_DATABASE_URL``.

A teach is one transaction that holds the database's write lock while the hub decides
and learns (``with store.teaching(request) as txn: ... txn.record(decision)``), so
teaches from any number of threads, workers and hosts are serialised and version v+1
is always learned from version v; it is acknowledged only after its commit.

Inner layers trust their inputs: labels are ints 0..9, images uint8 (28, 28) and writer
ids checked strings, as ``webapp.protocol`` makes them at the edge (the schema's CHECK
constraints are the database's own last word).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .encoding import (  # noqa: F401  (the package's names)
    IMAGE_BYTES,
    IMAGE_SHAPE,
    MAX_STORED_POINTS,
    image_to_bytes,
    images_from_blobs,
    strokes_to_json,
)

DEFAULT_KEEP = 20
TAUGHT_WINDOW = 100
STATUSES = ("accepted", "pending", "refused", "quarantined")
"""A drawing's place in the shared model: learned; waiting until others agree; refused
(by the guard or a spent budget); set aside by an operator."""


class StoreError(RuntimeError):
    """The store cannot do what was asked (no version yet, a pruned version, closed)."""


class Unavailable(StoreError):
    """The database cannot be reached, or is full: try again later."""


class BaseMoved(StoreError):
    """A teach claimed everyone's model after another teach made a newer version than the
    one it read: it rolls back and runs again, exclusive from the start."""


@dataclass(frozen=True)
class VersionInfo:
    """One model version without its weights: cheap to read and pass around."""

    version: int
    created: float
    metadata: dict[str, Any]
    heldout: float | None
    parent: int | None
    checks: dict | None = None  # the guard's figures of this version (guard.Checks JSON)


@dataclass(frozen=True)
class VersionRecord(VersionInfo):
    """One model version with its weights blob (``Sequential.to_bytes()``)."""

    weights: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class TeachRequest:
    """One teach as the edge checked it: the drawing, its label, who taught it."""

    strokes: Sequence  # (k, 2) point arrays
    pixels: np.ndarray = field(repr=False)  # uint8 (28, 28)
    label: int
    writer: str | None = None
    address: str | None = None  # the client's address (for its budget; not stored)
    source: str | None = None  # the address's network prefix (stored, for agreement)
    trust: str = "public"  # owner, token or public (webapp.trust)
    teach_id: str | None = None  # the client's id: a teach with a known id is not redone
    approves: int | None = None  # the pending drawing an operator approves (no new drawing)


@dataclass(frozen=True)
class Budget:
    """A token bucket of shared influence: ``per_hour`` tokens an hour, at most ``burst``."""

    key: str
    per_hour: float
    burst: float


@dataclass(frozen=True)
class TeachDecision:
    """What the teach step decided about the shared model (``status`` in STATUSES).

    ``accepted`` stores ``weights`` as version v+1 and spends one token of each budget
    in ``spend``; otherwise the version stays and the drawing keeps ``reason``.
    ``predicted`` is the shared model's answer before the teach, ``seen`` what this
    writer was shown (with their personal adaptation).
    """

    status: str
    predicted: int
    seen: int
    reason: str | None = None
    heldout: float | None = None
    checks: dict | None = None
    weights: bytes | None = field(default=None, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    spend: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriterState:
    """A writer's personal facts: drawings kept, share read right, change counter."""

    samples: int
    accuracy: float | None  # of the last TAUGHT_WINDOW teaches, the share ``seen`` right
    revision: int  # changes whenever the writer's drawings change


@dataclass(frozen=True)
class TeachRecord:
    """What one teach did, committed: the only result type of a teach, from the store
    to the hub to the connection that sent it."""

    drawing_id: int
    status: str
    version: int  # the newest version after the teach (unchanged unless accepted)
    base_version: int  # the version the teach learned from
    created: float
    label: int
    predicted: int
    seen: int
    heldout: float | None  # held-out accuracy of ``version``
    checks: dict | None  # the guard's figures of ``version``
    taught: float | None  # taught accuracy after the teach
    samples: int  # accepted drawings after the teach
    reason: str | None
    writer: WriterState | None
    replayed: bool = False  # the answer of an earlier teach with the same id
    after: dict | None = None  # {"digit", "confidence"}: the writer's predictions of the
    # drawing once taught (the hub adds it after the commit; not stored)

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def accuracy(self) -> dict:
        """{"heldout", "taught"}: the shared model's figures after the teach."""
        return {"heldout": self.heldout, "taught": self.taught}

    def to_json(self) -> str:
        """The record as JSON, kept with its teach id (``replayed``, ``after`` are not)."""
        fields = {k: v for k, v in self.__dict__.items()
                  if k not in ("writer", "replayed", "after")}
        fields["writer"] = None if self.writer is None else self.writer.__dict__
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> TeachRecord:
        """The record kept by ``to_json``, marked as replayed."""
        fields = json.loads(text)
        writer = fields.pop("writer")
        return cls(**fields, writer=None if writer is None else WriterState(**writer),
                   replayed=True)


class TeachTransaction(abc.ABC):
    """One open teach transaction (``Store.teaching``): what the hub reads while it holds
    the write lock, and ``record``, which writes its decision (once)."""

    request: TeachRequest
    base: VersionInfo  # the newest version: the one this teach learns from
    reference: dict | None  # the guard's reference figures (guard.Checks JSON), or None
    replayed: TeachRecord | None  # the answer of a committed teach with the same id: then
    # nothing is decided or recorded

    @abc.abstractmethod
    def claim_shared(self) -> None:
        """Lock everyone's model before learning from ``base`` (a teach that only changes
        its writer's model never does); raises BaseMoved if ``base`` is no longer the
        newest version."""

    @abc.abstractmethod
    def record(self, decision: TeachDecision) -> TeachRecord:
        """Write the decision (the drawing; the new version when accepted) and return what
        will be committed when the ``with`` block ends."""

    @abc.abstractmethod
    def weights(self) -> bytes:
        """Return the weights blob of ``base`` (read lazily: callers often have it)."""

    @abc.abstractmethod
    def replay(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return up to k accepted drawings as (uint8 (n,28,28), uint8 (n,)), n <= k."""

    @abc.abstractmethod
    def best_heldout(self) -> float | None:
        """Return the best held-out accuracy among the seed and the retained versions."""

    @abc.abstractmethod
    def spent_budget(self, budgets: Sequence[Budget]) -> Budget | None:
        """Return the first budget with less than one token left now, or None."""

    @abc.abstractmethod
    def writer_revision(self, writer: str) -> int:
        """The writer's revision before this teach (0 for a writer without drawings): a
        worker's copy of the writer built at another revision is missing a change."""

    @abc.abstractmethod
    def agreeing_sources(self, predicted: int, label: int, source: str | None,
                         since: float) -> int:
        """Other sources (address prefixes) that taught ``label`` for drawings the shared
        model read as ``predicted``, since ``since`` (a time.time())."""


Step = Callable[[TeachTransaction], TeachDecision]


class Store(abc.ABC):
    """The persistence interface the rest of Inkling relies on."""

    keep: int

    # -- versions -------------------------------------------------------------------
    @abc.abstractmethod
    def seed(self, weights: bytes, metadata: dict[str, Any], heldout: float | None,
             checks: dict | None) -> tuple[VersionInfo, bool]:
        """Store version 1 unless any version exists (its checks become the reference);
        return (newest info, whether we seeded)."""

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
    def versions(self) -> list[dict[str, Any]]:
        """Every retained version, newest first: version, created, heldout, parent, taught
        (drawings learned into it)."""

    @abc.abstractmethod
    def rollback(self, version: int) -> VersionInfo:
        """Store a new version with ``version``'s weights (history kept); return it."""

    # -- teaching -------------------------------------------------------------------
    @abc.abstractmethod
    def teaching(self, request: TeachRequest,
                 exclusive: bool = False) -> AbstractContextManager[TeachTransaction]:
        """Open one teach transaction, locking its writer and its teach id (and everyone's
        model when ``exclusive``, else at ``claim_shared``); it commits when the ``with``
        block ends without an error, and rolls back otherwise."""

    def teach(self, request: TeachRequest, step: Step) -> TeachRecord:
        """One teach whose decision ``step(txn)`` makes (tools and tests; the hub opens
        ``teaching`` itself); return after the commit."""
        with self.teaching(request, exclusive=True) as txn:
            return txn.replayed or txn.record(step(txn))

    @abc.abstractmethod
    def tidy(self) -> None:
        """Prune what retention allows (versions beyond ``keep``, drawings beyond
        ``keep_drawings``) in a transaction of its own, off the teach's path: freeing a
        1.7 MB version costs as much as writing one."""

    @abc.abstractmethod
    def taught_accuracy(self, window: int = TAUGHT_WINDOW) -> float | None:
        """Return the share of the last ``window`` accepted teaches predicted right before."""

    @abc.abstractmethod
    def sample_count(self) -> int:
        """Return the number of accepted drawings."""

    # -- writers --------------------------------------------------------------------
    @abc.abstractmethod
    def writer_state(self, writer: str) -> WriterState | None:
        """Return a writer's facts, or None for a writer never seen (or forgotten)."""

    @abc.abstractmethod
    def writer_drawings(self, writer: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The writer's newest ``limit`` drawings, oldest first: uint8 (n,28,28), (n,)."""

    @abc.abstractmethod
    def changed_writers(self, since: int) -> tuple[int, list[tuple[str, int]]]:
        """(the newest writer revision seen, (writer, revision) of those whose revision is
        above ``since``).  Revisions grow with the database's clock (microseconds), but
        teaches of different writers commit in any order: a follower looks back a few
        seconds before the newest it saw."""

    @abc.abstractmethod
    def forget(self, writer: str) -> int:
        """Delete a writer's drawings (the shared versions they taught stay); return how
        many were deleted."""

    # -- the data set and the operator ------------------------------------------------
    @abc.abstractmethod
    def export_samples(self, writer: str | None = None,
                       statuses: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Accepted drawings (or every drawing of one writer but quarantined ones), or
        those with ``statuses`` (of one writer), in teach order: uint8 (N,28,28), (N,)."""

    @abc.abstractmethod
    def rebase(self, weights: bytes, metadata: dict[str, Any], heldout: float | None,
               checks: dict | None, reference: dict) -> VersionInfo:
        """Adopt a model made from another base (``inkling rebase``) as the next version;
        its base's figures become the guard's reference, and versions before it no longer
        count as "recent" for the guard."""

    @abc.abstractmethod
    def pending_drawing(self, drawing_id: int) -> dict[str, Any] | None:
        """A pending drawing's ``strokes``, ``image`` (uint8 (28, 28)), ``label``,
        ``writer`` and ``source``, or None if there is no such pending drawing."""

    @abc.abstractmethod
    def drawings(self, writer: str | None = None, status: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        """Drawings without images, oldest first (the operator's list)."""

    @abc.abstractmethod
    def delete_drawings(self, ids: Sequence[int]) -> int:
        """Delete drawings by id; return how many there were."""

    @abc.abstractmethod
    def quarantine(self, ids: Sequence[int], reason: str) -> int:
        """Set drawings aside (out of replay, export and personal memories); return how
        many changed."""

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """Drawings per status (a diagnostic; counts rows)."""

    @abc.abstractmethod
    def wait_for_change(self, timeout: float) -> None:
        """Wait until a version or a writer may have changed (at most ``timeout`` s)."""

    def has_room(self) -> bool:
        """True unless the database is known to be full (checked cheaply, often)."""
        return True

    @abc.abstractmethod
    def probe_write(self) -> None:
        """Commit a tiny write (raise if it fails): whether teaches can be saved again."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise Unavailable unless the database answers a trivial query."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


STORE_SETTINGS = ("DATABASE_URL", "KEEP_DRAWINGS", "MAX_WRITERS", "MAX_DATABASE_MB")
"""The settings ``open_store`` reads (another process opens the same store with them)."""


def open_store(config, instance_path: str) -> Store:
    """The store the settings name: PostgreSQL for a postgresql:// DATABASE_URL, else
    SQLite in the instance folder."""
    options = {"keep_drawings": config["KEEP_DRAWINGS"], "max_writers": config["MAX_WRITERS"]}
    url = config.get("DATABASE_URL")
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("INKLING_DATABASE_URL must start with postgresql://")
        from .postgres import PostgresStore

        return PostgresStore(url, **options)
    from .sqlite import SQLiteStore

    return SQLiteStore.in_folder(instance_path, max_bytes=config["MAX_DATABASE_MB"] * 2**20,
                                 **options)
