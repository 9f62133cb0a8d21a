"""A small pool of one database's connections, shared by greenlets and native threads.

A connection is borrowed for one operation and given back only if it ended cleanly (an
open transaction is rolled back first); a broken one is closed.  Errors that mean the
database is away become ``Unavailable``, so callers say "try again later".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..blocking import native_lock
from . import StoreError, Unavailable
from .dialect import Dialect


class Connections:
    """Connections of one dialect: ``borrow`` one, or run a ``write`` or ``read``
    transaction on one."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self._idle: list = []
        self._lock = native_lock()  # taken by greenlets and native threads
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Any]:
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

    def write(self):
        """A transaction holding the database's write lock; commits unless it raises."""
        return self.transaction(self.dialect.begin_write)

    @contextmanager
    def transaction(self, begin) -> Iterator[Any]:
        """A write transaction begun by ``begin(connection)``; commits unless it raises."""
        with self.borrow() as connection:
            begin(connection)
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
    def read(self) -> Iterator[Any]:
        """One read transaction: every query in it sees the same committed state."""
        with self.borrow() as connection:
            self.dialect.begin_read(connection)
            try:
                yield connection
            finally:
                try:
                    connection.execute("COMMIT")
                except Exception:
                    pass

    def close(self) -> None:
        """Close the idle connections; borrowed ones close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            try:
                connection.close()
            except Exception:
                pass
