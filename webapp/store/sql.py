"""The store in SQL that SQLite and PostgreSQL both understand; a Dialect adapts the rest.

Schema (version 2; ``migrate`` brings older files up to it):

- ``versions``: one row per model version: ``weights`` (``Sequential.to_bytes()``),
  held-out accuracy, the guard's figures (``checks``), the parent; pruned to ``keep``.
- ``drawings``: one row per teach: the 784 pixels the network saw, the label, what the
  shared model said before (``predicted``) and what the writer was shown (``seen``),
  the writer and the source (address prefix), the shared ``status`` and its reason,
  and the strokes (thinned; kept only for drawings the shared model learned or may).
- ``writers``: one row per writer: when seen first and last, and ``revision``, which
  changes with their drawings, so other workers know to reload their memory.
- ``budgets``: token buckets of shared influence per writer, address and prefix.
- ``meta``: the schema version, counters and the guard's reference figures.

A teach is one write transaction: the dialect's ``begin_write`` takes the database's
write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock),
so every teach sees the newest version and versions are numbered without gaps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..blocking import native_lock
from . import (
    DEFAULT_KEEP,
    IMAGE_SHAPE,
    TAUGHT_WINDOW,
    Budget,
    Step,
    Store,
    StoreError,
    TeachDecision,
    TeachRecord,
    TeachRequest,
    TeachTransaction,
    Unavailable,
    VersionInfo,
    VersionRecord,
    WriterState,
    image_to_bytes,
    images_from_blobs,
    strokes_to_json,
)

SCHEMA_VERSION = 3

TEACH_IDS_KEPT = 7 * 24 * 3600.0
"""Seconds a teach id is remembered: a page resends within seconds, after a reconnect."""


def teach_key(request: TeachRequest) -> str | None:
    """Where a teach's id is kept: ids are the client's own, so each writer (or, without
    one, each network prefix) has ids of its own."""
    if request.teach_id is None:
        return None
    owner = f"w:{request.writer}" if request.writer else f"s:{request.source or ''}"
    return f"{owner}:{request.teach_id}"


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    version  {int} PRIMARY KEY,
    created  {real} NOT NULL,
    metadata TEXT NOT NULL,
    heldout  {real},
    parent   {int},
    checks   TEXT,
    weights  {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS writers (
    writer   TEXT PRIMARY KEY,
    created  {real} NOT NULL,
    active   {real} NOT NULL,
    revision {int} NOT NULL
);
CREATE INDEX IF NOT EXISTS writers_by_revision ON writers (revision);
CREATE INDEX IF NOT EXISTS writers_by_activity ON writers (active);
CREATE TABLE IF NOT EXISTS drawings (
    id           {serial} PRIMARY KEY,
    created      {real} NOT NULL,
    writer       TEXT,
    source       TEXT,
    label        INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    predicted    INTEGER NOT NULL,
    seen         INTEGER NOT NULL,
    base_version {int} NOT NULL,
    version      {int},
    status       TEXT NOT NULL
                 CHECK (status IN ('accepted', 'pending', 'refused', 'quarantined')),
    reason       TEXT,
    image        {blob} NOT NULL CHECK (length(image) = 784),
    strokes      TEXT
);
CREATE INDEX IF NOT EXISTS drawings_by_status ON drawings (status, id);
CREATE INDEX IF NOT EXISTS drawings_by_writer ON drawings (writer, id);
CREATE INDEX IF NOT EXISTS drawings_by_pair ON drawings (predicted, label, created);
CREATE TABLE IF NOT EXISTS teaches (
    key     TEXT PRIMARY KEY,
    created {real} NOT NULL,
    record  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS teaches_by_age ON teaches (created);
CREATE TABLE IF NOT EXISTS budgets (
    key    TEXT PRIMARY KEY,
    tokens {real} NOT NULL,
    stamp  {real} NOT NULL
);
"""

DRAWING_COLUMNS = ("id, created, writer, source, label, predicted, seen, base_version, "
                   "version, status, reason, strokes")
PER_WRITER = 200
"""Drawings kept per writer beyond the accepted ones (the newest; older ones go first)."""


class Dialect:
    """What differs between databases: connections, the write lock, types and errors."""

    name = "sql"
    types = {"int": "INTEGER", "real": "REAL", "blob": "BLOB", "serial": "INTEGER"}

    def connect(self):
        raise NotImplementedError

    def begin_write(self, connection) -> None:
        raise NotImplementedError

    def begin_read(self, connection) -> None:
        connection.execute("BEGIN")

    def sql(self, query: str) -> str:
        """The query in this database's placeholder style (written with ``?``)."""
        return query

    def unavailable(self, error: BaseException) -> bool:
        """True if the error means the database is unreachable, locked or full."""
        return False

    def table_exists(self, connection, name: str) -> bool:
        raise NotImplementedError

    def blob(self, data: bytes):
        """The database's value for a blob."""
        return data

    def upgrade_from_1(self, connection) -> None:
        """Bring a schema-1 database (the first release) to the shape SCHEMA extends."""
        raise StoreError("this database has no schema-1 layout to upgrade")

    def finish_upgrade_from_1(self, connection) -> None:
        """After SCHEMA created the new tables: move schema 1's rows into them."""

    def tune_schema(self, connection) -> None:
        """After SCHEMA: this database's own storage settings (idempotent; every start)."""

    def notify(self, connection, version: int) -> None:
        """Tell other hosts that ``version`` is the newest (PostgreSQL NOTIFY, delivered at
        commit); nothing for an embedded database, whose workers poll."""

    def wait_for_change(self, timeout: float) -> None:
        """Wait until something may have changed, at most ``timeout`` seconds."""
        from webapp.blocking import native_sleep

        native_sleep(timeout)


class SQLStore(Store):
    """The Store over a Dialect: connections borrowed from a small pool per operation."""

    def __init__(self, dialect: Dialect, *, keep: int = DEFAULT_KEEP,
                 keep_drawings: int | None = None, max_writers: int = 10_000):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.dialect = dialect
        self.keep = keep
        self.keep_drawings = keep_drawings
        self.max_writers = max_writers
        self._idle: list = []
        self._lock = native_lock()  # taken by greenlets and native threads
        self._closed = False
        self.migrated: tuple[int, int] | None = None  # (schema before, after) of migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keep={self.keep})"

    # -- connections ----------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = self.dialect.connect()
        except Exception as error:
            if self.dialect.unavailable(error):
                raise Unavailable(f"the database cannot be reached: {error}") from error
            raise
        healthy = True
        try:
            yield connection
        except Exception as error:
            healthy = False
            if self.dialect.unavailable(error):
                raise Unavailable(f"the database is unavailable: {error}") from error
            raise
        finally:
            if healthy and self._rollback_if_open(connection):
                with self._lock:
                    if not self._closed:
                        self._idle.append(connection)
                        connection = None
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # a broken connection may not even close cleanly
                    pass

    @staticmethod
    def _rollback_if_open(connection) -> bool:
        try:
            if getattr(connection, "in_transaction", False):
                connection.execute("ROLLBACK")
            return True
        except Exception:
            return False

    def _q(self, connection, query: str, args: Sequence = ()):
        return connection.execute(self.dialect.sql(query), tuple(args))

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._connection() as connection:
            self.dialect.begin_write(connection)
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if getattr(connection, "in_transaction", True):
                    try:
                        connection.execute("ROLLBACK")
                    except Exception:
                        pass
                raise

    @contextmanager
    def _read(self) -> Iterator[Any]:
        """One read transaction: every query in it sees the same committed state."""
        with self._connection() as connection:
            self.dialect.begin_read(connection)
            try:
                yield connection
            finally:
                try:
                    connection.execute("COMMIT")
                except Exception:
                    pass

    # -- schema -----------------------------------------------------------------------
    def schema_version(self, connection) -> int:
        """0 for an empty database, 1 for the first layout (no schema key), else the key."""
        if not self.dialect.table_exists(connection, "versions"):
            return 0
        if not self.dialect.table_exists(connection, "meta"):
            return 1
        row = self._q(connection, "SELECT value FROM meta WHERE key = 'schema'").fetchone()
        return int(row[0]) if row else 1

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema to SCHEMA_VERSION; return (before, after)."""
        with self._write() as connection:
            before = self.schema_version(connection)
            if before > SCHEMA_VERSION:
                raise StoreError(f"the database has schema {before}, newer than this "
                                 f"Inkling ({SCHEMA_VERSION}); upgrade Inkling")
            if before == 1:
                self.dialect.upgrade_from_1(connection)
            for statement in SCHEMA.format(**self.dialect.types).split(";"):
                if statement.strip():
                    connection.execute(statement)
            if before == 1:
                self.dialect.finish_upgrade_from_1(connection)
            self.dialect.tune_schema(connection)
            for key, value in (("schema", str(SCHEMA_VERSION)), ("accepted", "0"),
                               ("writer_revision", "0")):
                self._q(connection, "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO NOTHING", (key, value))
            self._q(connection, "UPDATE meta SET value = ? WHERE key = 'schema'",
                    (str(SCHEMA_VERSION),))
        self.migrated = (before, SCHEMA_VERSION)
        return self.migrated

    def _meta(self, connection, key: str) -> str | None:
        row = self._q(connection, "SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, connection, key: str, value: str) -> None:
        self._q(connection, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value", (key, value))

    # -- versions ---------------------------------------------------------------------
    @staticmethod
    def _info(row) -> VersionInfo:
        version, created, metadata, heldout, parent, checks = row
        return VersionInfo(int(version), float(created), json.loads(metadata), heldout,
                           parent, json.loads(checks) if checks else None)

    def _version_info(self, connection, version: int | None) -> VersionInfo:
        columns = "version, created, metadata, heldout, parent, checks"
        if version is None:
            row = self._q(connection, f"SELECT {columns} FROM versions "
                          "ORDER BY version DESC LIMIT 1").fetchone()
            if row is None:
                raise StoreError("the store holds no model version yet")
        else:
            row = self._q(connection, f"SELECT {columns} FROM versions WHERE version = ?",
                          (version,)).fetchone()
            if row is None:
                raise StoreError(f"model version {version} does not exist (or was pruned)")
        return self._info(row)

    def seed(self, weights, metadata, heldout, checks):
        with self._write() as connection:
            if self._q(connection, "SELECT 1 FROM versions LIMIT 1").fetchone() is not None:
                return self._version_info(connection, None), False
            self._insert_version(connection, 1, metadata, heldout, None, checks, weights)
            if heldout is not None:
                self._set_meta(connection, "seed_heldout", repr(heldout))
            if checks is not None:
                self._set_meta(connection, "reference", json.dumps(checks))
            return self._version_info(connection, 1), True

    def _insert_version(self, connection, version, metadata, heldout, parent, checks,
                        weights) -> None:
        self._q(connection, "INSERT INTO versions (version, created, metadata, heldout, "
                "parent, checks, weights) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (version, time.time(), json.dumps(metadata, allow_nan=False), heldout, parent,
                 json.dumps(checks) if checks is not None else None,
                 self.dialect.blob(weights)))

    def probe_write(self):
        with self._write() as connection:
            self._set_meta(connection, "write_probe", repr(time.time()))

    def _prune_teaches(self, connection) -> None:
        """Teach ids are answered again for TEACH_IDS_KEPT seconds."""
        self._q(connection, "DELETE FROM teaches WHERE created < ?",
                (time.time() - TEACH_IDS_KEPT,))

    def _prune_versions(self, connection) -> None:
        """Keep the newest ``keep`` versions."""
        self._q(connection, "DELETE FROM versions WHERE version <= "
                "(SELECT max(version) FROM versions) - ?", (self.keep,))

    def latest_version(self):
        with self._connection() as connection:
            return self._q(connection, "SELECT max(version) FROM versions").fetchone()[0]

    def version_info(self, version=None):
        with self._connection() as connection:
            return self._version_info(connection, version)

    def load_version(self, version=None):
        with self._read() as connection:
            info = self._version_info(connection, version)
            (weights,) = self._q(connection, "SELECT weights FROM versions WHERE version = ?",
                                 (info.version,)).fetchone()
        return VersionRecord(**info.__dict__, weights=bytes(weights))

    def versions(self):
        with self._read() as connection:
            rows = self._q(connection, "SELECT v.version, v.created, v.heldout, v.parent, "
                           "(SELECT count(*) FROM drawings d WHERE d.version = v.version) "
                           "FROM versions v ORDER BY v.version DESC").fetchall()
        return [{"version": int(v), "created": float(c), "heldout": h, "parent": p,
                 "taught": int(n)} for v, c, h, p, n in rows]

    def rollback(self, version):
        with self._write() as connection:
            old = self._version_info(connection, version)
            (weights,) = self._q(connection, "SELECT weights FROM versions WHERE version = ?",
                                 (version,)).fetchone()
            newest = self._version_info(connection, None)
            metadata = {**old.metadata, "rolled_back_to": version}
            self._insert_version(connection, newest.version + 1, metadata, old.heldout,
                                 newest.version, old.checks, bytes(weights))
            self._prune_versions(connection)
            info = self._version_info(connection, newest.version + 1)
            self.dialect.notify(connection, info.version)
        return info

    def rebase(self, weights, metadata, heldout, checks, reference):
        with self._write() as connection:
            newest = self._version_info(connection, None)
            version = newest.version + 1
            self._insert_version(connection, version, metadata, heldout, newest.version,
                                 checks, weights)
            self._set_meta(connection, "reference", json.dumps(reference))
            self._set_meta(connection, "seed_heldout", repr(reference["heldout"]))
            self._set_meta(connection, "rebased_at", str(version))
            self._prune_versions(connection)
            info = self._version_info(connection, version)
            self.dialect.notify(connection, version)
        return info

    def tidy(self):
        with self._write() as connection:
            self._prune_versions(connection)
            self._prune_teaches(connection)
            self._retain(connection)

    # -- teaching ---------------------------------------------------------------------
    def teach(self, request: TeachRequest, step: Step) -> TeachRecord:
        key = teach_key(request)
        with self._write() as connection:
            if key is not None:  # a resend of a committed teach: its answer, nothing else
                row = self._q(connection, "SELECT record FROM teaches WHERE key = ?",
                              (key,)).fetchone()
                if row is not None:
                    return TeachRecord.from_json(row[0])
            base = self._version_info(connection, None)
            reference = self._meta(connection, "reference")
            txn = _Transaction(self, connection, base,
                               json.loads(reference) if reference else None)
            decision = step(txn)
            record = self._record(connection, base, request, decision)
            if key is not None:
                self._q(connection, "INSERT INTO teaches (key, created, record) "
                        "VALUES (?, ?, ?)", (key, record.created, record.to_json()))
            if record.accepted or record.writer is not None:
                self.dialect.notify(connection, record.version)
        return record

    def _record(self, connection, base: VersionInfo, request: TeachRequest,
                decision: TeachDecision) -> TeachRecord:
        """Insert the drawing (and the new version when accepted) in the open transaction."""
        now = time.time()
        if decision.status == "accepted":
            if not decision.weights:
                raise ValueError("an accepted teach needs the new weights")
            version, heldout, checks = base.version + 1, decision.heldout, decision.checks
            self._insert_version(connection, version, decision.metadata, heldout,
                                 base.version, checks, decision.weights)
            self._q(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 "
                    "AS TEXT) WHERE key = 'accepted'")
            for key in decision.spend:
                self._q(connection, "UPDATE budgets SET tokens = tokens - 1 WHERE key = ?",
                        (key,))
            produced = version
        else:
            version, heldout, checks, produced = base.version, base.heldout, base.checks, None
        if request.approves is not None:  # the pending drawing itself, not a new one
            return self._approved(connection, base, request, decision, version, heldout,
                                  checks, produced, now)
        keeps_strokes = decision.status in ("accepted", "pending")
        drawing_id = self._q(connection, "INSERT INTO drawings (created, writer, source, "
                             "label, predicted, seen, base_version, version, status, reason, "
                             "image, strokes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                             "RETURNING id",
                             (now, request.writer, request.source, request.label,
                              decision.predicted, decision.seen, base.version, produced,
                              decision.status, decision.reason,
                              self.dialect.blob(image_to_bytes(request.pixels)),
                              strokes_to_json(request.strokes) if keeps_strokes else None)
                             ).fetchone()[0]
        writer = None
        if request.writer is not None:
            self._touch_writer(connection, request.writer, now)
            writer = self._writer_state(connection, request.writer)
        return TeachRecord(
            drawing_id=int(drawing_id), status=decision.status, version=version,
            base_version=base.version, created=now, label=request.label,
            predicted=decision.predicted, seen=decision.seen, heldout=heldout, checks=checks,
            taught=self._taught_accuracy(connection, TAUGHT_WINDOW),
            samples=self._sample_count(connection), reason=decision.reason, writer=writer)

    def _approved(self, connection, base, request, decision, version, heldout, checks,
                  produced, now) -> TeachRecord:
        """An operator's approval of a pending drawing: its row takes the decision."""
        changed = self._q(connection, "UPDATE drawings SET status = ?, reason = ?, "
                          "predicted = ?, base_version = ?, version = ? WHERE id = ? AND "
                          "status = 'pending'",
                          (decision.status, decision.reason, decision.predicted, base.version,
                           produced, request.approves)).rowcount
        if changed != 1:
            raise StoreError(f"drawing {request.approves} is not pending any more")
        return TeachRecord(
            drawing_id=int(request.approves), status=decision.status, version=version,
            base_version=base.version, created=now, label=request.label,
            predicted=decision.predicted, seen=decision.seen, heldout=heldout, checks=checks,
            taught=self._taught_accuracy(connection, TAUGHT_WINDOW),
            samples=self._sample_count(connection), reason=decision.reason, writer=None)

    def _next_revision(self, connection) -> int:
        self._q(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                "WHERE key = 'writer_revision'")
        return int(self._meta(connection, "writer_revision"))

    def _touch_writer(self, connection, writer: str, now: float) -> None:
        """The writer's drawings changed: a new revision (and room for a new writer)."""
        revision = self._next_revision(connection)
        known = self._q(connection, "UPDATE writers SET active = ?, revision = ? "
                        "WHERE writer = ?", (now, revision, writer)).rowcount
        if not known:
            self._q(connection, "INSERT INTO writers (writer, created, active, revision) "
                    "VALUES (?, ?, ?, ?)", (writer, now, now, revision))
            self._prune_writers(connection)
        # Bounded per writer: beyond PER_WRITER, their oldest drawings that the shared
        # model did not learn go (accepted ones are everyone's data set).
        self._q(connection, "DELETE FROM drawings WHERE writer = ? AND status <> 'accepted' "
                "AND id NOT IN (SELECT id FROM drawings WHERE writer = ? "
                "ORDER BY id DESC LIMIT ?)", (writer, writer, PER_WRITER))

    def _prune_writers(self, connection) -> None:
        """Beyond max_writers, the least recently active writers are forgotten."""
        (count,) = self._q(connection, "SELECT count(*) FROM writers").fetchone()
        if count <= self.max_writers:
            return
        gone = [w for (w,) in self._q(connection, "SELECT writer FROM writers ORDER BY "
                                      "active LIMIT ?", (count - self.max_writers,))]
        for writer in gone:
            self._forget(connection, writer)
            self._q(connection, "DELETE FROM writers WHERE writer = ?", (writer,))

    def _retain(self, connection) -> None:
        """Beyond keep_drawings, the oldest refused drawings go first, then pending ones;
        budgets untouched for a day are full again, the same as no row."""
        self._q(connection, "DELETE FROM budgets WHERE stamp < ?", (time.time() - 86400,))
        if self.keep_drawings is None:
            return
        (total,) = self._q(connection, "SELECT count(*) FROM drawings").fetchone()
        excess = total - self.keep_drawings
        for status in ("refused", "pending"):
            if excess <= 0:
                return
            excess -= self._q(connection, "DELETE FROM drawings WHERE id IN (SELECT id FROM "
                              "drawings WHERE status = ? ORDER BY id LIMIT ?)",
                              (status, excess)).rowcount

    # -- figures ------------------------------------------------------------------------
    def _taught_accuracy(self, connection, window: int) -> float | None:
        rows = self._q(connection, "SELECT predicted, label FROM drawings WHERE status = "
                       "'accepted' ORDER BY id DESC LIMIT ?", (window,)).fetchall()
        return sum(p == y for p, y in rows) / len(rows) if rows else None

    def taught_accuracy(self, window=TAUGHT_WINDOW):
        with self._connection() as connection:
            return self._taught_accuracy(connection, window)

    def _sample_count(self, connection) -> int:
        return int(self._meta(connection, "accepted") or 0)

    def sample_count(self):
        with self._connection() as connection:
            return self._sample_count(connection)

    # -- writers ------------------------------------------------------------------------
    def _writer_state(self, connection, writer: str) -> WriterState | None:
        row = self._q(connection, "SELECT revision FROM writers WHERE writer = ?",
                      (writer,)).fetchone()
        if row is None:
            return None
        (samples,) = self._q(connection, "SELECT count(*) FROM drawings WHERE writer = ? "
                             "AND status <> 'quarantined'", (writer,)).fetchone()
        rows = self._q(connection, "SELECT seen, label FROM drawings WHERE writer = ? "
                       "ORDER BY id DESC LIMIT ?", (writer, TAUGHT_WINDOW)).fetchall()
        accuracy = sum(s == y for s, y in rows) / len(rows) if rows else None
        return WriterState(int(samples), accuracy, int(row[0]))

    def writer_state(self, writer):
        with self._read() as connection:
            return self._writer_state(connection, writer)

    def writer_drawings(self, writer, limit):
        with self._connection() as connection:
            rows = self._q(connection, "SELECT image, label FROM drawings WHERE writer = ? "
                           "AND status <> 'quarantined' ORDER BY id DESC LIMIT ?",
                           (writer, limit)).fetchall()[::-1]
        return (images_from_blobs([image for image, _ in rows]),
                np.array([label for _, label in rows], dtype=np.uint8))

    def changed_writers(self, since):
        with self._read() as connection:
            newest = int(self._meta(connection, "writer_revision") or 0)
            rows = self._q(connection, "SELECT writer, revision FROM writers WHERE revision > ?",
                           (since,)).fetchall()
        return newest, [(w, int(r)) for w, r in rows]

    def _forget(self, connection, writer: str) -> int:
        return self._q(connection, "DELETE FROM drawings WHERE writer = ?", (writer,)).rowcount

    def forget(self, writer):
        with self._write() as connection:
            deleted = self._forget(connection, writer)
            revision = self._next_revision(connection)
            self._q(connection, "UPDATE writers SET revision = ? WHERE writer = ?",
                    (revision, writer))
        return deleted

    # -- the data set and the operator --------------------------------------------------
    def export_samples(self, writer=None, statuses=None):
        with self._connection() as connection:
            if statuses is not None:
                query = (f"SELECT image, label FROM drawings WHERE status IN "
                         f"({', '.join('?' * len(statuses))})")
                params = list(statuses)
                if writer is not None:
                    query += " AND writer = ?"
                    params.append(writer)
                rows = self._q(connection, query + " ORDER BY id", params).fetchall()
            elif writer is None:
                rows = self._q(connection, "SELECT image, label FROM drawings WHERE status = "
                               "'accepted' ORDER BY id").fetchall()
            else:
                rows = self._q(connection, "SELECT image, label FROM drawings WHERE writer = ? "
                               "AND status <> 'quarantined' ORDER BY id", (writer,)).fetchall()
        return (images_from_blobs([image for image, _ in rows]),
                np.array([label for _, label in rows], dtype=np.uint8))

    def pending_drawing(self, drawing_id):
        with self._connection() as connection:
            row = self._q(connection, "SELECT strokes, image, label, writer, source FROM "
                          "drawings WHERE id = ? AND status = 'pending'",
                          (int(drawing_id),)).fetchone()
        if row is None:
            return None
        strokes, image, label, writer, source = row
        return {"strokes": [np.asarray(s, dtype=np.float64) for s in json.loads(strokes)]
                if strokes else [], "image": images_from_blobs([image])[0],
                "label": int(label), "writer": writer, "source": source}

    def drawings(self, writer=None, status=None, limit=None):
        where, args = [], []
        if writer is not None:
            where.append("writer = ?")
            args.append(writer)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        query = f"SELECT {DRAWING_COLUMNS} FROM drawings"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._connection() as connection:
            cursor = self._q(connection, query, args)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        out = [dict(zip(names, row, strict=True)) for row in rows]
        for drawing in out:
            drawing["strokes"] = json.loads(drawing["strokes"]) if drawing["strokes"] else None
        return out

    def delete_drawings(self, ids):
        ids = sorted({int(i) for i in ids})
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._write() as connection:
            accepted, writers = self._removing(connection, ids)
            deleted = self._q(connection, f"DELETE FROM drawings WHERE id IN ({marks})",
                              ids).rowcount
            self._after_removal(connection, accepted, writers)
        return deleted

    def quarantine(self, ids, reason):
        ids = sorted({int(i) for i in ids})
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._write() as connection:
            accepted, writers = self._removing(connection, ids)
            changed = self._q(connection, "UPDATE drawings SET status = 'quarantined', "
                              f"reason = ? WHERE status <> 'quarantined' AND id IN ({marks})",
                              (reason, *ids)).rowcount
            self._after_removal(connection, accepted, writers)
        return changed

    def _removing(self, connection, ids: list[int]) -> tuple[int, list[str]]:
        """Of drawings about to leave: how many were accepted, and their writers."""
        marks = ",".join("?" * len(ids))
        writers = [w for (w,) in self._q(connection, "SELECT DISTINCT writer FROM drawings "
                                         f"WHERE id IN ({marks}) AND writer IS NOT NULL", ids)]
        accepted = self._q(connection, "SELECT count(*) FROM drawings WHERE status = "
                           f"'accepted' AND id IN ({marks})", ids).fetchone()[0]
        return accepted, writers

    def _after_removal(self, connection, accepted: int, writers: list[str]) -> None:
        """Keep the accepted count, and tell workers the writers' memories changed."""
        self._q(connection, "UPDATE meta SET value = CAST(CAST(value AS INTEGER) - ? AS TEXT) "
                "WHERE key = 'accepted'", (int(accepted),))
        for writer in writers:
            self._q(connection, "UPDATE writers SET revision = ? WHERE writer = ?",
                    (self._next_revision(connection), writer))

    def counts(self):
        with self._connection() as connection:
            rows = self._q(connection, "SELECT status, count(*) FROM drawings "
                           "GROUP BY status").fetchall()
        return {status: 0 for status in ("accepted", "pending", "refused", "quarantined")} | \
            {status: int(n) for status, n in rows}

    def ping(self):
        with self._connection() as connection:
            self._q(connection, "SELECT 1").fetchone()

    def wait_for_change(self, timeout: float) -> None:
        """Wait until a version or a writer may have changed (at most ``timeout`` s)."""
        self.dialect.wait_for_change(timeout)

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            try:
                connection.close()
            except Exception:
                pass


class _Transaction(TeachTransaction):
    """The open teach transaction of an SQLStore."""

    def __init__(self, store: SQLStore, connection, base: VersionInfo, reference: dict | None):
        self._store = store
        self._connection = connection
        self.base = base
        self.reference = reference

    def __repr__(self) -> str:
        return f"_Transaction(base={self.base.version})"

    def _q(self, query: str, args: Sequence = ()):
        return self._store._q(self._connection, query, args)

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

    def can_spend(self, budgets: Sequence[Budget]) -> Budget | None:
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
