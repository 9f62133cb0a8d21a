"""The two deployments the many-host benchmarks compare, one after the other: SQLite on
one gunicorn host, and PostgreSQL (a throwaway server of Debian's, fsync on) shared by
two hosts, each host with its own instance folder."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from support.postgres import PostgresCluster
from support.servers import Gunicorn

SETUPS = (("SQLite, 1 host", 1, False), ("PostgreSQL, 2 hosts", 2, True))
"""(name, hosts, on PostgreSQL)."""


def deployments(folder: str, workers: int, env: dict, timeout: float
                ) -> Iterator[tuple[str, list[Gunicorn]]]:
    """(name, ready hosts) of each set-up, started fresh under ``folder`` with ``env`` and
    stopped once the caller moves on; a watchdog kills its hosts after ``timeout`` s."""
    for name, count, postgres in SETUPS:
        cluster = PostgresCluster(durable=True).start() if postgres else None
        settings = dict(env)
        if cluster is not None:
            settings["INKLING_DATABASE_URL"] = cluster.create_database("bench")
        kind = "pg" if postgres else "sqlite"
        hosts = [Gunicorn(os.path.join(folder, f"{kind}-{i}"), workers=workers, **settings)
                 for i in range(count)]
        watchdog = threading.Timer(timeout, lambda hs=hosts: [h.kill9() for h in hs])
        watchdog.start()
        try:
            for host in hosts:
                host.wait_ready()
            yield name, hosts
        finally:
            watchdog.cancel()
            for host in hosts:
                host.stop()
            if cluster is not None:
                cluster.destroy()
