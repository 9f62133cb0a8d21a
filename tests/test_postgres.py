"""What only the PostgreSQL store has: its placeholders, the advisory write lock across
stores ("hosts"), LISTEN/NOTIFY, and outages: connections the server dropped are
replaced, an unreachable server is ``Unavailable`` at once, and the same store works
again when the server returns.

The outage tests stop and start a server of their own (this module's), never the
session's; the rest use a fresh database on the session's server.  The store-interface
tests run on PostgreSQL too, in test_store.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from support.postgres import running_cluster

from webapp.store import StoreError, TeachDecision, TeachRequest, Unavailable, open_store
from webapp.store.postgres import PostgresStore, placeholders
from webapp.store.schema import SCHEMA_VERSION

IMAGE = np.zeros((28, 28), np.uint8)


def request(label: int = 1) -> TeachRequest:
    return TeachRequest([[[0.0, 0.0], [1.0, 1.0]]], IMAGE, label)


def counter(txn) -> TeachDecision:
    """A teach step whose 'weights' count the versions: v -> b'v+1'."""
    count = int(txn.weights().decode())
    return TeachDecision("accepted", 1, 1, heldout=0.9, weights=str(count + 1).encode())


def seeded(url: str, **options) -> PostgresStore:
    store = PostgresStore(url, **options)
    store.seed(b"1", {}, 0.9, None)
    return store


@pytest.fixture(scope="module")
def own_cluster():
    """A server this module may stop and start."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def outage(own_cluster):
    """(cluster, URL of a fresh database on it); the server runs again at teardown."""
    yield own_cluster, own_cluster.create_database("outage")
    if not own_cluster.running():
        own_cluster.start()


def terminate_others(url: str) -> int:
    """Terminate every other connection to the database (as an admin or a restart would)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        return admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> "
                             "pg_backend_pid()").fetchone()[0]


# -- without PostgreSQL: skip, or fail when it is required ---------------------------------
@pytest.mark.parametrize("required,outcome", [("", pytest.skip.Exception),
                                              ("1", pytest.fail.Exception)])
def test_without_postgresql_tests_skip_unless_it_is_required(required, outcome, monkeypatch):
    import support.postgres

    monkeypatch.setattr(support.postgres, "binaries", lambda: None)
    monkeypatch.setenv("INKLING_REQUIRE_POSTGRES", required)
    with pytest.raises(outcome, match="PostgreSQL is not installed"):
        support.postgres.require()


# -- placeholders and opening -----------------------------------------------------------
@pytest.mark.parametrize("query,expected", [
    ("SELECT ? + ?", "SELECT %s + %s"),
    ("SELECT '?' || ?", "SELECT '?' || %s"),
    ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
    ("SELECT 5 % ?", "SELECT 5 %% %s"),
    ("SELECT 1", "SELECT 1"),
])
def test_placeholders(query, expected):
    assert placeholders(query) == expected


def test_open_store_picks_postgres_for_a_postgresql_url(postgres_url, tmp_path):
    config = {"KEEP_DRAWINGS": 10, "MAX_WRITERS": 5, "DATABASE_URL": postgres_url,
              "MAX_DATABASE_MB": 1}
    with open_store(config, str(tmp_path)) as store:
        assert isinstance(store, PostgresStore)
        assert (store.keep_drawings, store.max_writers) == (10, 5)
        assert store.migrated == (0, SCHEMA_VERSION)
        assert "password" not in repr(store) and "postgres@" not in repr(store)
    assert list(tmp_path.iterdir()) == []  # nothing in the instance folder
    with pytest.raises(ValueError, match="postgresql://"):
        open_store({**config, "DATABASE_URL": "mysql://localhost/x"}, str(tmp_path))


def test_weights_are_stored_out_of_line_uncompressed(postgres_url):
    # compressing float32 weights took most of a teach's INSERT for nothing
    with PostgresStore(postgres_url) as store, store.connections.borrow() as connection:
        (storage,) = connection.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'versions'::regclass "
            "AND attname = 'weights'").fetchone()
    assert storage == "e"  # EXTERNAL


def test_a_bad_or_unreachable_url_fails_in_one_clear_error(postgres_cluster):
    with pytest.raises(StoreError, match="not a valid PostgreSQL URL.*bogus"):
        PostgresStore("postgresql://127.0.0.1/x?bogus=1")
    with pytest.raises(Unavailable, match="notaport"):
        PostgresStore("postgresql://127.0.0.1:notaport/x")
    started = time.monotonic()
    with pytest.raises(Unavailable, match="cannot be reached"):
        PostgresStore(postgres_cluster.url("no_such_database"))
    assert time.monotonic() - started < 5


# -- one writer at a time, everywhere ---------------------------------------------------------
def test_the_advisory_lock_serialises_teaches_of_two_stores(postgres_url):
    """Host B's teach waits for host A's to commit, then learns from A's version."""
    with seeded(postgres_url) as a, PostgresStore(postgres_url) as b:
        inside, release = threading.Event(), threading.Event()
        results = {}

        def slow(txn):
            inside.set()
            assert release.wait(30)
            return counter(txn)

        first = threading.Thread(target=lambda: results.update(a=a.teach(request(), slow)))
        first.start()
        assert inside.wait(30)
        second = threading.Thread(target=lambda: results.update(b=b.teach(request(), counter)))
        second.start()
        # B cannot get past the lock while A holds it (A's transaction stays open)
        second.join(0.5)
        assert second.is_alive() and "b" not in results
        release.set()
        first.join(30)
        second.join(30)
        assert (results["a"].base_version, results["a"].version) == (1, 2)
        assert (results["b"].base_version, results["b"].version) == (2, 3)
        assert b.load_version().weights == b"3"


def test_a_failed_teach_frees_the_lock_and_stores_nothing(postgres_url):
    with seeded(postgres_url) as a, PostgresStore(postgres_url) as b:
        def broken(txn):
            raise RuntimeError("learning failed")

        with pytest.raises(RuntimeError):
            a.teach(request(), broken)
        assert b.teach(request(), counter).version == 2  # did not wait for any lock
        assert a.counts()["accepted"] == 1


def personal(writer: str, label: int = 1) -> TeachRequest:
    return TeachRequest([[[0.0, 0.0], [1.0, 1.0]]], IMAGE, label, writer)


def test_teaches_of_different_writers_take_no_lock_on_everyones_model(postgres_url):
    """Host A's teach of writer one stays open; host B's teach of writer two (one that
    only changes its writer's model) commits meanwhile, and so does a third host's
    teach of writer one once A's commits."""
    with seeded(postgres_url) as a, PostgresStore(postgres_url) as b:
        with a.teaching(personal("writer-one")) as open_txn:
            open_txn.record(TeachDecision("pending", 3, 3, "waits"))
            # A holds its writer's lock (and none on everyone's model) until it commits
            with b.teaching(personal("writer-two")) as txn:
                record = txn.record(TeachDecision("pending", 4, 4, "waits"))
            assert record.writer.samples == 1
            assert b.writer_state("writer-two").samples == 1
            assert b.writer_state("writer-one") is None  # A has not committed yet
        assert b.writer_state("writer-one").samples == 1


def test_a_teach_that_claims_everyones_model_after_a_new_version_runs_again(postgres_url):
    from webapp.store import BaseMoved

    with seeded(postgres_url) as a, PostgresStore(postgres_url) as b:
        with pytest.raises(BaseMoved), a.teaching(personal("writer-one")) as txn:
            assert txn.base.version == 1
            assert b.teach(request(), counter).version == 2  # another host's version
            txn.claim_shared()  # now version 2 is the newest: this teach read 1
        assert a.writer_state("writer-one") is None  # rolled back: nothing was stored
        with a.teaching(personal("writer-one"), exclusive=True) as txn:
            assert txn.base.version == 2
            record = txn.record(counter(txn))
        assert (record.base_version, record.version) == (2, 3)


def test_an_accepted_teach_must_have_claimed_everyones_model(postgres_url):
    with seeded(postgres_url) as a:
        with pytest.raises(StoreError, match="claim"), a.teaching(personal("w")) as txn:
            txn.record(counter(txn))
        assert a.latest_version() == 1


# -- LISTEN/NOTIFY ----------------------------------------------------------------------------
def test_a_commit_wakes_another_stores_follower_at_once(postgres_url):
    with seeded(postgres_url) as host_a, PostgresStore(postgres_url) as host_b:
        host_b.wait_for_change(0.01)  # the first call starts listening
        started = time.monotonic()
        host_b.wait_for_change(0.3)  # nothing happens: the whole timeout
        assert 0.25 <= time.monotonic() - started < 2
        timer = threading.Timer(0.2, lambda: host_a.teach(request(), counter))
        timer.start()
        started = time.monotonic()
        host_b.wait_for_change(20)
        woke = time.monotonic() - started
        timer.join()
        assert woke < 5  # the notification, not the timeout (20 s)
        assert host_b.latest_version() == 2


def test_a_rolled_back_teach_notifies_no_one(postgres_url):
    with seeded(postgres_url) as host_a, PostgresStore(postgres_url) as host_b:
        host_b.wait_for_change(0.01)

        def notify_then_fail(txn):
            host_a.dialect.notify(txn._connection, 99)
            raise RuntimeError("the guard crashed")

        with pytest.raises(RuntimeError):
            host_a.teach(request(), notify_then_fail)
        started = time.monotonic()
        host_b.wait_for_change(0.5)
        assert time.monotonic() - started >= 0.45  # nothing was delivered


# -- outages ----------------------------------------------------------------------------------
def test_connections_the_server_dropped_are_replaced_without_an_error(outage):
    _, url = outage
    with seeded(url) as store:
        for _ in range(3):  # a few pooled, idle connections
            store.teach(request(), counter)
        assert terminate_others(url) >= 1
        # the next operations meet dead pooled connections and replace them quietly
        assert store.latest_version() == 4
        assert store.teach(request(), counter).version == 5
        store.ping()


def test_a_connection_lost_mid_teach_fails_that_teach_only(outage):
    _, url = outage
    with seeded(url) as store:
        def cut(txn):
            terminate_others(url)  # our own transaction's connection too
            return counter(txn)

        with pytest.raises(Unavailable):
            store.teach(request(), cut)
        assert store.latest_version() == 1 and store.counts()["accepted"] == 0
        assert store.teach(request(), counter).version == 2  # the broken one was dropped


def test_the_server_down_and_back(outage):
    cluster, url = outage
    with seeded(url) as store:
        store.teach(request(), counter)
        store.wait_for_change(0.01)  # listening
        cluster.stop()
        with pytest.raises(Unavailable):
            store.ping()
        with pytest.raises(Unavailable):
            store.teach(request(), counter)
        started = time.monotonic()
        with pytest.raises(Unavailable):
            store.latest_version()
        assert time.monotonic() - started < 2  # refused at once, no waiting on a timeout
        # the follower's wait neither raises nor spins: it waits out its timeout
        started = time.monotonic()
        store.wait_for_change(0.3)
        assert time.monotonic() - started >= 0.25
        cluster.start()
        # the same store works again, its first operations included
        store.ping()
        assert store.teach(request(), counter).version == 3
        with PostgresStore(url) as other:  # and it listens again
            store.wait_for_change(0.01)
            other.teach(request(), counter)
            started = time.monotonic()
            store.wait_for_change(20)
            assert time.monotonic() - started < 5
        assert store.latest_version() == 4
