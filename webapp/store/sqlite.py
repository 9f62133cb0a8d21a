"""The embedded store: everything in one SQLite file in the instance folder.

Trade-off: we let SQLite do what it is good at instead of hand-made files and locks.
A teach is one ``BEGIN IMMEDIATE`` transaction, which takes the database's single
write lock, so teaches from any number of threads and gunicorn workers are serialised
and each sees the newest version; WAL with ``synchronous=FULL`` makes a commit durable
before we acknowledge it, and readers never wait for the writer.  The price is one
writer at a time, which is what the model needs anyway: version v+1 is learned from v.
Workers of one host learn of each other's versions by polling (``wait_for_change``).

``max_bytes`` caps the file (SQLite's ``max_page_count``): a full database refuses
writes with "database or disk is full", which the store reports as ``Unavailable``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from .sql import Dialect, SQLStore

DATABASE_NAME = "inkling.sqlite3"
DEFAULT_BUSY_TIMEOUT = 60.0  # seconds; teaches queue behind each other, never fail fast
PAGE_SIZE = 65536  # bytes; SQLite's largest
WATCH_INTERVAL = 0.01
"""Seconds between two looks at whether another worker committed (a cheap pragma)."""
CHECKPOINT_EVERY = 1.0
"""Seconds between two moves of the log into the database, off the teach path."""


class SQLiteDialect(Dialect):
    """sqlite3 connections in autocommit mode (transactions are explicit BEGINs)."""

    name = "sqlite"

    def __init__(self, path: str, busy_timeout: float, max_bytes: int | None):
        self.path = path
        self.busy_timeout = busy_timeout
        self.max_bytes = max_bytes
        self._watch: sqlite3.Connection | None = None  # the follower's (one thread's)
        self._checkpoint_due = 0.0

    def connect(self):
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                     isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        connection.execute("PRAGMA synchronous = FULL")
        # A version is a 2 MB blob: checkpoints (copying the log into the database) run on
        # the follower's schedule (``wait_for_change``), not inside a person's teach.
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        # Large pages for a new database (a no-op on an existing one): a 1.7 MB version
        # is 27 pages, not 415, and writing and freeing it costs a third as much.
        connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        if self.max_bytes:
            (page,) = connection.execute("PRAGMA page_size").fetchone()
            connection.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page)}")
        return connection

    def begin_write(self, connection) -> None:
        connection.execute("BEGIN IMMEDIATE")

    def wait_for_change(self, timeout: float) -> None:
        """Wait until another connection commits (``PRAGMA data_version`` moves; checked
        every WATCH_INTERVAL s on the follower's own connection) or ``timeout`` passes;
        move the log into the database at most every CHECKPOINT_EVERY s."""
        from webapp.blocking import native_sleep

        if self._watch is None:
            self._watch = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                          check_same_thread=False)
        deadline = time.monotonic() + timeout
        (start,) = self._watch.execute("PRAGMA data_version").fetchone()
        while time.monotonic() < deadline:
            native_sleep(WATCH_INTERVAL)
            if self._watch.execute("PRAGMA data_version").fetchone()[0] != start:
                break
        if time.monotonic() >= self._checkpoint_due:
            self._watch.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._checkpoint_due = time.monotonic() + CHECKPOINT_EVERY

    def close(self) -> None:
        """Close the follower's watching connection (the follower has stopped)."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    def table_exists(self, connection, name: str) -> bool:
        return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                  "AND name = ?", (name,)).fetchone() is not None

    def unavailable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and any(
            words in str(error) for words in ("locked", "full", "disk I/O", "unable to open"))

    def upgrade_from_1(self, connection) -> None:
        """Schema 1 had no writers: drawings gain writer, source and seen; the guard's
        refusals (then "quarantined") become "refused"; versions gain checks."""
        connection.execute("ALTER TABLE versions ADD COLUMN checks TEXT")
        connection.execute("ALTER TABLE drawings RENAME TO drawings_1")
        connection.execute("DROP INDEX IF EXISTS drawings_by_status")

    def finish_upgrade_from_1(self, connection) -> None:
        connection.execute(
            "INSERT INTO drawings (id, created, writer, source, label, predicted, seen, "
            "base_version, version, status, reason, image, strokes) SELECT id, created, NULL, "
            "NULL, label, predicted, predicted, base_version, version, CASE status WHEN "
            "'quarantined' THEN 'refused' ELSE status END, reason, image, strokes "
            "FROM drawings_1")
        connection.execute("DROP TABLE drawings_1")


class SQLiteStore(SQLStore):
    """The embedded store: one SQLite file in WAL mode with synchronous=FULL."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 max_bytes: int | None = None, **options: Any):
        self.path = os.fspath(path)
        super().__init__(SQLiteDialect(self.path, busy_timeout, max_bytes), **options)
        self._use_wal(busy_timeout)
        self.migrate()

    @classmethod
    def in_folder(cls, folder: str | os.PathLike[str], **options: Any) -> SQLiteStore:
        """Open (creating the folder if needed) the store in an instance folder."""
        os.makedirs(folder, exist_ok=True)
        return cls(os.path.join(folder, DATABASE_NAME), **options)

    def close(self) -> None:
        super().close()
        self.dialect.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, keep={self.keep})"

    def _use_wal(self, busy_timeout: float) -> None:
        """Switch to WAL; safe when many processes start at once (SQLite may report the
        switch busy without waiting, so retry until the deadline)."""
        deadline = time.monotonic() + busy_timeout
        with self.connections.borrow() as connection:
            while True:
                try:
                    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
        if mode.lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode for {self.path} (got {mode!r})")

    def has_room(self) -> bool:
        """Room for one more version (pages in use + its size below 99% of max_bytes), and
        64 MB left on the file system."""
        free = os.statvfs(os.path.dirname(self.path) or ".")
        if free.f_bavail * free.f_frsize < 64 * 2**20:
            return False
        if not self.dialect.max_bytes:
            return True
        with self.connections.borrow() as connection:
            (pages,) = connection.execute("PRAGMA page_count").fetchone()
            (unused,) = connection.execute("PRAGMA freelist_count").fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
            row = connection.execute("SELECT length(weights) FROM versions "
                                     "ORDER BY version DESC LIMIT 1").fetchone()
        version = row[0] if row else 0
        return (pages - unused) * size + version < 0.99 * self.dialect.max_bytes

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ('ok' when nothing is torn)."""
        with self.connections.borrow() as connection:
            return connection.execute("PRAGMA integrity_check").fetchone()[0]

    def replay_query_plan(self, k: int = 4) -> list[str]:
        """SQLite's plan for the replay query (tests check it uses primary-key lookups)."""
        query = ("EXPLAIN QUERY PLAN SELECT id, image, label FROM drawings WHERE id IN "
                 f"({','.join('?' * k)}) AND status = 'accepted'")
        with self.connections.borrow() as connection:
            return [row[-1] for row in connection.execute(query, list(range(1, k + 1)))]
