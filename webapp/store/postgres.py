"""The store on a PostgreSQL server: many hosts, one truth (``INKLING_DATABASE_URL``).

Trade-off: a server we do not write ourselves instead of a file, so that any number of
gunicorn hosts, each with its own instance folder, behave as one Inkling.  Three
PostgreSQL features carry it, each one documented and nothing home-made:

- *One writer of versions at a time, everywhere.*  A transaction that may make a
  version (a teach the shared model may learn, a rollback, an operator's change) takes
  ``pg_advisory_xact_lock(LOCK_KEY)``: every host waits for the one before it, and
  since the lock is released only after that one's commit, the next (READ COMMITTED)
  statement sees its version.  So version v+1 is learned from v and versions are
  numbered without gaps, as with SQLite's ``BEGIN IMMEDIATE``.  A teach that changes
  only its writer's model locks only that writer and its teach id (two-int advisory
  locks), so different writers' teaches run side by side on every host.  A
  host killed mid-teach loses its connection; the server rolls its transaction back and
  frees the lock.  ``lock_timeout`` bounds the wait (then ``Unavailable``), and
  ``idle_in_transaction_session_timeout`` frees the lock of a host that hangs.
- *News of a version.*  The committing transaction runs ``pg_notify('inkling',
  '<version>')``, which PostgreSQL delivers at commit (never for a rollback) to every
  connection that LISTENs.  Each worker's follower LISTENs on a connection of its own
  and wakes at once; it then asks the database what changed, so the notification is
  only a hint and polling (every ``follow_interval``) remains the fallback.
- *Connections.*  psycopg 3 connections in autocommit mode (transactions are the
  explicit BEGINs of ``SQLStore``), pooled by ``SQLStore`` (a few per worker: its
  teacher and its follower).  A broken connection is dropped, and the next operation
  connects again; a pooled connection the server closed while it was idle (a restart)
  is replaced transparently on its first statement, which is always a BEGIN or a
  read, so nothing is ever said twice.  When the server cannot be reached, every
  operation raises ``Unavailable`` at once, and predictions carry on from memory.

The schema is SQLStore's, with PostgreSQL's types (and the weights stored uncompressed:
compressing float32 blobs cost more than half of a teach's INSERT for little gain);
``migrate`` runs at every start under the advisory lock, so hosts starting together
create it exactly once.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from webapp.blocking import native_lock

from . import StoreError
from .sql import Dialect, SQLStore

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
except ImportError:  # the optional extra: pip install -e '.[postgres]'
    psycopg = None

LOCK_KEY = int.from_bytes(b"inkling", "big")
"""The advisory lock every write transaction takes (one bigint, per database)."""

TEACH_LOCKS = int.from_bytes(b"ink", "big")
"""The first int of the two-int advisory locks of one writer or one teach id."""

CHANNEL = "inkling"
"""The LISTEN/NOTIFY channel; the payload is the newest version number."""

DEFAULTS = {
    "connect_timeout": "5",  # seconds: an unreachable server fails a teach quickly
    "application_name": "inkling",
    # a silent network (a host or a switch gone) is noticed within about a minute
    "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
    "keepalives_count": "3",
}
SESSION = ("-c lock_timeout=60s "  # a teach waits its turn at most this long
           "-c idle_in_transaction_session_timeout=120s")  # a hung host frees the lock


@functools.lru_cache(maxsize=1024)
def placeholders(query: str) -> str:
    """``query`` with sqlite's ``?`` placeholders as psycopg's ``%s`` (and ``%`` doubled),
    outside string literals."""
    out, quoted = [], False
    for char in query:
        if char == "'":
            quoted = not quoted
        if char == "?" and not quoted:
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


class PostgresConnection:
    """A psycopg connection (autocommit) shaped the way ``SQLStore`` uses sqlite3's:
    ``execute`` returns a cursor, ``in_transaction`` says whether a BEGIN is open."""

    RETRYABLE = ("BEGIN", "SELECT")  # first statements of an operation that change nothing

    def __init__(self, dialect: PostgresDialect):
        self._dialect = dialect
        self._raw = dialect.open()

    def __repr__(self) -> str:
        return f"PostgresConnection(in_transaction={self.in_transaction})"

    @property
    def in_transaction(self) -> bool:
        return self._raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, query: str, params=None):
        idle = self._raw.info.transaction_status == TransactionStatus.IDLE
        try:
            return self._raw.execute(query, params, binary=True)
        except psycopg.OperationalError:
            # The server closed this connection while it sat in the pool (a restart, a
            # network blip): nothing was in flight, so a new connection may say it again.
            if not (idle and self._raw.broken
                    and query.lstrip().upper().startswith(self.RETRYABLE)):
                raise
        self._raw.close()
        self._raw = self._dialect.open()
        return self._raw.execute(query, params, binary=True)

    def close(self) -> None:
        self._raw.close()


class PostgresDialect(Dialect):
    """psycopg 3: the advisory write lock, PostgreSQL's types, LISTEN/NOTIFY."""

    name = "postgresql"
    types = {"int": "BIGINT", "real": "DOUBLE PRECISION", "blob": "BYTEA", "serial": "BIGSERIAL"}

    def __init__(self, url: str):
        if psycopg is None:
            raise StoreError("INKLING_DATABASE_URL names PostgreSQL, which needs psycopg: "
                             "pip install -e '.[postgres]'")
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise StoreError(f"INKLING_DATABASE_URL is not a valid PostgreSQL URL: "
                             f"{error}") from None
        self.params = {**DEFAULTS, **given}
        self.params["options"] = f"{SESSION} {given.get('options', '')}".strip()
        self._listener = None  # the follower's LISTEN connection
        self._listening = native_lock()

    def __repr__(self) -> str:
        return f"PostgresDialect({self.where})"

    @property
    def where(self) -> str:
        """host:port/database, without the user or the password."""
        p = self.params
        return f"{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p.get('dbname', '')}"

    def open(self):
        """A new psycopg connection in autocommit mode."""
        return psycopg.connect(**self.params, autocommit=True)

    def connect(self) -> PostgresConnection:
        return PostgresConnection(self)

    def begin_write(self, connection) -> None:
        # READ COMMITTED: each statement sees what committed before it, so once the lock
        # is ours we see the previous holder's commit (REPEATABLE READ would not).
        connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        connection.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")

    def begin_teach(self, connection, keys: list[str]) -> None:
        # Only this writer's and this teach id's locks (two-int advisory keys, a space
        # apart from LOCK_KEY's), always in one order: teaches of different writers run
        # side by side; claim_shared takes LOCK_KEY if the teach may change the model.
        connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        for key in sorted(keys):
            connection.execute(f"SELECT pg_advisory_xact_lock({TEACH_LOCKS}, "
                               "hashtext(%s))", (key,))

    def claim_shared(self, connection) -> None:
        connection.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")

    def clock(self, connection) -> int:
        (micros,) = connection.execute("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) "
                                       "* 1000000)::bigint").fetchone()
        return int(micros)

    def begin_read(self, connection) -> None:
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def sql(self, query: str) -> str:
        return placeholders(query)

    def unavailable(self, error: BaseException) -> bool:
        # Connection failures, a server shutting down or starting, a lock or a statement
        # timeout, a full disk: all OperationalError in psycopg's hierarchy.
        return psycopg is not None and isinstance(error, psycopg.OperationalError)

    def table_exists(self, connection, name: str) -> bool:
        return connection.execute("SELECT to_regclass(%s) IS NOT NULL",
                                  (name,)).fetchone()[0]

    def tune_schema(self, connection) -> None:
        # A version's weights (1.7 MB for the CNN) are stored out of line uncompressed:
        # pglz found little to gain in float32 weights and took most of a teach's commit.
        (storage,) = connection.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'versions'::regclass "
            "AND attname = 'weights'").fetchone()
        if storage != "e":
            connection.execute("ALTER TABLE versions ALTER COLUMN weights SET STORAGE EXTERNAL")

    def notify(self, connection, version: int) -> None:
        connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(int(version))))

    def wait_for_change(self, timeout: float) -> None:
        """Wait for a NOTIFY on our channel, at most ``timeout`` seconds (the follower's
        native thread).  Never raises: without a server it waits out the timeout, and
        the follower's queries report the outage."""
        deadline = time.monotonic() + timeout
        with self._listening:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self.open()
                    self._listener.execute(f"LISTEN {CHANNEL}")
                    return  # listening from now on; what came before, the caller's query finds
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    pass
                for _ in self._listener.notifies(timeout=0):  # the rest of a burst: one wake
                    pass
                return
            except psycopg.Error:
                self._drop_listener()
        from webapp.blocking import native_sleep

        native_sleep(max(0.0, deadline - time.monotonic()))

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception:  # a broken connection may not close cleanly
                pass

    def close(self) -> None:
        """Close the LISTEN connection (the follower has stopped, or will see it closed)."""
        if self._listening.acquire(timeout=10):
            try:
                self._drop_listener()
            finally:
                self._listening.release()


class PostgresStore(SQLStore):
    """The store on a PostgreSQL server; the schema is created or upgraded on open."""

    def __init__(self, url: str, **options: Any):
        super().__init__(PostgresDialect(url), **options)
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.dialect.where!r}, keep={self.keep})"

    def close(self) -> None:
        super().close()
        self.dialect.close()
