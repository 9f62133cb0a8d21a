"""The follower: one native thread per worker that makes other workers' changes live here.

It waits for a change (``Store.wait_for_change``: PostgreSQL NOTIFY, or the SQLite
file's data version, at most ``interval`` seconds), then adopts a newer shared version
(``ModelHub.sync``, which tells every open page), reloads the writers whose drawings
changed elsewhere, tidies the store when teaching has paused, and retries a write when
teaches could not be saved.  A store that cannot be read is logged once per change of
state and shown by ``/healthz``; following goes on at the next tick.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .blocking import native_event, start_native_thread

if TYPE_CHECKING:
    from .hub import ModelHub

log = logging.getLogger(__name__)

LOOK_BACK = 5_000_000
"""Microseconds of writers' revisions looked at again each time: different writers'
teaches commit in any order, and a revision is taken a moment before its commit."""


class Follower:
    """Follows the store for one hub (see the module doc)."""

    def __init__(self, hub: ModelHub, interval: float):
        if interval <= 0:
            raise ValueError(f"follow_interval must be > 0, got {interval}")
        self.hub = hub
        self.interval = float(interval)
        self.error: str | None = None  # why the store cannot be read, if so
        self.lag = 0  # versions the live model was behind the store at the last look
        self._writer_revision = 0  # the newest writer change seen
        self._stopping = False
        self._stopped = native_event()
        self._started = False

    def __repr__(self) -> str:
        return f"Follower(lag={self.lag}, error={self.error!r})"

    def start(self) -> None:
        if not self._started:
            self._started = True
            start_native_thread(self._follow, "inkling-follower")

    def _follow(self) -> None:
        try:
            while not self._stopping:
                self.follow_once()
        finally:
            self._stopped.set()

    def follow_once(self) -> None:
        """Wait for a change (at most ``interval``), then catch up with it."""
        hub, store = self.hub, self.hub.store
        try:
            store.wait_for_change(self.interval)
            if self._stopping:
                return
            hub.sync()
            latest = hub.latest_seen
            self.lag = 0 if latest is None else max(0, latest - hub.version)
            hub.teacher.tidy_when_idle()
            if hub.write_error and store.has_room():
                hub.probe_write()
            newest, changed = store.changed_writers(self._writer_revision)
            hub.memories.reload(changed)
            self._writer_revision = max(self._writer_revision, newest - LOOK_BACK)
            error = None
        except Exception as exc:  # the store is briefly unreadable: try again next tick
            error = f"{type(exc).__name__}: {exc}"
        if error != self.error:  # say it once per change of state
            if error:
                log.error("cannot follow the store: %s", error)
            else:
                log.info("following the store again")
            self.error = error

    def stop(self) -> None:
        """Stop following; return once the thread has (or after a bounded wait)."""
        self._stopping = True
        if self._started:
            self._stopped.wait(timeout=10 * self.interval + 10)
