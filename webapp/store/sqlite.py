"""The embedded store: model versions and taught drawings in one SQLite file.

Trade-off: we let SQLite do what it is good at instead of hand-made files and
locks.  A teach is one ``BEGIN IMMEDIATE`` transaction, which takes the
database's single write lock, so teaches from any number of threads and
gunicorn worker processes are serialised and each sees the newest version;
WAL with ``synchronous=FULL`` makes a commit durable before we acknowledge it,
and readers never wait for the writer.  The price is one writer at a time,
which is what the model needs anyway: version v+1 is learned from version v.

Everything above this module talks to the small :class:`Store` interface, so
that a deployment which outgrows one machine can put the same schema on
PostgreSQL (``SELECT ... FOR UPDATE`` on the newest version plays the role of
``BEGIN IMMEDIATE``).

Schema (see ``SCHEMA``):

- ``versions``: one row per model version; ``weights`` is
  ``Sequential.to_bytes()``, ``heldout`` the accuracy (0..1) on the held-out
  digits, ``parent`` the version it was learned from.  Pruned to the newest
  ``keep`` rows inside the teach transaction.
- ``drawings``: one row per teach; ``image`` is the 784 uint8 pixels the
  network saw, ``predicted`` what the model said before the teach,
  ``base_version`` the version it was taught on, ``version`` the version it
  produced (NULL when it was quarantined), ``status`` 'accepted' (part of the
  replay buffer and the user's data set) or 'quarantined' (kept aside).
- ``meta``: small key/value facts that must survive pruning (the seed's
  held-out accuracy, the count of accepted drawings).
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import (
    DEFAULT_KEEP,
    IMAGE_SHAPE,
    TAUGHT_WINDOW,
    Learn,
    LearnDecision,
    Store,
    StoreError,
    TeachRecord,
    TeachTransaction,
    VersionInfo,
    VersionRecord,
    image_to_bytes,
    images_from_blobs,
    strokes_to_json,
)

DATABASE_NAME = "inkling.sqlite3"
DEFAULT_BUSY_TIMEOUT = 60.0  # seconds; teaches queue behind each other, never fail fast

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version  INTEGER PRIMARY KEY,
    created  REAL    NOT NULL,
    metadata TEXT    NOT NULL,
    heldout  REAL,
    parent   INTEGER,
    weights  BLOB    NOT NULL  -- last: reading the columns before it skips its overflow pages
);
CREATE TABLE IF NOT EXISTS drawings (
    id           INTEGER PRIMARY KEY,
    created      REAL    NOT NULL,
    label        INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    predicted    INTEGER,
    base_version INTEGER NOT NULL,
    version      INTEGER,
    status       TEXT    NOT NULL CHECK (status IN ('accepted', 'quarantined')),
    reason       TEXT,
    image        BLOB    NOT NULL CHECK (length(image) = 784),
    strokes      TEXT    NOT NULL  -- last: long ink would push the other columns off the page
);
CREATE INDEX IF NOT EXISTS drawings_by_status ON drawings (status, id);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class _ConnectionPool:
    """Reusable SQLite connections, one borrowed per operation, all closed on close().

    A pool rather than thread-locals: web servers start and end threads freely,
    and a thread-local connection would outlive its thread until garbage
    collection, whereas the pool is bounded by the peak concurrency and closes
    everything it made.
    """

    def __init__(self, path: str, busy_timeout: float):
        self.path = path
        self.busy_timeout = busy_timeout
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"_ConnectionPool({self.path!r}, closed={self._closed})"

    def _open(self) -> sqlite3.Connection:
        """Open a connection in autocommit mode; transactions are explicit BEGINs."""
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        connection.execute("PRAGMA synchronous = FULL")
        return connection

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection; it goes back to the pool unless something broke it."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._open()
        try:
            yield connection
        finally:
            healthy = True
            if connection.in_transaction:  # only after an error escaped a transaction
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    healthy = False
            with self._lock:
                if healthy and not self._closed:
                    self._idle.put(connection)
                else:
                    connection.close()

    def close(self) -> None:
        """Close every idle connection; connections still lent are closed on return."""
        with self._lock:
            self._closed = True
            while True:
                try:
                    self._idle.get_nowait().close()
                except queue.Empty:
                    break


class _SQLiteTransaction(TeachTransaction):
    """The open teach transaction of :class:`SQLiteStore`."""

    def __init__(self, store: SQLiteStore, connection: sqlite3.Connection, base: VersionInfo):
        self._store = store
        self._connection = connection
        self.base = base

    def __repr__(self) -> str:
        return f"_SQLiteTransaction(base={self.base.version})"

    def weights(self) -> bytes:
        row = self._connection.execute(
            "SELECT weights FROM versions WHERE version = ?", (self.base.version,)
        ).fetchone()
        return bytes(row[0])

    def replay(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._store._replay(self._connection, k, rng)

    def best_heldout(self) -> float | None:
        return self._store._best_heldout(self._connection)


class SQLiteStore(Store):
    """The embedded store: one SQLite file in WAL mode with synchronous=FULL."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        keep: int = DEFAULT_KEEP,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.path = os.fspath(path)
        self.keep = keep
        self._pool = _ConnectionPool(self.path, busy_timeout)
        self._initialise(busy_timeout)

    @classmethod
    def in_folder(cls, folder: str | os.PathLike[str], **options: Any) -> SQLiteStore:
        """Open (creating the folder if needed) the store in an instance folder."""
        os.makedirs(folder, exist_ok=True)
        return cls(os.path.join(folder, DATABASE_NAME), **options)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, keep={self.keep})"

    def _initialise(self, busy_timeout: float) -> None:
        """Switch to WAL and create the schema; safe when many processes start at once."""
        deadline = time.monotonic() + busy_timeout
        with self._pool.connection() as connection:
            # Switching the journal mode needs an exclusive lock, and SQLite may
            # report it busy without waiting; retry until the deadline.
            while True:
                try:
                    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            if mode.lower() != "wal":
                raise StoreError(f"SQLite refused WAL mode for {self.path} (got {mode!r})")
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('accepted', '0')")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    # -- versions ---------------------------------------------------------------

    @staticmethod
    def _info_from_row(row: tuple) -> VersionInfo:
        version, created, metadata, heldout, parent = row
        return VersionInfo(version, created, json.loads(metadata), heldout, parent)

    def _version_info(self, connection: sqlite3.Connection, version: int | None) -> VersionInfo:
        columns = "version, created, metadata, heldout, parent"
        if version is None:
            row = connection.execute(
                f"SELECT {columns} FROM versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise StoreError("the store holds no model version yet")
        else:
            row = connection.execute(
                f"SELECT {columns} FROM versions WHERE version = ?", (version,)
            ).fetchone()
            if row is None:
                raise StoreError(f"model version {version} does not exist (or was pruned)")
        return self._info_from_row(row)

    def seed(
        self, weights: bytes, metadata: dict[str, Any], heldout: float | None
    ) -> tuple[VersionInfo, bool]:
        metadata_json = json.dumps(metadata, allow_nan=False)
        with self._pool.connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                if connection.execute("SELECT 1 FROM versions LIMIT 1").fetchone() is not None:
                    connection.execute("COMMIT")
                    return self._version_info(connection, None), False
                connection.execute(
                    "INSERT INTO versions (version, created, metadata, heldout, parent, weights)"
                    " VALUES (1, ?, ?, ?, NULL, ?)",
                    (time.time(), metadata_json, heldout, bytes(weights)),
                )
                if heldout is not None:
                    connection.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('seed_heldout', ?)", (repr(heldout),)
                    )
                info = self._version_info(connection, 1)
                connection.execute("COMMIT")
                return info, True
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def latest_version(self) -> int | None:
        with self._pool.connection() as connection:
            return connection.execute("SELECT max(version) FROM versions").fetchone()[0]

    def version_info(self, version: int | None = None) -> VersionInfo:
        with self._pool.connection() as connection:
            return self._version_info(connection, version)

    def load_version(self, version: int | None = None) -> VersionRecord:
        with self._pool.connection() as connection:
            # One read transaction, so the facts and the blob are of the same row
            # even if a teach prunes it in between.
            connection.execute("BEGIN")
            try:
                info = self._version_info(connection, version)
                (weights,) = connection.execute(
                    "SELECT weights FROM versions WHERE version = ?", (info.version,)
                ).fetchone()
            finally:
                connection.execute("COMMIT")
        return VersionRecord(**info.__dict__, weights=bytes(weights))

    def _best_heldout(self, connection: sqlite3.Connection) -> float | None:
        (best,) = connection.execute("SELECT max(heldout) FROM versions").fetchone()
        row = connection.execute("SELECT value FROM meta WHERE key = 'seed_heldout'").fetchone()
        seed = float(row[0]) if row else None
        candidates = [value for value in (best, seed) if value is not None]
        return max(candidates) if candidates else None

    # -- teaching ---------------------------------------------------------------

    def teach(self, strokes: Any, image: Any, label: int, learn: Learn) -> TeachRecord:
        strokes_json = strokes_to_json(strokes)
        image_bytes = image_to_bytes(image)
        with self._pool.connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                base = self._version_info(connection, None)
                decision = learn(_SQLiteTransaction(self, connection, base))
                record = self._record_teach(
                    connection, base, strokes_json, image_bytes, label, decision
                )
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return record

    def _record_teach(
        self,
        connection: sqlite3.Connection,
        base: VersionInfo,
        strokes_json: str,
        image_bytes: bytes,
        label: int,
        decision: LearnDecision,
    ) -> TeachRecord:
        """Insert the drawing (and the new version when accepted) inside the open transaction."""
        if not isinstance(decision, LearnDecision):
            raise TypeError(f"learn must return a LearnDecision, got {type(decision).__name__}")
        predicted = int(decision.predicted)
        now = time.time()
        if decision.accepted:
            if not decision.weights:
                raise ValueError("an accepted teach needs the new weights")
            version, heldout = base.version + 1, decision.heldout
            connection.execute(
                "INSERT INTO versions (version, created, metadata, heldout, parent, weights)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    version,
                    now,
                    json.dumps(decision.metadata, allow_nan=False),
                    heldout,
                    base.version,
                    bytes(decision.weights),
                ),
            )
            # Keep the newest `keep` versions; the new one is the newest, so never pruned.
            connection.execute("DELETE FROM versions WHERE version <= ?", (version - self.keep,))
            connection.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'accepted'"
            )
            status, produced = "accepted", version
        else:
            version, heldout = base.version, base.heldout
            status, produced = "quarantined", None
        cursor = connection.execute(
            "INSERT INTO drawings (created, strokes, image, label, predicted, base_version,"
            " version, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now,
                strokes_json,
                image_bytes,
                label,
                predicted,
                base.version,
                produced,
                status,
                decision.reason,
            ),
        )
        return TeachRecord(
            drawing_id=cursor.lastrowid,
            accepted=decision.accepted,
            version=version,
            base_version=base.version,
            created=now,
            label=label,
            predicted=predicted,
            heldout=heldout,
            taught=self._taught_accuracy(connection, TAUGHT_WINDOW),
            samples=self._sample_count(connection),
            reason=decision.reason,
        )

    # -- drawings ---------------------------------------------------------------

    # The unary + keeps SQLite on the primary key (one rowid lookup per candidate)
    # instead of probing the status index and then the table.
    REPLAY_QUERY = "SELECT id, image, label FROM drawings WHERE id IN ({}) AND +status = 'accepted'"

    def _replay(
        self, connection: sqlite3.Connection, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sample accepted drawings by random rowids: k primary-key lookups, whatever the history.

        Drawings are never deleted, so rowids 1..max are dense except for
        quarantined rows; we draw 4k candidate rowids (with replacement) and
        keep the first k that are accepted.  When most rows are quarantined
        fewer than k come back, which the learner tolerates.
        """
        if k <= 0:
            return np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, np.uint8)
        (highest,) = connection.execute("SELECT max(id) FROM drawings").fetchone()
        if highest is None:
            return np.zeros((0, *IMAGE_SHAPE), np.uint8), np.zeros(0, np.uint8)
        candidates = rng.integers(1, highest + 1, size=4 * k).tolist()
        unique = sorted(set(candidates))
        rows = connection.execute(
            self.REPLAY_QUERY.format(",".join("?" * len(unique))), unique
        ).fetchall()
        found = {row_id: (image, label) for row_id, image, label in rows}
        chosen = [found[c] for c in candidates if c in found][:k]
        images = images_from_blobs([image for image, _ in chosen])
        labels = np.array([label for _, label in chosen], dtype=np.uint8)
        return images, labels

    def replay_sample(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        with self._pool.connection() as connection:
            connection.execute("BEGIN")
            try:
                return self._replay(connection, k, rng)
            finally:
                connection.execute("COMMIT")

    def replay_query_plan(self, k: int = 4) -> list[str]:
        """Return SQLite's plan for the replay query (tests check it uses rowid lookups)."""
        query = "EXPLAIN QUERY PLAN " + self.REPLAY_QUERY.format(",".join("?" * k))
        with self._pool.connection() as connection:
            return [row[-1] for row in connection.execute(query, list(range(1, k + 1)))]

    @staticmethod
    def _taught_accuracy(connection: sqlite3.Connection, window: int) -> float | None:
        rows = connection.execute(
            "SELECT predicted = label FROM drawings WHERE status = 'accepted'"
            " ORDER BY id DESC LIMIT ?",
            (window,),
        ).fetchall()
        return sum(right for (right,) in rows) / len(rows) if rows else None

    def taught_accuracy(self, window: int = TAUGHT_WINDOW) -> float | None:
        with self._pool.connection() as connection:
            return self._taught_accuracy(connection, window)

    @staticmethod
    def _sample_count(connection: sqlite3.Connection) -> int:
        (value,) = connection.execute("SELECT value FROM meta WHERE key = 'accepted'").fetchone()
        return int(value)

    def sample_count(self) -> int:
        with self._pool.connection() as connection:
            return self._sample_count(connection)

    def counts(self) -> dict[str, int]:
        """Return drawings per status by counting rows (a diagnostic; grows with history)."""
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT status, count(*) FROM drawings GROUP BY status"
            ).fetchall()
        return {"accepted": 0, "quarantined": 0, **dict(rows)}

    def version_numbers(self) -> list[int]:
        """Return the retained version numbers, oldest first."""
        with self._pool.connection() as connection:
            rows = connection.execute("SELECT version FROM versions ORDER BY version").fetchall()
        return [version for (version,) in rows]

    def drawings(self, status: str | None = None) -> list[dict[str, Any]]:
        """Return drawings (without images) as dicts, oldest first (a diagnostic)."""
        query = (
            "SELECT id, created, strokes, label, predicted, base_version, version, status, reason"
            " FROM drawings"
        )
        arguments: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            arguments = (status,)
        with self._pool.connection() as connection:
            cursor = connection.execute(query + " ORDER BY id", arguments)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        drawings = [dict(zip(names, row, strict=True)) for row in rows]
        for drawing in drawings:
            drawing["strokes"] = json.loads(drawing["strokes"])
        return drawings

    def export_samples(self) -> tuple[np.ndarray, np.ndarray]:
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT image, label FROM drawings WHERE status = 'accepted' ORDER BY id"
            ).fetchall()
        images = images_from_blobs([image for image, _ in rows])
        labels = np.array([label for _, label in rows], dtype=np.uint8)
        return images, labels

    def quarantine(self, drawing_ids: Sequence[int], reason: str) -> int:
        ids = sorted({int(i) for i in drawing_ids})
        if not ids:
            return 0
        with self._pool.connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                changed = connection.execute(
                    "UPDATE drawings SET status = 'quarantined', reason = ?"
                    f" WHERE status = 'accepted' AND id IN ({','.join('?' * len(ids))})",
                    (reason, *ids),
                ).rowcount
                connection.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) - ? WHERE key = 'accepted'",
                    (changed,),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return changed

    def integrity_check(self) -> str:
        """Return SQLite's own verdict on the file ('ok' when nothing is torn)."""
        with self._pool.connection() as connection:
            return connection.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
