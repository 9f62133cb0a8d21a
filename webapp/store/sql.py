"""The store in SQL that SQLite and PostgreSQL both understand; a Dialect adapts the rest.

The tables are in ``webapp.store.schema``, the connection pool in ``webapp.store.pool``,
the teach transaction in ``webapp.store.teaching`` and the operator's view of the
drawings in ``webapp.store.operator``; this module holds versions and writers.  Writes
take the database's write lock (the dialect's ``begin_write``), so every teach sees the
newest version and versions are numbered without gaps; reads that read more than once
run in one read transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from . import (
    DEFAULT_KEEP,
    TAUGHT_WINDOW,
    Store,
    StoreError,
    TeachRequest,
    VersionInfo,
    VersionRecord,
    WriterState,
    images_from_blobs,
    schema,
)
from .dialect import Dialect
from .operator import OperatorQueries
from .pool import Connections
from .teaching import TEACH_IDS_KEPT, SQLTeaching, teach_key

PER_WRITER = 200
"""Drawings kept per writer beyond the accepted ones (the newest; older ones go first)."""


class SQLStore(OperatorQueries, Store):
    """The Store over a Dialect: connections borrowed from a small pool per operation."""

    def __init__(self, dialect: Dialect, *, keep: int = DEFAULT_KEEP,
                 keep_drawings: int | None = None, max_writers: int = 10_000):
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.dialect = dialect
        self.keep = keep
        self.keep_drawings = keep_drawings
        self.max_writers = max_writers
        self.connections = Connections(dialect)
        self.migrated: tuple[int, int] | None = None  # (schema before, after) of migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keep={self.keep})"

    def _q(self, connection, query: str, args: Sequence = ()):
        return connection.execute(self.dialect.sql(query), tuple(args))

    # -- schema -----------------------------------------------------------------------
    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema to SCHEMA_VERSION; return (before, after)."""
        with self.connections.write() as connection:
            before = schema.migrate(self.dialect, connection)
        self.migrated = (before, schema.SCHEMA_VERSION)
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
        with self.connections.write() as connection:
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
        with self.connections.write() as connection:
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
        with self.connections.borrow() as connection:
            return self._q(connection, "SELECT max(version) FROM versions").fetchone()[0]

    def version_info(self, version=None):
        with self.connections.borrow() as connection:
            return self._version_info(connection, version)

    def load_version(self, version=None):
        with self.connections.read() as connection:
            info = self._version_info(connection, version)
            (weights,) = self._q(connection, "SELECT weights FROM versions WHERE version = ?",
                                 (info.version,)).fetchone()
        return VersionRecord(**info.__dict__, weights=bytes(weights))

    def versions(self):
        with self.connections.read() as connection:
            rows = self._q(connection, "SELECT v.version, v.created, v.heldout, v.parent, "
                           "(SELECT count(*) FROM drawings d WHERE d.version = v.version) "
                           "FROM versions v ORDER BY v.version DESC").fetchall()
        return [{"version": int(v), "created": float(c), "heldout": h, "parent": p,
                 "taught": int(n)} for v, c, h, p, n in rows]

    def rollback(self, version):
        with self.connections.write() as connection:
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
        with self.connections.write() as connection:
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
        with self.connections.write() as connection:
            self._prune_versions(connection)
            self._prune_teaches(connection)
            self._retain(connection)

    # -- teaching ---------------------------------------------------------------------
    @contextmanager
    def teaching(self, request: TeachRequest, exclusive: bool = False) -> Iterator[SQLTeaching]:
        keys = [f"writer:{request.writer}"] if request.writer else []
        key = teach_key(request)
        if key is not None:
            keys.append(f"teach:{key}")

        def begin(connection) -> None:
            self.dialect.begin_teach(connection, keys)
            if exclusive:
                self.dialect.claim_shared(connection)

        with self.connections.transaction(begin) as connection:
            yield SQLTeaching(self, connection, request, claimed=exclusive)

    def _new_revision(self, connection, writer: str, active: float | None = None) -> bool:
        """The writer's drawings changed: their revision becomes the larger of itself + 1
        and the database's clock in microseconds, so it only grows, even for a writer
        forgotten and back, and the follower can look for changes by it.  No counter
        shared by all writers: their teaches do not wait for each other.  ``active``, if
        given, is when they taught.  Returns whether the writer had a row."""
        clock = self.dialect.clock(connection)
        return bool(self._q(connection, "UPDATE writers SET revision = CASE WHEN revision + "
                            "1 > ? THEN revision + 1 ELSE ? END, active = coalesce(?, active) "
                            "WHERE writer = ?", (clock, clock, active, writer)).rowcount)

    def _touch_writer(self, connection, writer: str, now: float) -> None:
        """The writer taught: a new revision (and room for a new writer)."""
        if not self._new_revision(connection, writer, active=now):
            self._q(connection, "INSERT INTO writers (writer, created, active, revision) "
                    "VALUES (?, ?, ?, ?)", (writer, now, now, self.dialect.clock(connection)))
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
        with self.connections.borrow() as connection:
            return self._taught_accuracy(connection, window)

    def _sample_count(self, connection) -> int:
        return int(self._meta(connection, "accepted") or 0)

    def sample_count(self):
        with self.connections.borrow() as connection:
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
        with self.connections.read() as connection:
            return self._writer_state(connection, writer)

    def writer_drawings(self, writer, limit):
        with self.connections.borrow() as connection:
            rows = self._q(connection, "SELECT image, label FROM drawings WHERE writer = ? "
                           "AND status <> 'quarantined' ORDER BY id DESC LIMIT ?",
                           (writer, limit)).fetchall()[::-1]
        return (images_from_blobs([image for image, _ in rows]),
                np.array([label for _, label in rows], dtype=np.uint8))

    def changed_writers(self, since):
        with self.connections.read() as connection:
            rows = self._q(connection, "SELECT writer, revision FROM writers WHERE revision > ?",
                           (since,)).fetchall()
        changed = [(w, int(r)) for w, r in rows]
        return max([since] + [r for _, r in changed]), changed

    def _forget(self, connection, writer: str) -> int:
        return self._q(connection, "DELETE FROM drawings WHERE writer = ?", (writer,)).rowcount

    def forget(self, writer):
        with self.connections.write() as connection:
            deleted = self._forget(connection, writer)
            self._new_revision(connection, writer)
        return deleted

    def ping(self):
        with self.connections.borrow() as connection:
            self._q(connection, "SELECT 1").fetchone()

    def wait_for_change(self, timeout: float) -> None:
        """Wait until a version or a writer may have changed (at most ``timeout`` s)."""
        self.dialect.wait_for_change(timeout)

    def close(self):
        self.connections.close()
