"""One teach, one SQL transaction: what the hub reads and writes while it holds it.

``SQLStore.teaching(request)`` opens a write transaction that locks the teach's writer
and its teach id (SQLite: ``BEGIN IMMEDIATE``, the file's one write lock; PostgreSQL:
advisory locks of that writer and that id only) and yields a :class:`SQLTeaching`.  The
hub reads what the policy needs through it (the base version, budgets, agreement,
replay, the guard's references); before learning, the policy calls ``claim_shared``,
which locks everyone's model (PostgreSQL's LOCK_KEY) and checks that no newer version
came meanwhile.  Then ``record``, once: the drawing, the new version when accepted, the
writer's new revision and the teach's id go in; leaving the ``with`` block commits.  A
teach whose id was already committed finds its answer in ``replayed`` and records
nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import (
    IMAGE_SHAPE,
    TAUGHT_WINDOW,
    BaseMoved,
    Budget,
    StoreError,
    TeachDecision,
    TeachRecord,
    TeachRequest,
    TeachTransaction,
    image_to_bytes,
    images_from_blobs,
    strokes_to_json,
)

if TYPE_CHECKING:
    from .sql import SQLStore

TEACH_IDS_KEPT = 7 * 24 * 3600.0
"""Seconds a teach id is remembered: a page resends within seconds, after a reconnect."""


def teach_key(request: TeachRequest) -> str | None:
    """Where a teach's id is kept: ids are the client's own, so each writer (or, without
    one, each network prefix) has ids of its own."""
    if request.teach_id is None:
        return None
    owner = f"w:{request.writer}" if request.writer else f"s:{request.source or ''}"
    return f"{owner}:{request.teach_id}"


class SQLTeaching(TeachTransaction):
    """The open teach transaction of an SQLStore (see the module doc)."""

    def __init__(self, store: SQLStore, connection, request: TeachRequest, claimed: bool):
        self._store = store
        self._connection = connection
        self.request = request
        self._key = teach_key(request)
        self.replayed = None
        if self._key is not None:  # a resend of a committed teach: its answer, nothing else
            row = self._q("SELECT record FROM teaches WHERE key = ?", (self._key,)).fetchone()
            if row is not None:
                self.replayed = TeachRecord.from_json(row[0])
        self.base = store._version_info(connection, None)
        reference = store._meta(connection, "reference")
        self.reference = json.loads(reference) if reference else None
        self._recorded = False
        self._claimed = claimed  # everyone's model is locked (opened exclusive)

    def claim_shared(self) -> None:
        if self._claimed:
            return
        self._store.dialect.claim_shared(self._connection)
        self._claimed = True
        (newest,) = self._q("SELECT max(version) FROM versions").fetchone()
        if newest != self.base.version:
            raise BaseMoved(f"version {newest} came after this teach read {self.base.version}")

    def __repr__(self) -> str:
        return f"SQLTeaching(base={self.base.version})"

    def _q(self, query: str, args: Sequence = ()):
        return self._store._q(self._connection, query, args)

    # -- what the step reads --------------------------------------------------------
    def weights(self) -> bytes:
        row = self._q("SELECT weights FROM versions WHERE version = ?",
                      (self.base.version,)).fetchone()
        return bytes(row[0])

    def replay(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Accepted drawings by random ids: k primary-key lookups, whatever the history.

        Ids are dense but for drawings not accepted (or deleted); we draw 4k candidates
        (with replacement) and keep the first k that are accepted.
        """
        empty = np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, np.uint8)
        (highest,) = self._q("SELECT max(id) FROM drawings").fetchone()
        if k <= 0 or highest is None:
            return empty
        candidates = rng.integers(1, int(highest) + 1, size=4 * k).tolist()
        unique = sorted(set(candidates))
        rows = self._q(f"SELECT id, image, label FROM drawings WHERE id IN "
                       f"({','.join('?' * len(unique))}) AND status = 'accepted'",
                       unique).fetchall()
        found = {int(i): (image, label) for i, image, label in rows}
        chosen = [found[c] for c in candidates if c in found][:k]
        if not chosen:
            return empty
        return (images_from_blobs([image for image, _ in chosen]),
                np.array([label for _, label in chosen], dtype=np.uint8))

    def best_heldout(self) -> float | None:
        # The newest ``keep`` versions, whether or not older ones were pruned yet: pruning
        # waits for a pause in teaching, and the guard must not depend on when it ran.
        rebased = self._store._meta(self._connection, "rebased_at")
        (best,) = self._q("SELECT max(heldout) FROM versions WHERE version > "
                          "(SELECT max(version) FROM versions) - ? AND version >= ?",
                          (self._store.keep, int(rebased or 0))).fetchone()
        seed = self._store._meta(self._connection, "seed_heldout")
        candidates = [v for v in (best, float(seed) if seed else None) if v is not None]
        return max(candidates) if candidates else None

    def spent_budget(self, budgets: Sequence[Budget]) -> Budget | None:
        now = time.time()
        for budget in budgets:
            row = self._q("SELECT tokens, stamp FROM budgets WHERE key = ?",
                          (budget.key,)).fetchone()
            tokens = budget.burst if row is None else min(
                budget.burst, row[0] + (now - row[1]) * budget.per_hour / 3600.0)
            self._q("INSERT INTO budgets (key, tokens, stamp) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                    "stamp = excluded.stamp", (budget.key, tokens, now))
            if tokens < 1.0:
                return budget
        return None

    def writer_revision(self, writer: str) -> int:
        row = self._q("SELECT revision FROM writers WHERE writer = ?", (writer,)).fetchone()
        return 0 if row is None else int(row[0])

    def agreeing_sources(self, predicted: int, label: int, source: str | None,
                         since: float) -> int:
        (n,) = self._q("SELECT count(DISTINCT source) FROM drawings WHERE predicted = ? AND "
                       "label = ? AND created > ? AND status IN ('pending', 'accepted') AND "
                       "source IS NOT NULL AND source <> ?",
                       (predicted, label, since, source or "")).fetchone()
        return int(n)

    # -- what the step writes -------------------------------------------------------
    def record(self, decision: TeachDecision) -> TeachRecord:
        """Write the decision: the drawing (or an approved drawing's new status), the new
        version when accepted, the writer's revision and the teach id; the commit
        follows when the ``with`` block ends."""
        if self.replayed is not None or self._recorded:
            raise StoreError("this teach is recorded already")
        self._recorded = True
        store, connection, request, base = self._store, self._connection, self.request, \
            self.base
        now = time.time()
        if decision.status == "accepted":
            if not decision.weights:
                raise ValueError("an accepted teach needs the new weights")
            if not self._claimed:
                raise StoreError("an accepted teach must claim everyone's model first")
            version, heldout, checks = base.version + 1, decision.heldout, decision.checks
            store._insert_version(connection, version, decision.metadata, heldout,
                                  base.version, checks, decision.weights)
            self._q("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                    "WHERE key = 'accepted'")
            for key in decision.spend:
                self._q("UPDATE budgets SET tokens = tokens - 1 WHERE key = ?", (key,))
            produced = version
        else:
            version, heldout, checks, produced = base.version, base.heldout, base.checks, None
        if request.approves is not None:  # the pending drawing itself, not a new one
            drawing_id = self._approve(decision, produced)
        else:
            drawing_id = self._insert_drawing(decision, produced, now)
        writer = None
        if request.writer is not None:
            store._touch_writer(connection, request.writer, now)
            writer = store._writer_state(connection, request.writer)
        record = TeachRecord(
            drawing_id=drawing_id, status=decision.status, version=version,
            base_version=base.version, created=now, label=request.label,
            predicted=decision.predicted, seen=decision.seen, heldout=heldout, checks=checks,
            taught=store._taught_accuracy(connection, TAUGHT_WINDOW),
            samples=store._sample_count(connection), reason=decision.reason, writer=writer)
        if self._key is not None:
            self._q("INSERT INTO teaches (key, created, record) VALUES (?, ?, ?)",
                    (self._key, record.created, record.to_json()))
        if record.accepted or record.writer is not None:
            store.dialect.notify(connection, record.version)
        return record

    def _insert_drawing(self, decision: TeachDecision, produced: int | None,
                        now: float) -> int:
        request = self.request
        keeps_strokes = decision.status in ("accepted", "pending")
        (drawing_id,) = self._q(
            "INSERT INTO drawings (created, writer, source, label, predicted, seen, "
            "base_version, version, status, reason, image, strokes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (now, request.writer, request.source, request.label, decision.predicted,
             decision.seen, self.base.version, produced, decision.status, decision.reason,
             self._store.dialect.blob(image_to_bytes(request.pixels)),
             strokes_to_json(request.strokes) if keeps_strokes else None)).fetchone()
        return int(drawing_id)

    def _approve(self, decision: TeachDecision, produced: int | None) -> int:
        """An operator's approval of a pending drawing: its row takes the decision."""
        drawing_id = self.request.approves
        changed = self._q("UPDATE drawings SET status = ?, reason = ?, predicted = ?, "
                          "base_version = ?, version = ? WHERE id = ? AND status = 'pending'",
                          (decision.status, decision.reason, decision.predicted,
                           self.base.version, produced, drawing_id)).rowcount
        if changed != 1:
            raise StoreError(f"drawing {drawing_id} is not pending any more")
        return int(drawing_id)
