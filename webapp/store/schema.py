"""The tables both databases share, and bringing any older database up to them.

Schema version 3 (``migrate`` brings versions 1 and 2 up to it, in one transaction):

- ``versions``: one row per model version: ``weights`` (``Sequential.to_bytes()``),
  held-out accuracy, the guard's figures (``checks``), the parent; pruned to ``keep``.
- ``drawings``: one row per teach: the 784 pixels the network saw, the label, what the
  shared model said before (``predicted``) and what the writer was shown (``seen``),
  the writer and the source (address prefix), the shared ``status`` and its reason,
  and the strokes (thinned; kept only for drawings the shared model learned or may).
- ``writers``: one row per writer: when seen first and last, and ``revision``, which
  changes with their drawings, so other workers know to reload their memory.
- ``teaches``: the answer of each teach sent with an id, so a resend is not redone.
- ``budgets``: token buckets of shared influence per writer, address, prefix and token.
- ``meta``: the schema version, counters and the guard's reference figures.
"""

from __future__ import annotations

from . import StoreError
from .dialect import Dialect

SCHEMA_VERSION = 3

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


def _q(dialect: Dialect, connection, query: str, args=()):
    return connection.execute(dialect.sql(query), tuple(args))


def schema_version(dialect: Dialect, connection) -> int:
    """0 for an empty database, 1 for the first layout (no schema key), else the key."""
    if not dialect.table_exists(connection, "versions"):
        return 0
    if not dialect.table_exists(connection, "meta"):
        return 1
    row = _q(dialect, connection, "SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return int(row[0]) if row else 1


def migrate(dialect: Dialect, connection) -> int:
    """Create or upgrade the schema to SCHEMA_VERSION inside the open write transaction;
    return the version the database had before."""
    before = schema_version(dialect, connection)
    if before > SCHEMA_VERSION:
        raise StoreError(f"the database has schema {before}, newer than this "
                         f"Inkling ({SCHEMA_VERSION}); upgrade Inkling")
    if before == 1:
        dialect.upgrade_from_1(connection)
    for statement in SCHEMA.format(**dialect.types).split(";"):
        if statement.strip():
            connection.execute(statement)
    if before == 1:
        dialect.finish_upgrade_from_1(connection)
    dialect.tune_schema(connection)
    for key, value in (("schema", str(SCHEMA_VERSION)), ("accepted", "0")):
        _q(dialect, connection, "INSERT INTO meta (key, value) VALUES (?, ?) "
           "ON CONFLICT (key) DO NOTHING", (key, value))
    _q(dialect, connection, "UPDATE meta SET value = ? WHERE key = 'schema'",
       (str(SCHEMA_VERSION),))
    return before
