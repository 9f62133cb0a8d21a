"""Many hosts, one Inkling: two gunicorn hosts (two workers each, separate instance
folders) on one PostgreSQL server, and nothing else shared.

- N acknowledged teaches across both hosts and their workers make exactly N versions
  and N drawings, each learned from the one before;
- a socket on host B hears ``model`` within a second of a teach acknowledged on host A,
  and every socket of both hosts hears an operator's ``inkling rollback``; ``inkling
  export`` gives what both hosts' /api/samples.npz give;
- PostgreSQL restarted under load: predictions go on from memory, a teach meanwhile gets
  ``unavailable`` and /healthz 503, and when the server is back teaches work again
  (and /healthz is 200) without restarting anything;
- kill -9 of a host during a teach storm loses nothing acknowledged, and the other
  host goes on teaching (the dead host's lock went with its connections).

The hosts start together on an empty database (so they race to create the schema and
seed it) and serve the whole module; the tests run in order, the kill last.  Every
teach is learned: no rate limits, agreement from one source, and the guard's limits
far away (these tests count versions, not quality).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from urllib.error import HTTPError

import numpy as np
import pytest
from support.drawings import draw_digit
from support.postgres import PostgresCluster, require
from support.servers import ROOT, Gunicorn
from support.servers import http_get as get
from support.together import at_once
from support.wsclient import Closed, WSClient

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

LEARN_EVERYTHING = {
    "INKLING_RATE_LIMITS": "off", "INKLING_AGREE_SOURCES": "1",
    "INKLING_GUARD_DROP": "100", "INKLING_GUARD_STEP": "100", "INKLING_GUARD_CLASS_DROP": "100",
    "INKLING_GUARD_UNSURE_DROP": "100", "INKLING_GUARD_ECE_RISE": "100"}
FANOUT = 1.0
"""Seconds within which every socket of every host hears of a new version."""


class Site:
    """The PostgreSQL server and the two hosts on it (host A may be replaced)."""

    def __init__(self, cluster: PostgresCluster, url: str, folder):
        self.cluster = cluster
        self.url = url
        self.folder = folder
        self.hosts: list[Gunicorn] = []
        self.started = 0

    def start_host(self, name: str) -> Gunicorn:
        self.started += 1
        host = Gunicorn(self.folder / f"instance-{name}", workers=2,
                        log_path=self.folder / f"gunicorn-{name}-{self.started}.log",
                        INKLING_DATABASE_URL=self.url, **LEARN_EVERYTHING)
        return host

    def store(self):
        from webapp.store.postgres import PostgresStore

        return PostgresStore(self.url)

    def inkling(self, *args: str) -> subprocess.CompletedProcess:
        """The operator's command, as a shell on any machine with the URL runs it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKLING_")}
        env.update(INKLING_DATABASE_URL=self.url, PYTHONPATH=str(ROOT),
                   OPENBLAS_NUM_THREADS="1")
        return subprocess.run([sys.executable, "-m", "webapp.cli", *args], cwd=self.folder,
                              capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require()
    cluster = PostgresCluster()
    hosts = []
    try:
        cluster.start()
        folder = tmp_path_factory.mktemp("hosts")
        site = Site(cluster, cluster.create_database("hosts"), folder)
        hosts = site.hosts
        hosts += [site.start_host("a"), site.start_host("b")]  # at once: they race to seed
        for host in hosts:
            host.wait_ready()
        yield site
    finally:
        for host in hosts:
            host.stop()
        cluster.destroy()


@pytest.fixture
def connect():
    """connect(host) -> a WSClient past its hello; every one is closed at teardown."""
    clients = []

    def factory(host) -> WSClient:
        ws = WSClient(host.ws_url)
        clients.append(ws)
        assert ws.recv()["type"] == "hello"
        return ws

    yield factory
    for ws in clients:
        ws.close()


def teach(ws: WSClient, digit: int, seq: int, timeout: float = 120) -> dict:
    """Draw ``digit``, teach it; return the teach's reply (``taught`` or ``error``)."""
    ws.send_json({"type": "ink", "strokes": draw_digit(digit), "seq": seq})
    ws.send_json({"type": "teach", "label": digit, "seq": seq + 1})
    reply, _ = ws.recv_until(lambda m: m.get("seq") == seq + 1
                             and m["type"] in ("taught", "error"), timeout)
    return reply


def hears(ws: WSClient, version: int, deadline: float) -> dict:
    """The ``model`` message announcing ``version`` (or newer), before ``deadline``."""
    def news(message):
        return message["type"] == "model" and message["model_version"] >= version

    return ws.recv_until(news, max(0.001, deadline - time.monotonic()))[0]


def drawings_since(site: Site, version: int) -> list[dict]:
    """Drawings that made versions after ``version``, from the database itself."""
    with site.store() as store:
        return [d for d in store.drawings() if d["base_version"] >= version]


def test_hosts_started_together_share_one_seed(site):
    with site.store() as store:
        assert [v["version"] for v in store.versions()][-1] == 1
        assert store.version_info(1).parent is None
    for host in site.hosts:
        assert get(host.url + "/api/model")["version"] >= 1
    assert not any((host.instance_path / "inkling.sqlite3").exists() for host in site.hosts)


def test_n_teaches_across_hosts_and_workers_make_exactly_n_versions(site, connect):
    with site.store() as store:
        start = store.latest_version()
    teachers = [connect(host) for host in site.hosts for _ in range(4)]  # both workers
    per_teacher = 3
    replies: list[dict] = []

    def run(i, ws):
        for k in range(per_teacher):
            replies.append(teach(ws, (i + k) % 10, 2 * k + 1))

    failures = at_once(run, teachers)
    assert not failures, failures
    n = len(teachers) * per_teacher
    assert [r["type"] for r in replies] == ["taught"] * n, replies
    made = sorted(r["model_version"] for r in replies)
    assert made == list(range(start + 1, start + n + 1))  # one version each, no gaps

    drawings = drawings_since(site, start)
    assert len(drawings) == n and {d["status"] for d in drawings} == {"accepted"}
    assert sorted(d["version"] for d in drawings) == made
    assert all(d["base_version"] == d["version"] - 1 for d in drawings)  # serialised
    with site.store() as store:
        assert store.latest_version() == start + n
        newest = {v["version"]: v for v in store.versions()}
        assert all(newest[v]["parent"] == v - 1 for v in newest if v > 1)


def test_a_socket_on_host_b_hears_a_teach_on_host_a_within_a_second(site, connect):
    a, b = site.hosts
    listeners = [connect(b) for _ in range(4)] + [connect(a)]
    teacher = connect(a)
    for k in range(3):
        reply = teach(teacher, 4 + k, 2 * k + 1)
        acknowledged = time.monotonic()
        assert reply["type"] == "taught", reply
        for ws in listeners:
            news = hears(ws, reply["model_version"], acknowledged + FANOUT)
            assert news["model_version"] == reply["model_version"]


def test_an_operator_rollback_reaches_every_socket_and_export_matches_both_hosts(
        site, connect, tmp_path):
    listeners = [connect(host) for host in site.hosts for _ in range(3)]
    with site.store() as store:
        newest = store.latest_version()
    done = site.inkling("rollback", str(newest - 2))
    committed = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"version {newest + 1} now has the weights of version "
                                  f"{newest - 2}")
    for ws in listeners:
        assert hears(ws, newest + 1, committed + FANOUT)["model_version"] == newest + 1
    for host in site.hosts:
        assert get(host.url + "/api/model")["parent"] == newest

    versions = site.inkling("versions")
    assert versions.returncode == 0
    assert f"rollback to {newest - 2}" in versions.stdout.splitlines()[1]
    out = tmp_path / "taught.npz"
    assert site.inkling("export", "--out", str(out)).returncode == 0
    with np.load(out) as exported:
        for host in site.hosts:
            with np.load(io.BytesIO(get(host.url + "/api/samples.npz"))) as served:
                assert served["labels"].tolist() == exported["labels"].tolist()
                np.testing.assert_array_equal(served["images"], exported["images"])
        assert len(exported["labels"]) == len(drawings_since(site, 1))


class Drawer(threading.Thread):
    """A person drawing on one host: a stroke, its prediction, again, until stopped."""

    def __init__(self, host):
        super().__init__(daemon=True)
        self.ws = WSClient(host.ws_url)
        assert self.ws.recv()["type"] == "hello"
        self.answered: list[float] = []  # when each prediction arrived
        self.problems: list = []
        self.stopping = threading.Event()

    def run(self):
        seq = 0
        try:
            while not self.stopping.is_set():
                seq += 1
                x = 10.0 * (seq % 20)
                kind = "clear" if seq % 20 == 0 else "stroke"
                self.ws.send_json({"type": kind, "points": [[x, x / 2]], "seq": seq}
                                  if kind == "stroke" else {"type": kind, "seq": seq})
                reply, _ = self.ws.recv_until(lambda m, s=seq: m.get("seq") == s, 30)
                if reply["type"] == "prediction":
                    self.answered.append(time.monotonic())
                else:
                    self.problems.append(reply)
        except BaseException as error:
            self.problems.append(error)

    def answered_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.answered)

    def stop(self):
        self.stopping.set()
        self.join(60)
        self.ws.close()


def health(host) -> tuple[int, dict]:
    """(status, body) of GET /healthz."""
    try:
        return 200, get(host.url + "/healthz")
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_postgres_restarted_under_load(site, connect):
    a, b = site.hosts
    assert all(health(host)[0] == 200 for host in site.hosts)
    drawers = [Drawer(host) for host in site.hosts]
    for drawer in drawers:
        drawer.start()
    teachers = {host.port: connect(host) for host in site.hosts}
    try:
        site.cluster.stop()
        down = time.monotonic()
        for i, host in enumerate(site.hosts):
            try:
                reply = teach(teachers[host.port], 3, 11 + 2 * i, timeout=60)
            except TimeoutError:
                raise AssertionError(f"no answer to a teach with the database down; "
                                     f"the host's log:\n{host.log()[-6000:]}") from None
            assert reply["type"] == "error" and reply["code"] == "unavailable", reply
            assert "try again" in reply["message"]
        for host in site.hosts:  # every worker's follower noticed
            host.wait_for_log("cannot follow the store", count=host.workers, timeout=30)
            statuses = [health(host)[0]]  # /healthz says so, on every worker: 5 in a row
            while statuses[-5:] != [503] * 5:
                assert time.monotonic() - down < 30, statuses
                statuses.append(health(host)[0])
        # predictions went on from memory all along
        while min(d.answered_between(down, time.monotonic()) for d in drawers) < 20:
            assert time.monotonic() - down < 60, "predictions stalled while the database was down"
            assert not any(d.problems for d in drawers), [d.problems for d in drawers]
            drawers[0].join(0.05)  # let them draw

        listener = connect(b)
        site.cluster.start()
        back = time.monotonic()
        # Recovered by itself, restarting nothing: the very first teach on each host
        # works (dead pooled connections are replaced), and host B's follower listens
        # again (it hears host A's teach within the second).
        reply = teach(teachers[a.port], 5, 21)
        assert reply["type"] == "taught", reply
        assert hears(listener, reply["model_version"], time.monotonic() + FANOUT)
        assert teach(teachers[b.port], 6, 23)["type"] == "taught"
        for host in site.hosts:  # and /healthz is 200 again, on every worker
            statuses = [health(host)[0]]
            while statuses[-5:] != [200] * 5:
                assert time.monotonic() - back < 30, statuses
                statuses.append(health(host)[0])
        while min(d.answered_between(back, time.monotonic()) for d in drawers) < 5:
            assert time.monotonic() - back < 60 and not any(d.problems for d in drawers)
            drawers[0].join(0.05)
    finally:
        for drawer in drawers:
            drawer.stop()
        if not site.cluster.running():  # the next test needs the server, whatever failed
            site.cluster.start()
    assert not any(d.problems for d in drawers), [d.problems for d in drawers]


def test_kill_9_of_a_host_during_a_teach_storm_loses_nothing_acknowledged(site):
    a, b = site.hosts
    with site.store() as store:
        start = store.latest_version()
    acknowledged: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}  # (version, label)
    stop = threading.Event()
    unexpected: list = []

    def storm(name, host, i):
        ws = None
        try:
            ws = WSClient(host.ws_url)
            ws.recv()
            for k in range(1000):
                if stop.is_set():
                    return
                digit = (i + k) % 10
                reply = teach(ws, digit, 2 * k + 1)
                if reply["type"] != "taught":
                    unexpected.append(reply)
                    return
                acknowledged[name].append((reply["model_version"], digit))
        except (Closed, OSError, TimeoutError, ValueError) as error:
            if name == "b":  # only host A's connections may break
                unexpected.append(error)
        finally:
            if ws is not None:
                ws.close()

    threads = [threading.Thread(target=storm, args=(name, host, i), daemon=True)
               for name, host in (("a", a), ("b", b)) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged["a"]) < 4 or len(acknowledged["b"]) < 4:
        assert time.monotonic() < deadline and not unexpected, unexpected
        threads[0].join(0.02)
    a.kill9()  # master and workers at once, mid-storm
    after_kill = len(acknowledged["b"])
    while len(acknowledged["b"]) < after_kill + 6:  # host B goes on: no lock left behind
        assert time.monotonic() < deadline and not unexpected, unexpected
        threads[-1].join(0.02)
    stop.set()
    for thread in threads:
        thread.join(120)
    assert not unexpected, unexpected

    drawings = {d["version"]: d for d in drawings_since(site, start)}
    with site.store() as store:
        latest = store.latest_version()
    # nothing acknowledged is missing, and every version has exactly its one drawing
    for version, label in acknowledged["a"] + acknowledged["b"]:
        assert version in drawings and drawings[version]["label"] == label
    assert sorted(drawings) == list(range(start + 1, latest + 1))
    assert all(d["status"] == "accepted" and d["base_version"] == v - 1
               for v, d in drawings.items())

    # the killed host starts again on its own instance folder and is up to date
    replacement = site.start_host("a")
    site.hosts[0] = replacement
    replacement.wait_ready()
    assert get(replacement.url + "/api/model")["version"] == latest
