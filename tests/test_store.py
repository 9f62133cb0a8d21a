"""The store: round trips, pruning, writers, budgets, cross-process teaches, crashes,
replay cost.

Every backend-neutral test runs twice, on SQLite and on PostgreSQL (a fresh database
on the session's throwaway server; skipped without PostgreSQL unless
INKLING_REQUIRE_POSTGRES=1).  What only one backend has (SQLite's pragmas, file cap and
query plans) is tested on it alone; PostgreSQL's outages, reconnects, LISTEN/NOTIFY and
advisory lock are in test_postgres."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from webapp.store import (
    Budget,
    StoreError,
    TeachDecision,
    TeachRequest,
    TeachTransaction,
    Unavailable,
)
from webapp.store.schema import SCHEMA_VERSION
from webapp.store.sqlite import SQLiteStore
from webapp.store.teaching import SQLTeaching

BACKENDS = ["sqlite", "postgres"]

STROKES = [[[0.0, 0.0], [10.0, 20.0]], [[5.0, 5.0]]]


def image(value: int = 0) -> np.ndarray:
    """A uint8 (28, 28) image whose first pixel tells images apart."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[0, 0] = value % 256
    pixels[14, 10:18] = 255
    return pixels


def request(i: int = 0, label: int = 1, writer: str | None = None,
            source: str | None = None) -> TeachRequest:
    return TeachRequest(STROKES, image(i), label, writer, None, source)


def counter_learn(predicted: int = 0, heldout: float = 0.9, accept: bool = True,
                  status: str = "refused"):
    """A teach step whose 'weights' count the versions: v -> b'v+1'."""

    def learn(txn: TeachTransaction) -> TeachDecision:
        if not accept:
            return TeachDecision(status, predicted, predicted, "set aside for the test")
        count = int(txn.weights().decode())
        return TeachDecision("accepted", predicted, predicted, heldout=heldout,
                             checks={"n": count + 1}, weights=str(count + 1).encode(),
                             metadata={"n": count + 1})

    return learn


def teach(store, i: int = 0, label: int = 1, **options):
    """One teach of image(i) as label; options go to counter_learn (and writer, source)."""
    who = {k: options.pop(k) for k in ("writer", "source") if k in options}
    return store.teach(request(i, label, **who), counter_learn(**options))


def open_at(where: str, **options):
    """The store at ``where``: a postgresql:// URL or an SQLite file's path."""
    if where.startswith("postgresql://"):
        from webapp.store.postgres import PostgresStore

        return PostgresStore(where, **options)
    return SQLiteStore(where, **options)


@pytest.fixture(params=BACKENDS)
def where(request, tmp_path):
    """A new empty database of each backend: an SQLite path or a PostgreSQL URL."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "inkling.sqlite3")


@pytest.fixture
def store(where):
    with open_at(where) as opened:
        opened.seed(b"1", {"origin": "test"}, 0.95, {"n": 1})
        yield opened


@pytest.fixture
def sqlite_store(tmp_path):
    with SQLiteStore(tmp_path / "inkling.sqlite3") as opened:
        opened.seed(b"1", {"origin": "test"}, 0.95, {"n": 1})
        yield opened


def test_seed_round_trip(where):
    with open_at(where) as store:
        assert store.migrated == (0, SCHEMA_VERSION)
        assert store.latest_version() is None
        with pytest.raises(StoreError, match="no model version"):
            store.load_version()
        info, seeded = store.seed(b"weights-one", {"a": [1, 2]}, 0.975, {"ref": 1})
        assert seeded and info.version == 1 and info.parent is None and info.checks == {"ref": 1}
        again, seeded_again = store.seed(b"other", {}, 0.5, None)
        assert not seeded_again and again.version == 1
        record = store.load_version()
        assert record.weights == b"weights-one"
        assert record.metadata == {"a": [1, 2]} and record.heldout == 0.975
        assert store.latest_version() == 1
        assert store.sample_count() == 0 and store.taught_accuracy() is None
        images, labels = store.export_samples()
        assert images.shape == (0, 28, 28) and images.dtype == np.uint8 and labels.shape == (0,)
    with open_at(where) as again:  # opening again finds the schema current
        assert again.migrated == (SCHEMA_VERSION, SCHEMA_VERSION)
        assert again.load_version().weights == b"weights-one"


def test_sqlite_pragmas(tmp_path):
    with SQLiteStore.in_folder(tmp_path / "instance"):
        pass
    connection = sqlite3.connect(tmp_path / "instance" / "inkling.sqlite3")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


def test_large_columns_come_last(sqlite_store):
    store = sqlite_store
    # SQLite reads a row's columns in order: a small column stored after a large blob
    # is reached only by walking the blob's overflow pages (best_heldout took 7 ms).
    with store.connections.borrow() as connection:
        for table, last in (("versions", "weights"), ("drawings", "strokes")):
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            assert columns[-1] == last


def test_teach_round_trip(store):
    record = teach(store, 7, 3, predicted=5, heldout=0.93)
    assert record.accepted and record.version == 2 and record.base_version == 1
    assert (record.label, record.predicted, record.heldout) == (3, 5, 0.93)
    assert record.samples == 1 and record.taught == 0.0 and record.checks == {"n": 2}
    assert record.writer is None
    loaded = store.load_version(2)
    assert loaded.weights == b"2" and loaded.parent == 1 and loaded.metadata == {"n": 2}
    (drawing,) = store.drawings()
    assert drawing["strokes"] == STROKES and drawing["label"] == 3
    assert drawing["version"] == 2 and drawing["base_version"] == 1
    assert drawing["status"] == "accepted"
    images, labels = store.export_samples()
    np.testing.assert_array_equal(images[0], image(7))
    assert labels.tolist() == [3]


@pytest.mark.parametrize("status", ["refused", "pending"])
def test_a_teach_not_learned_keeps_the_version(store, status):
    teach(store, 1, 4, predicted=4)
    record = teach(store, 2, 9, predicted=1, accept=False, status=status)
    assert record.status == status and not record.accepted
    assert record.version == 2 and record.heldout == 0.9
    assert record.reason == "set aside for the test"
    assert store.latest_version() == 2
    assert store.sample_count() == 1 and store.counts()[status] == 1
    assert store.export_samples()[1].tolist() == [4]
    kept = store.drawings(status=status)
    assert [d["label"] for d in kept] == [9] and kept[0]["version"] is None
    # refused drawings keep only their pixels: the strokes are not what moderation needs
    assert (kept[0]["strokes"] is None) == (status == "refused")
    assert store.taught_accuracy() == 1.0  # teaches not learned are not counted


def test_failed_learning_rolls_back_everything(store):
    def broken(txn):
        raise RuntimeError("learning failed")

    with pytest.raises(RuntimeError, match="learning failed"):
        store.teach(request(), broken)
    assert store.latest_version() == 1 and sum(store.counts().values()) == 0
    assert teach(store).version == 2


def test_the_schema_refuses_a_label_outside_0_to_9_and_stores_nothing(store):
    # Labels are checked at the edge (webapp.protocol); the schema's CHECK is the last word.
    # sqlite3.IntegrityError or psycopg's CheckViolation, both DB-API IntegrityErrors
    with pytest.raises(Exception, match="(?i)check constraint") as caught:
        teach(store, 0, 10)
    assert type(caught.value).__name__ in ("IntegrityError", "CheckViolation")
    assert store.latest_version() == 1 and store.counts()["accepted"] == 0


def test_an_accepted_decision_needs_weights(store):
    with pytest.raises(ValueError, match="weights"):
        store.teach(request(), lambda txn: TeachDecision("accepted", 1, 1, heldout=0.9))
    assert store.latest_version() == 1


def test_pruning_keeps_the_newest_versions(where):
    with open_at(where, keep=3) as store:
        store.seed(b"1", {}, 0.9, None)
        for i in range(9):
            teach(store, i, i % 10)
        assert len(store.versions()) == 10  # pruning is not the teach's work
        store.tidy()
        assert [v["version"] for v in store.versions()] == [10, 9, 8]
        assert store.load_version().weights == b"10"
        with pytest.raises(StoreError, match="pruned"):
            store.load_version(7)
        assert store.sample_count() == 9  # drawings are never pruned
    with pytest.raises(ValueError, match="keep"):
        open_at(where, keep=0)


def test_taught_accuracy_covers_the_last_100_teaches(store):
    for i in range(120):
        # the first 20 were predicted wrong, the last 100 right
        teach(store, i, 2, predicted=2 if i >= 20 else 7)
    assert store.taught_accuracy() == 1.0
    assert store.taught_accuracy(window=120) == pytest.approx(100 / 120)
    assert store.sample_count() == 120 == store.counts()["accepted"]


def test_best_heldout_remembers_the_seed(where):
    with open_at(where, keep=2) as store:
        store.seed(b"1", {}, 0.99, None)
        for heldout in (0.97, 0.96, 0.95):
            teach(store, heldout=heldout)
        store.tidy()
        # the seed is pruned from versions but remembered
        assert probe(store, lambda txn: txn.best_heldout()) == 0.99


class Probed(Exception):
    """Raised by a probing step: the transaction rolls back and nothing changes."""


def probe(store, look):
    """What ``look(txn)`` sees inside a teach transaction that then rolls back."""

    def step(txn):
        raise Probed(look(txn))

    with pytest.raises(Probed) as caught:
        store.teach(request(), step)
    return caught.value.args[0]


def replay(store, k: int, seed: int):
    """What a teach transaction's replay draws."""
    return probe(store, lambda txn: txn.replay(k, np.random.default_rng(seed)))


def test_quarantine_removes_drawings_from_replay_and_export(store):
    ids = [teach(store, i, i).drawing_id for i in range(5)]
    assert store.quarantine(ids[:3], "poisoned") == 3
    assert store.quarantine(ids[:3], "poisoned") == 0
    assert store.sample_count() == 2 == store.counts()["accepted"]
    assert store.export_samples()[1].tolist() == [3, 4]
    _, labels = replay(store, 50, 0)
    assert set(labels.tolist()) <= {3, 4} and len(labels) > 0


def test_replay_draws_accepted_drawings(store):
    assert replay(store, 8, 0)[0].shape == (0, 28, 28)
    for i in range(30):
        teach(store, i, i % 10)
    images, labels = replay(store, 8, 1)
    assert images.shape == (8, 28, 28) and labels.shape == (8,)
    # every sampled image is the one stored with its label
    np.testing.assert_array_equal(images[:, 0, 0] % 10, labels)
    np.testing.assert_array_equal(replay(store, 8, 1)[1], labels)  # the generator decides


def test_a_writers_drawings_state_and_forgetting(store):
    assert store.writer_state("writer-one") is None
    teach(store, 1, 3, predicted=3, writer="writer-one")
    record = teach(store, 2, 4, predicted=9, accept=False, writer="writer-one")
    teach(store, 3, 5, writer="writer-two")
    assert record.writer.samples == 2 and record.writer.accuracy == 0.5
    state = store.writer_state("writer-one")
    assert (state.samples, state.accuracy) == (2, 0.5)
    images, labels = store.writer_drawings("writer-one", 10)
    assert labels.tolist() == [3, 4] and images[:, 0, 0].tolist() == [1, 2]
    assert store.export_samples("writer-one")[1].tolist() == [3, 4]
    newest, changed = store.changed_writers(0)
    assert {w for w, _ in changed} == {"writer-one", "writer-two"}
    assert store.changed_writers(newest) == (newest, [])
    assert store.forget("writer-one") == 2
    after, changed = store.changed_writers(newest)
    assert after > newest and [w for w, _ in changed] == ["writer-one"]
    assert store.writer_state("writer-one").samples == 0
    assert store.writer_drawings("writer-one", 10)[1].tolist() == []
    # the shared version the writer taught stays, and so does the other writer
    assert store.latest_version() == 3 and store.writer_state("writer-two").samples == 1


def test_the_least_recently_active_writers_are_forgotten_beyond_the_limit(where):
    with open_at(where, max_writers=3) as store:
        store.seed(b"1", {}, 0.9, None)
        for n in range(5):
            teach(store, n, 1, writer=f"writer-{n:03d}")
        kept = [n for n in range(5) if store.writer_state(f"writer-{n:03d}") is not None]
        assert kept == [2, 3, 4]
        assert store.writer_drawings("writer-000", 10)[1].tolist() == []


def test_a_writers_revision_only_grows_even_when_forgotten_and_back(where):
    """Workers keep a head built at a revision and never take an older one: a writer
    forgotten (or pruned beyond max_writers) and back must get a larger revision."""
    with open_at(where, max_writers=1) as store:
        store.seed(b"1", {}, 0.9, None)
        first = teach(store, 1, 1, writer="writer-one").writer.revision
        assert teach(store, 2, 1, writer="writer-one").writer.revision > first
        second = store.writer_state("writer-one").revision
        store.forget("writer-one")
        forgotten = store.writer_state("writer-one").revision
        teach(store, 3, 1, writer="writer-two")  # writer one is pruned
        assert store.writer_state("writer-one") is None
        back = teach(store, 4, 1, writer="writer-one").writer.revision
        assert first < second < forgotten < back


def test_budgets_refill_and_report_the_one_spent(store):
    budgets = [Budget("writer:w", per_hour=3600, burst=2), Budget("prefix:p", 3600, 10)]
    seen = []

    def spend(txn):
        seen.append(txn.spent_budget(budgets))
        count = int(txn.weights().decode())
        return TeachDecision("accepted", 1, 1, heldout=0.9, weights=str(count + 1).encode(),
                             spend=tuple(b.key for b in budgets))

    store.teach(request(), spend)
    store.teach(request(), spend)
    store.teach(request(), spend)
    assert seen[:2] == [None, None] and seen[2] == budgets[0]  # the writer's two are spent


def test_agreeing_sources_are_counted_by_prefix(store):
    for i, source in enumerate(["10.0.0.0/24", "10.0.0.0/24", "10.0.1.0/24"]):
        teach(store, i, 1, predicted=7, accept=False, status="pending", source=source)
    teach(store, 9, 1, predicted=4, accept=False, status="pending", source="10.0.2.0/24")
    counted = probe(store, lambda txn: [txn.agreeing_sources(7, 1, "10.0.9.0/24", 0.0),
                                        txn.agreeing_sources(7, 1, "10.0.1.0/24", 0.0)])
    assert counted == [2, 1]


def test_drawings_over_the_retention_go_refused_first(where):
    with open_at(where, keep_drawings=4) as store:
        store.seed(b"1", {}, 0.9, None)
        teach(store, 0, 1)
        teach(store, 1, 2, accept=False)
        teach(store, 2, 3, accept=False, status="pending")
        teach(store, 3, 4)
        teach(store, 4, 5, accept=False)
        teach(store, 5, 6)
        store.tidy()
        assert [d["label"] for d in store.drawings()] == [1, 3, 4, 6]


def test_rollback_makes_a_new_version_with_old_weights(store):
    for i in range(3):
        teach(store, i, i)
    info = store.rollback(2)
    assert info.version == 5 and info.parent == 4
    assert store.load_version().weights == b"2" and store.latest_version() == 5
    with pytest.raises(StoreError, match="does not exist"):
        store.rollback(99)


def test_a_full_database_is_unavailable_and_keeps_what_it_had(tmp_path):
    with SQLiteStore(tmp_path / "db.sqlite3", max_bytes=1_500_000) as store:
        store.seed(b"1", {}, 0.9, None)
        with pytest.raises(Unavailable, match="full"):
            for i in range(1000):
                store.teach(request(i), lambda txn: TeachDecision(
                    "accepted", 1, 1, heldout=0.9, weights=b"x" * 20_000))
        kept = store.latest_version()
        assert kept > 1 and store.load_version().weights == b"x" * 20_000
        assert store.integrity_check() == "ok"


def _fill_history(path, n: int) -> None:
    """Append n accepted drawings in one transaction (bulk history for the cost test)."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executemany(
                "INSERT INTO drawings (created, strokes, image, label, predicted, seen, "
                "base_version, version, status) VALUES (0, '[]', ?, ?, ?, ?, 1, 1, 'accepted')",
                [(image(i).tobytes(), i % 10, i % 10, i % 10) for i in range(n)],
            )
    finally:
        connection.close()


def _instructions(store: SQLiteStore, k: int) -> int:
    """Count the SQLite VM instructions a replay sample executes."""
    steps = 0

    def tick():
        nonlocal steps
        steps += 1
        return 0

    with store.connections.borrow() as connection:
        connection.execute("BEGIN")
        transaction = SQLTeaching(store, connection, request(), claimed=True)
        connection.set_progress_handler(tick, 1)
        try:
            transaction.replay(k, np.random.default_rng(3))
        finally:
            connection.set_progress_handler(None, 1)
            connection.execute("COMMIT")
    return steps


def test_replay_cost_does_not_grow_with_history(sqlite_store):
    store = sqlite_store
    plan = " ".join(store.replay_query_plan())
    assert "SEARCH" in plan and "SCAN" not in plan  # one index lookup per candidate id
    _fill_history(store.path, 200)
    small = _instructions(store, 16)
    _fill_history(store.path, 20_000)
    large = _instructions(store, 16)
    # rowid lookups: the same work for 200 or 20,200 drawings (a full scan would be 100x)
    assert large <= 1.5 * small


# -- across processes ------------------------------------------------------------------


def _teach_worker(path: str, n: int, barrier) -> None:
    """Child process: wait for the others, then teach n times (counter weights)."""
    barrier.wait(timeout=60)
    with open_at(path, keep=100) as store:
        for i in range(n):
            teach(store, i, i % 10, predicted=i % 10)


def _seed_worker(path: str, barrier, results) -> None:
    """Child process: open a fresh store at the same moment as the others and seed it."""
    barrier.wait(timeout=60)
    with open_at(path) as store:
        _, seeded = store.seed(f"seed-{os.getpid()}".encode(), {}, 0.9, None)
    results.put(seeded)


def _run_processes(target, args_for, count: int) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args_for(i)) for i in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    codes = [process.exitcode for process in processes]
    for process in processes:
        process.close()
    assert codes == [0] * count


@pytest.mark.slow
def test_concurrent_first_starts_seed_exactly_once(where):
    path = where
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.SimpleQueue()
    _run_processes(_seed_worker, lambda i: (path, barrier, results), 4)
    outcomes = [results.get() for _ in range(4)]
    results.close()
    assert sorted(outcomes) == [False, False, False, True]
    with open_at(path) as store:
        assert [v["version"] for v in store.versions()] == [1]


@pytest.mark.slow
def test_concurrent_teaches_from_two_processes_lose_nothing(where):
    path = where
    with open_at(path, keep=100) as store:
        store.seed(b"1", {}, 0.9, None)
    n = 25
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    _run_processes(_teach_worker, lambda i: (path, n, barrier), 2)
    with open_at(path, keep=100) as store:
        assert store.latest_version() == 1 + 2 * n
        # each teach learned from the newest version: the counter saw every increment
        assert store.load_version().weights == str(1 + 2 * n).encode()
        drawings = store.drawings()
        assert len(drawings) == 2 * n
        assert sorted(d["version"] for d in drawings) == list(range(2, 2 + 2 * n))
        assert all(d["base_version"] == d["version"] - 1 for d in drawings)
        parents = [store.version_info(v).parent for v in range(2, 2 + 2 * n)]
        assert parents == list(range(1, 1 + 2 * n))


CRASH_CHILD = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    from webapp.store import TeachDecision, TeachRequest

    path, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    if path.startswith("postgresql://"):
        from webapp.store.postgres import PostgresStore as Store
    else:
        from webapp.store.sqlite import SQLiteStore as Store
    store = Store(path, keep=1000)
    image = np.full((28, 28), 7, np.uint8)
    while True:
        def learn(txn):
            version = txn.base.version + 1
            print("learning", version, flush=True)
            # a blob of random size, so the kill may land while pages are written
            body = rng.bytes(int(rng.integers(1, 3_000_000)))
            weights = b"%d:" % version + body + hashlib.sha256(body).digest()
            return TeachDecision("accepted", 7, 7, heldout=0.9, weights=weights,
                                 metadata={"version": version})
        record = store.teach(TeachRequest([[[0, 0], [1, 1]]], image, 7), learn)
        print("ack", record.version, flush=True)
    """
)


def _check_blob(weights: bytes, version: int) -> None:
    """A version's blob is whole: its prefix names it and its checksum matches."""
    prefix, _, rest = weights.partition(b":")
    assert int(prefix) == version
    body, digest = rest[:-32], rest[-32:]
    assert hashlib.sha256(body).digest() == digest


@pytest.mark.slow
def test_kill_9_during_teaches_leaves_a_readable_store(where):
    path = where
    with open_at(path, keep=1000) as store:
        store.seed(b"1:" + b"" + hashlib.sha256(b"").digest(), {}, 0.9, None)
    rng = np.random.default_rng(42)
    acknowledged: list[int] = []
    for round_ in range(10):
        child = subprocess.Popen(
            [sys.executable, "-c", CRASH_CHILD, path, str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            # kill right after a random line: mid-learning, mid-commit or just after an ack
            for _ in range(int(rng.integers(1, 12))):
                line = child.stdout.readline().split()
                assert line, "the child exited early"
                if line[0] == "ack":
                    acknowledged.append(int(line[1]))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
        with open_at(path, keep=1000) as store:
            if isinstance(store, SQLiteStore):
                assert store.integrity_check() == "ok"
            latest = store.load_version()
            _check_blob(latest.weights, latest.version)
            assert latest.version >= max(acknowledged, default=1)
            # every version and drawing is there, each version whole
            assert sorted(v["version"] for v in store.versions()) == list(
                range(1, latest.version + 1))
            for version in acknowledged[-3:]:
                _check_blob(store.load_version(version).weights, version)
            drawings = store.drawings()
            assert sorted(d["version"] for d in drawings) == list(range(2, latest.version + 1))
            assert all(d["strokes"] == [[[0, 0], [1, 1]]] for d in drawings)
    assert len(acknowledged) >= 5  # the kills did not all land before the first teach
