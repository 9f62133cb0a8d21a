"""What differs between the databases the SQL store runs on (``webapp.store.sqlite``,
``webapp.store.postgres``): connections, the write lock, types, errors and wake-ups."""

from __future__ import annotations

import time

from ..blocking import native_sleep
from . import StoreError


class Dialect:
    """What differs between databases: connections, the write lock, types and errors."""

    name = "sql"
    types = {"int": "INTEGER", "real": "REAL", "blob": "BLOB", "serial": "INTEGER"}

    def connect(self):
        raise NotImplementedError

    def begin_write(self, connection) -> None:
        """Begin a transaction that holds the database's write lock (versions, operators)."""
        raise NotImplementedError

    def begin_teach(self, connection, keys: list[str]) -> None:
        """Begin a teach's transaction, locking only what it surely touches (``keys``: its
        writer, its teach id); ``claim_shared`` locks everyone's model when the teach
        may change it.  A database with one write lock for everything takes it here."""
        self.begin_write(connection)

    def claim_shared(self, connection) -> None:
        """Lock everyone's model inside a teach's transaction (no-op where
        ``begin_teach`` took the database's one write lock)."""

    def clock(self, connection) -> int:
        """Microseconds since the epoch by the database's clock (a writer's revision is
        at least this, so revisions grow across hosts and across a forgotten writer)."""
        return int(time.time() * 1e6)

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
        native_sleep(timeout)
