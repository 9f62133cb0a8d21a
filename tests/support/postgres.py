"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, our folder.

``PostgresCluster.start()`` runs ``initdb -A trust`` in a new temporary folder and
``pg_ctl start`` on 127.0.0.1 and a free port (no Unix socket), as the ``postgres`` user
through ``runuser`` when we are root (the server refuses to run as root), else as
ourselves; ``stop()`` / ``start()`` / ``restart()`` bounce the same cluster (the tests'
"the database restarts under load"), ``destroy()`` stops it and removes the folder.
``create_database()`` makes a fresh database and returns its URL: one per test, so
tests share one cluster (seconds of initdb saved) but never their data (advisory locks
and NOTIFY channels are per database too).

``durable=False`` (tests) turns fsync off: a test never crashes the machine, only
processes, and PostgreSQL keeps every commit of a killed client either way.  The
benchmarks keep the defaults (fsync on), as a deployment would.

``require()`` is how tests ask for it: without PostgreSQL or psycopg they skip with
the reason, and with ``INKLING_REQUIRE_POSTGRES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REQUIRE_ENV = "INKLING_REQUIRE_POSTGRES"


def binaries() -> Path | None:
    """The newest Debian PostgreSQL bin folder (/usr/lib/postgresql/N/bin), or None."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")
             if (Path(p) / "initdb").exists() and (Path(p) / "pg_ctl").exists()]

    def major(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(found, key=major) if found else None


def missing() -> str | None:
    """Why no throwaway PostgreSQL can run here, or None when it can."""
    if binaries() is None:
        return ("PostgreSQL is not installed (apt-get install postgresql: "
                "/usr/lib/postgresql/*/bin/initdb)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


def required() -> bool:
    """True when PostgreSQL tests must run (INKLING_REQUIRE_POSTGRES=1, as in CI)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "on", "true", "yes")


def require() -> None:
    """Skip the calling test without PostgreSQL, or fail it when it is required."""
    import pytest

    reason = missing()
    if reason is None:
        return
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS just gave out (and we released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """One initdb'd cluster in a temporary folder, served on 127.0.0.1:``port``."""

    def __init__(self, durable: bool = False):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError(missing())
        self.durable = durable
        self.folder: Path | None = None
        self.port: int | None = None
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresCluster(folder={self.folder}, port={self.port})"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # the server will not run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{self.log()}")
        return done

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def init(self) -> PostgresCluster:
        """initdb in a new folder owned by the user the server runs as."""
        self.folder = Path(tempfile.mkdtemp(prefix="inkling-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        settings = ["listen_addresses = '127.0.0.1'", "unix_socket_directories = ''",
                    "max_connections = 200", "shared_buffers = 32MB",
                    "log_min_messages = warning", "log_line_prefix = '%m [%p] '"]
        if not self.durable:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# inkling tests\n" + "\n".join(settings) + "\n")
        return self

    def start(self) -> PostgresCluster:
        """Start (or start again) the server; the port is kept across restarts."""
        if self.folder is None:
            self.init()
        for attempt in range(5):
            port = self.port or free_port()
            try:
                self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_path),
                          "-w", "-t", "60", "-o", f"-p {port}")
            except RuntimeError:
                if self.port is not None or attempt == 4:  # a restart must keep its port
                    raise
                continue  # someone took the free port meanwhile: another one
            self.port = port
            return self
        raise AssertionError("unreachable")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions, close every connection)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        command = [str(self.bin / "pg_ctl"), "status", "-D", str(self.data)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; return its URL."""
        import psycopg

        with self._lock:
            name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs and remove the folder."""
        if self.folder is None:
            return
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@contextmanager
def running_cluster(durable: bool = False) -> Iterator[PostgresCluster]:
    """A started throwaway server (skip or fail first, as ``require`` says), destroyed
    when the block ends."""
    require()
    cluster = PostgresCluster(durable)
    try:
        yield cluster.start()
    finally:
        cluster.destroy()
