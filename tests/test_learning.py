"""The learning process (webapp/learning.py): a worker's teaches computed in a child.

The same teaches in the same order make the same versions, records and writers' heads
whether they run on the teacher thread or in the learning process; a learning process
that dies is replaced at the next teach; what the child raises reaches the caller.
Real SQLite, a real child process.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import test_model_path

from network.ink.render import render
from webapp.hub import ModelHub
from webapp.learning import LearningProcess
from webapp.policy import Policy
from webapp.store import STORE_SETTINGS, TeachRequest, Unavailable
from webapp.store.sqlite import SQLiteStore
from webapp.teacher import StillSaving

SETTINGS = {"DATABASE_URL": None, "KEEP_DRAWINGS": 1000, "MAX_WRITERS": 100,
            "MAX_DATABASE_MB": 64}
assert set(SETTINGS) == set(STORE_SETTINGS)


def hub_in(folder, learning: bool, policy: Policy, **settings) -> ModelHub:
    """A hub on a fresh SQLite instance, teaching in a learning process (whose store has
    ``settings``) or on its own thread."""
    folder.mkdir()
    process = LearningProcess({"store": {**SETTINGS, **settings}, "instance_path": str(folder),
                               "policy": policy, "seed": 0}) if learning else None
    store = SQLiteStore.in_folder(folder, max_bytes=64 * 2**20, keep_drawings=1000,
                                  max_writers=100)
    return ModelHub(store, policy=policy, seed=0, learning=process,
                    initial_model=test_model_path()).start()


def lesson(digit: int, label: int, writer: str | None, trust: str, k: int) -> TeachRequest:
    strokes = [np.asarray(s, float) for s in draw_digit(digit, 100.0 + 7 * k)]
    pixels = render(strokes)
    return TeachRequest(strokes, pixels, label, writer, "127.0.0.1", "127.0.0",
                        trust=trust, teach_id=f"t{k}")


LESSONS = [(3, 3, None, "owner"), (7, 1, "ada", "public"), (1, 1, "ada", "public"),
           (5, 5, None, "owner"), (8, 8, "ada", "owner"), (2, 2, "bob", "public")]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same lessons taught on the teacher thread and in a learning process."""
    policy = Policy(agree_sources=1, budgets=False)
    out = {}
    for learning in (False, True):
        with hub_in(tmp_path_factory.mktemp("learning") / "instance", learning, policy) as hub:
            records = [hub.teach(lesson(d, label, writer, trust, k))
                       for k, (d, label, writer, trust) in enumerate(LESSONS)]
            out[learning] = (records, hub.model.to_bytes(), hub.version,
                             {w: hub.memories.now(w)[1] for w in ("ada", "bob")},
                             hub.learning.pid if learning else os.getpid())
    return out


def test_a_learning_process_makes_what_the_teacher_thread_makes(both):
    (thread, thread_model, thread_version, thread_heads, me) = both[False]
    (process, process_model, process_version, process_heads, child) = both[True]
    assert child != me
    assert [r.status for r in process] == [r.status for r in thread]
    assert any(r.accepted for r in process)  # the owner's teaches made versions
    assert process_version == thread_version > 1
    for a, b in zip(thread, process, strict=True):
        assert (a.version, a.label, a.predicted, a.after) == (b.version, b.label, b.predicted,
                                                              b.after)
        if a.writer is not None:  # a revision is the clock's: the rest must agree
            assert (a.writer.samples, a.writer.accuracy) == (b.writer.samples, b.writer.accuracy)
    assert process_model == thread_model  # bit for bit: same seed, same steps
    # Each writer's head holds the same drawings.  (The follower may rebuild it from the
    # store under a newer version at any moment, so its fit is compared where that is
    # deterministic: ``after`` above, the writer's answer right after the teach.)
    for writer in ("ada", "bob"):
        a, b = thread_heads[writer], process_heads[writer]
        assert len(a) == len(b) > 0 and a.dW is not None and b.dW is not None
        np.testing.assert_array_equal(a.labels, b.labels)


def test_a_dead_learning_process_is_replaced_and_the_teach_is_resendable(tmp_path):
    policy = Policy(agree_sources=1, budgets=False)
    with hub_in(tmp_path / "instance", True, policy) as hub:
        first = hub.teach(lesson(3, 3, None, "owner", 0))
        assert first.accepted
        old = hub.learning.pid
        os.kill(old, signal.SIGKILL)
        os.waitpid(old, 0)
        second = hub.teach(lesson(5, 5, None, "owner", 1))  # a new child learns it
        assert hub.learning.pid != old
        assert second.accepted and second.version == first.version + 1
        assert hub.version == second.version
        # The same id again is answered from the store, not learned twice.
        again = hub.teach(lesson(5, 5, None, "owner", 1))
        assert again.replayed and again.version == second.version
        assert hub.version == second.version


def test_a_child_that_dies_during_the_teach_says_it_may_still_be_saving(tmp_path):
    policy = Policy(agree_sources=1, budgets=False)
    with hub_in(tmp_path / "instance", True, policy) as hub:
        hub.teach(lesson(3, 3, None, "owner", 0))

        class Dying:
            """A request that kills the child while it is unpickled there."""

            def __reduce__(self):
                return (os._exit, (3,))

        with pytest.raises(StillSaving):
            hub.learning.learn(Dying(), None, 0)
        assert hub.teach(lesson(5, 5, None, "owner", 1)).accepted  # and on it goes


def test_what_the_child_raises_reaches_the_caller(tmp_path):
    policy = Policy(agree_sources=1, budgets=False)
    # The child's store is capped below the seeded file: every write of its is refused.
    with hub_in(tmp_path / "instance", True, policy, MAX_DATABASE_MB=1) as hub:
        with pytest.raises(Unavailable, match="full"):
            hub.teach(lesson(3, 3, None, "owner", 0))
        assert hub.write_error and "full" in hub.write_error
        pid = hub.learning.pid
        with pytest.raises(Unavailable):
            hub.teach(lesson(3, 3, None, "owner", 0))
        assert hub.learning.pid == pid  # the same child: it raised, it did not die
        assert hub.version == 1 and hub.store.sample_count() == 0


@pytest.mark.parametrize("learning", [False, True], ids=["thread", "process"])
def test_a_teach_fits_its_writers_head_once(tmp_path, learning):
    """The follower sees the writer's new revision as soon as the teach commits, before
    the teach keeps the head it fitted: it must not fit the same drawings again."""
    policy = Policy(agree_sources=1, budgets=False)
    with hub_in(tmp_path / "instance", learning, policy) as hub:
        builds = []
        build = hub.memories.build
        hub.memories.build = lambda writer: builds.append(writer) or build(writer)
        for k in range(8):
            record = hub.teach(lesson(k % 10, k % 10, "ada", "owner", k))
            assert record.writer.samples == k + 1
            hub.follower.follow_once()  # the follower has looked since the commit
        assert builds == ["ada"]  # loaded once, before the first teach; never rebuilt
        assert len(hub.memories.get("ada")) == 8


def test_each_version_the_learning_process_makes_is_loaded_once_here(tmp_path):
    """The worker's follower and its teacher both hear of the version the child
    committed: one of them loads it, the other finds it live; and the teach returns
    only once it is live."""
    policy = Policy(agree_sources=1, budgets=False)
    with hub_in(tmp_path / "instance", True, policy) as hub:
        loads = []
        load = hub._load
        hub._load = lambda version: loads.append(version) or load(version)
        for k in range(6):
            record = hub.teach(lesson(k, k, None, "owner", k))
            assert record.accepted and hub.version == record.version
        assert sorted(loads) == list(range(2, 8))
