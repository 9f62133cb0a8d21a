"""Shared fixtures for the web app's tests (helpers: ``tests/support``).

- ``make_app(**config)``: a new app on a fresh instance folder; closed at teardown.
- ``app`` / ``client``: one default app and its Flask test client.
- ``make_live_server(**config)``: ``create_app`` served by werkzeug in a thread on
  127.0.0.1 (OS-picked port); returns a ``LiveServer`` with ``url``, ``ws_url``, ``app``.
- ``live_server``: ``make_live_server()`` with the default config.
- ``ws_connect(url_or_server, headers=None)``: a connected ``WSClient``; closed at teardown.
- ``make_gunicorn(instance_path=None, workers=2, **INKLING_env)``: the real ``gunicorn``
  command started in the repository root (as in the README) with ``INKLING_BIND`` on
  port 0; returns a ready ``Gunicorn``; stopped (SIGKILL if need be) at teardown.
- ``postgres_cluster``: one throwaway PostgreSQL server for the session
  (``support.postgres``); tests that need one skip without PostgreSQL, or fail with
  ``INKLING_REQUIRE_POSTGRES=1``.  ``postgres_url``: a fresh database on it per test.

Every server binds 127.0.0.1 on a port the OS picks, and every socket, thread and
process a fixture starts is closed at teardown (pytest runs with -W error, so a leak
fails the test).  Import helpers from ``support.*``, not from ``conftest``: with
tests/browser/conftest.py collected too, the name ``conftest`` is ambiguous.
"""

from __future__ import annotations

import pytest
from support.postgres import running_cluster
from support.servers import Gunicorn, LiveServer, app_config
from support.wsclient import WAIT, WSClient

from webapp import create_app


@pytest.fixture
def make_app(tmp_path):
    """Return a factory of apps on fresh instance folders; every app is closed at teardown."""
    apps = []

    def factory(instance_path=None, **config):
        path = instance_path or tmp_path / f"instance{len(apps)}"
        app = create_app(app_config(path, **config))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["inkling"].close()


@pytest.fixture
def app(make_app):
    """An app with the default config on a fresh instance."""
    return make_app()


@pytest.fixture
def client(app):
    """The Flask test client of ``app``."""
    return app.test_client()


@pytest.fixture
def make_live_server(make_app):
    """Return a factory: ``make_live_server(**config)`` -> a running LiveServer."""
    servers = []

    def factory(app=None, **config):
        server = LiveServer(app if app is not None else make_app(**config))
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(make_live_server):
    """A live server with the default config."""
    return make_live_server()


@pytest.fixture
def ws_connect():
    """Return a factory of connected WSClients (``url`` is ws://...); closed at teardown."""
    clients = []

    def factory(url, headers=None, timeout: float = WAIT, recv_buffer: int | None = None):
        if hasattr(url, "ws_url"):
            url = url.ws_url
        ws = WSClient(url, headers=headers, timeout=timeout, recv_buffer=recv_buffer)
        clients.append(ws)
        return ws

    yield factory
    for ws in clients:
        ws.close()


@pytest.fixture
def make_gunicorn(tmp_path):
    """Return a factory: ``make_gunicorn(instance_path, workers=2, **INKLING_env)`` -> ready."""
    started = []

    def factory(instance_path=None, workers: int = 2, ready: bool = True, **env):
        path = instance_path or tmp_path / "instance"
        server = Gunicorn(path, workers=workers,
                          log_path=tmp_path / f"gunicorn{len(started)}.log", **env)
        started.append(server)
        return server.wait_ready() if ready else server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL server shared by the session; removed at its end."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster):
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres_cluster.create_database()
