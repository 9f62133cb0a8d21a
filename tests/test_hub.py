"""The ModelHub: the worker's live model, teaches, the guard, sync across workers, broadcasts.

A tiny CNN on a synthetic digit set (class d is a bar at row 4 + 2d) keeps these
tests fast; the learner is the real one, only its held-out and anchor sets are
synthetic.  One test uses the shipped model and the MNIST subset when present.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from network import pretrained
from network.ink.pixels import to_float
from network.nn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Reshape
from network.nn.losses import softmax
from network.nn.model import ModelFileError, Sequential, load_model
from network.nn.optim import Adam
from network.online.guard import Margins
from network.online.learner import OnlineLearner
from network.training.mnist import Subset, load_subset
from webapp.hub import ModelHub, Prediction
from webapp.policy import Policy
from webapp.store import TeachRequest, Unavailable
from webapp.store.sqlite import SQLiteStore
from webapp.teacher import Busy

STROKES = [[[0.0, 0.0], [3.0, 4.0]]]


def bars(labels, rng: np.random.Generator) -> np.ndarray:
    """Synthetic digits (uint8 (N, 28, 28)): class d is a noisy bar at row 4 + 2d."""
    labels = np.asarray(labels)
    images = (rng.random((len(labels), 28, 28)) * 40).astype(np.uint8)
    for i, d in enumerate(labels):
        start = int(rng.integers(2, 8))
        images[i, 4 + 2 * int(d), start:start + 16] = 255
    return images


def bar(label: int, seed: int) -> np.ndarray:
    """One synthetic digit as the uint8 pixels (28, 28) the web layer passes."""
    return bars([label], np.random.default_rng(seed))[0]


def tiny_cnn(rng: np.random.Generator) -> Sequential:
    return Sequential([
        Reshape((28, 28, 1)), Conv2D(1, 4, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), Dense(14 * 14 * 4, 16, rng=rng), ReLU(), Dense(16, 10, rng=rng, init="xavier"),
    ])


def make_learner(seed: int = 0, **options) -> OnlineLearner:
    rng = np.random.default_rng(100 + seed)
    heldout_y = np.repeat(np.arange(10), 10).astype(np.uint8)
    anchor_y = np.repeat(np.arange(10), 20).astype(np.uint8)
    drawn_y = np.repeat(np.arange(10), 10).astype(np.uint8)
    noise = (rng.random((50, 28, 28)) * 60).astype(np.uint8)
    subset = Subset(bars(heldout_y, rng), heldout_y, bars(anchor_y, rng), anchor_y,
                    bars(drawn_y, rng), drawn_y, noise)
    return OnlineLearner(subset, rng=np.random.default_rng(seed), **options)


def held_out_only(step: float = 0.5, drop: float = 2.0) -> Policy:
    """A policy that guards held-out accuracy alone and needs no agreement (the
    guard's other figures and agreement have tests of their own)."""
    return Policy(margins=Margins(step=step, drop=drop, drawn=100, unsure=100, ece=100),
                  agree_sources=1)


def teach(hub: ModelHub, pixels, label: int, **who):
    """Teach the synthetic drawing as ``label`` (who: writer, address, source)."""
    return hub.teach(TeachRequest(STROKES, pixels, label, **who))


@pytest.fixture(scope="module")
def trained() -> Sequential:
    """A tiny CNN trained offline on the synthetic digits until it reads them all."""
    rng = np.random.default_rng(0)
    model = tiny_cnn(rng)
    labels = np.arange(600) % 10
    images = bars(labels, rng).astype(np.float32) / 255.0
    optimizer = Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        for start in range(0, 600, 50):
            model.train_step(images[start:start + 50], labels[start:start + 50], optimizer)
    return model


def open_hub(folder, model: Sequential, **options) -> ModelHub:
    options.setdefault("learner", make_learner())
    options.setdefault("policy", held_out_only())
    options.setdefault("seed", 0)
    return ModelHub.from_instance(folder, initial_model=model, **options)


@pytest.fixture
def hub(tmp_path, trained):
    with open_hub(tmp_path / "instance", trained) as opened:
        yield opened


def test_first_start_seeds_once(tmp_path, trained):
    folder = tmp_path / "instance"
    with open_hub(folder, trained) as first:
        assert first.version == 1
        info = first.info()
        assert info["accuracy"]["heldout"] == pytest.approx(1.0, abs=0.02)
        assert info["accuracy"]["taught"] is None and info["samples"] == 0
        assert info["parameters"] == trained.n_parameters
        assert info["architecture"].startswith("Conv2D 1->4 3x3")
        assert info["temperature"] == trained.temperature and info["created"] > 0
        outcome = teach(first, bar(3, 1), 3)
        assert outcome.version == 2
    assert (folder / "inkling.sqlite3").is_file()
    # a second start (another worker, a restart) finds the store and does not seed again
    with open_hub(folder, tiny_cnn(np.random.default_rng(9))) as second:
        assert second.version == 2
        assert second.model.to_bytes() != trained.to_bytes()
        assert second.info()["samples"] == 1


def test_predict(hub, trained):
    image = bar(7, 2)
    prediction = hub.predict(image)
    assert isinstance(prediction, Prediction)
    assert prediction.probabilities.shape == (10,)
    assert prediction.probabilities.sum() == pytest.approx(1.0)
    assert prediction.digit == int(prediction.probabilities.argmax()) == 7
    assert prediction.confidence == pytest.approx(prediction.probabilities[7])
    assert prediction.model_version == 1
    expected = trained.predict_proba(image[None])[0]
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-6)


def test_teach_commits_a_new_version(hub, tmp_path):
    outcome = teach(hub, bar(5, 3), 5)
    assert outcome.accepted and outcome.reason is None
    assert (outcome.label, outcome.predicted, outcome.version) == (5, 5, 2)
    assert outcome.samples == 1 and outcome.accuracy["taught"] == 1.0
    assert 0.9 <= outcome.accuracy["heldout"] <= 1.0
    assert hub.version == 2 and hub.predict(to_float(bar(5, 4))).model_version == 2
    assert hub.info()["version"] == 2 and hub.info()["samples"] == 1
    # the store has it, with the pixels the network saw
    record = hub.store.load_version()
    assert record.version == 2 and record.parent == 1
    assert Sequential.from_bytes(record.weights).to_bytes() == hub.model.to_bytes()
    images, labels = hub.store.export_samples()
    np.testing.assert_array_equal(images[0], bar(5, 3))
    assert labels.tolist() == [5]


def test_guard_rolls_back_poisoning_and_honest_teaching_still_works(tmp_path, trained):
    # an eager learner, so that wrong labels would wreck the model quickly without the guard
    learner = make_learner(lr=2.0, steps=3, new_share=0.6)
    with open_hub(tmp_path / "instance", trained, learner=learner,
                  policy=held_out_only(step=100.0, drop=2.0)) as hub:
        start = hub.info()["accuracy"]["heldout"]
        outcomes = [teach(hub, bar(d, 50 + i), (d + 1) % 10)
                    for i, d in enumerate(i % 10 for i in range(60))]
        rejected = [o for o in outcomes if not o.accepted]
        assert rejected, "the guard never fired"
        assert all("aside" in o.reason and "2 points" in o.reason for o in rejected)
        assert all(o.accuracy["heldout"] >= start - 0.02 for o in outcomes)
        assert hub.info()["accuracy"]["heldout"] >= start - 0.02
        assert hub.version == 1 + len(outcomes) - len(rejected)
        counts = hub.store.counts()
        assert counts == {"accepted": len(outcomes) - len(rejected), "pending": 0,
                          "refused": len(rejected), "quarantined": 0}
        # a rejected teach leaves the version alone and is not in the user's data set
        assert hub.store.export_samples()[0].shape[0] == counts["accepted"]
        honest = teach(hub, bar(4, 999), 4)
        assert honest.accepted and honest.version == hub.version

    # the same poisoning without a guard really does damage: the guard is what saved us
    learner = make_learner(lr=2.0, steps=3, new_share=0.6)
    with open_hub(tmp_path / "unguarded", trained, learner=learner,
                  policy=held_out_only(step=100.0, drop=100.0)) as hub:
        for i, d in enumerate(i % 10 for i in range(60)):
            teach(hub, bar(d, 50 + i), (d + 1) % 10)
        assert hub.info()["accuracy"]["heldout"] < start - 0.02


def test_step_guard_refuses_a_single_teach_that_costs_too_much(tmp_path, trained):
    learner = make_learner(lr=2.0, steps=3, new_share=0.6)
    with open_hub(tmp_path / "instance", trained, learner=learner,
                  policy=held_out_only(step=0.5, drop=100.0)) as hub:
        outcomes = []
        for i, d in enumerate(i % 10 for i in range(60)):
            before = hub.info()["accuracy"]["heldout"]
            outcome = teach(hub, bar(d, 50 + i), (d + 1) % 10)
            outcomes.append(outcome)
            # no accepted teach lowers held-out accuracy by more than half a point
            assert outcome.accuracy["heldout"] >= before - 0.005 - 1e-9
        rejected = [o for o in outcomes if not o.accepted]
        assert rejected, "the step guard never fired"
        assert all("in one step" in o.reason for o in rejected)
        assert hub.version == 1 + len(outcomes) - len(rejected)


def test_guard_allows_a_drop_of_exactly_the_margin(tmp_path, trained):
    # guard_drop 0: a teach that leaves held-out accuracy equal is not "a drop"
    timid = make_learner(lr=1e-9)
    with open_hub(tmp_path / "instance", trained, learner=timid,
                  policy=held_out_only(drop=0.0)) as hub:
        outcomes = [teach(hub, bar(d, d), d) for d in range(5)]
        assert all(o.accepted for o in outcomes)
        assert {o.accuracy["heldout"] for o in outcomes} == {hub.info()["accuracy"]["heldout"]}


def test_a_worker_catches_up_before_teaching(tmp_path, trained):
    folder = tmp_path / "instance"
    with open_hub(folder, trained) as a, open_hub(folder, trained, learner=make_learner(1)) as b:
        teach(a, bar(1, 1), 1)
        assert (a.version, b.version) == (2, 1)  # b has not looked yet (no watcher started)
        outcome = teach(b, bar(2, 2), 2)
        assert outcome.version == 3 and b.version == 3
        assert b.store.version_info(3).parent == 2  # learned on a's version, nothing lost
        assert b.sync() is False
        assert a.sync() is True and a.version == 3
        assert a.model.to_bytes() == b.model.to_bytes()


def test_concurrent_teaches_and_predictions_in_threads(tmp_path, trained):
    folder = tmp_path / "instance"
    errors: list[BaseException] = []
    stop = threading.Event()
    with open_hub(folder, trained) as a, open_hub(folder, trained, learner=make_learner(1)) as b:

        def teach_eight(hub, offset):
            try:
                for i in range(8):
                    teach(hub, bar(i % 10, offset + i), i % 10)
            except BaseException as error:
                errors.append(error)

        def predict(hub):
            seen = [0]
            try:
                while not stop.is_set():
                    version = hub.predict(to_float(bar(3, 0))).model_version
                    assert version >= seen[-1]  # versions never go back
                    seen.append(version)
            except BaseException as error:
                errors.append(error)

        teachers = [threading.Thread(target=teach_eight, args=(hub, 100 * n))
                    for n, hub in enumerate([a, a, b, b])]
        predictors = [threading.Thread(target=predict, args=(hub,)) for hub in (a, b)]
        for thread in teachers + predictors:
            thread.start()
        for thread in teachers:
            thread.join(timeout=120)
        stop.set()
        for thread in predictors:
            thread.join(timeout=30)
        assert not errors
        assert a.store.latest_version() == 1 + 32
        assert a.store.counts()["accepted"] == 32
        a.sync()
        b.sync()
        assert a.version == b.version == 33


OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    from network.nn.model import Sequential
    from webapp.store import TeachDecision, TeachRequest
    from webapp.store.sqlite import SQLiteStore

    def learn(txn):
        model = Sequential.from_bytes(txn.weights())
        model.layers[-1].params["b"][6] += 50.0  # from now on it says 6 to everything
        return TeachDecision("accepted", 0, 0, heldout=0.1, weights=model.to_bytes(),
                             metadata={"by": "another process"})

    with SQLiteStore(sys.argv[1]) as store:
        drawing = TeachRequest([[[0, 0], [1, 1]]], np.zeros((28, 28), np.uint8), 6)
        record = store.teach(drawing, learn)
    print(record.version)
    """
)


def test_the_follower_adopts_another_process_version(tmp_path, trained):
    folder = tmp_path / "instance"
    with open_hub(folder, trained, follow_interval=0.05) as hub:
        hub.start()
        result = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, str(folder / "inkling.sqlite3")],
            capture_output=True, text=True, timeout=60, check=True,
        )
        assert result.stdout.split() == ["2"]
        deadline = time.monotonic() + 10
        while hub.version != 2:
            assert time.monotonic() < deadline, "the follower never adopted the new version"
            time.sleep(0.01)
        assert hub.info()["accuracy"] == {"heldout": 0.1, "taught": 0.0}
        prediction = hub.predict(to_float(bar(1, 1)))
        assert prediction.model_version == 2 and prediction.digit == 6


def test_old_versions_are_pruned_after_teaching_pauses_not_during_a_teach(tmp_path, trained):
    with open_hub(tmp_path / "instance", trained, follow_interval=0.05, keep=3) as hub:
        hub.start()
        for i in range(6):
            teach(hub, bar(i, 200 + i), i)
        assert hub.version == 7
        deadline = time.monotonic() + 10
        while len(hub.store.versions()) > 3:  # the follower tidies after TIDY_IDLE s
            assert time.monotonic() < deadline, "old versions were never pruned"
            time.sleep(0.01)
        assert [v["version"] for v in hub.store.versions()] == [7, 6, 5]


def test_close_is_prompt_and_idempotent(tmp_path, trained):
    hub = open_hub(tmp_path / "instance", trained, follow_interval=0.05).start()
    started = time.monotonic()
    hub.close()
    assert time.monotonic() - started < 5
    hub.close()


def test_a_full_teach_queue_refuses_at_once(tmp_path, trained):
    release = threading.Event()
    with open_hub(tmp_path / "instance", trained, teach_queue=1) as hub:
        hub.teacher.submit(release.wait)  # the teacher is busy
        waiting = threading.Thread(target=teach, args=(hub, bar(1, 1), 1))
        waiting.start()
        deadline = time.monotonic() + 10
        while hub.teacher.waiting != 1:  # the first teach holds the one place in the queue
            assert time.monotonic() < deadline
            time.sleep(0.001)
        with pytest.raises(Busy):
            teach(hub, bar(2, 2), 2)
        release.set()
        waiting.join(timeout=30)
        assert hub.version == 2  # the queued one was learned; the refused one never was


def test_a_missing_initial_model_is_a_clear_error_and_seeds_nothing(tmp_path):
    folder = tmp_path / "instance"
    with pytest.raises(ModelFileError, match="nowhere.npz"):
        ModelHub.from_instance(folder, initial_model=tmp_path / "nowhere.npz",
                               learner=make_learner())
    with SQLiteStore(folder / "inkling.sqlite3") as store:
        assert store.latest_version() is None


def test_bad_options_are_refused(tmp_path, trained):
    with pytest.raises(ValueError, match="follow_interval"):
        open_hub(tmp_path / "b", trained, follow_interval=0)


@pytest.mark.skipif(not pretrained.CNN.is_file(), reason="the shipped model is not built yet")
def test_shipped_model_seeds_and_learns(tmp_path):
    subset = load_subset()
    shipped = load_model(pretrained.CNN)
    probabilities = shipped.predict_proba(subset.heldout_x.astype(np.float32) / 255.0)
    expected = float((probabilities.argmax(axis=1) == subset.heldout_y).mean())
    # one source is enough: the point is that the shipped model learns, not the policy
    with ModelHub.from_instance(tmp_path / "instance", seed=0,
                                policy=Policy(agree_sources=1)) as hub:
        info = hub.info()
        assert info["version"] == 1 and info["accuracy"]["heldout"] == expected
        zero = np.zeros((28, 28), np.uint8)
        zero[6:22, 9:11] = zero[6:22, 17:19] = zero[6:8, 9:19] = zero[20:22, 9:19] = 255
        outcome = teach(hub, zero, 0)
        assert outcome.accepted and outcome.version == 2
        assert outcome.accuracy["heldout"] >= info["accuracy"]["heldout"] - 0.005


# --- a teach's id, a teach that outlasts its wait, and honest health ----------------------


def test_a_teach_resent_with_its_id_is_answered_and_not_taught_again(hub):
    drawing = bar(3, 7)
    request = TeachRequest(STROKES, drawing, 8, writer="writer-idem", teach_id="teach-0001")
    first = hub.teach(request)
    again = hub.teach(request)
    assert first.status == again.status and first.version == again.version
    assert (again.label, again.predicted, again.samples) == (first.label, first.predicted,
                                                            first.samples)
    assert again.after == first.after  # what the writer's predictions say of it, still
    assert len(hub.store.drawings(writer="writer-idem")) == 1
    assert hub.version == first.version  # no second version either
    # the same id from another writer is another teach; a new id is a new teach
    hub.teach(TeachRequest(STROKES, drawing, 8, writer="writer-other", teach_id="teach-0001"))
    hub.teach(TeachRequest(STROKES, drawing, 8, writer="writer-idem", teach_id="teach-0002"))
    assert len(hub.store.drawings(writer="writer-idem")) == 2
    assert len(hub.store.drawings(writer="writer-other")) == 1


def test_a_teach_that_waited_too_long_is_withdrawn_or_reported_as_still_saving(
        tmp_path, trained, monkeypatch):
    """A teach still queued when its wait ends is withdrawn (not saved, and never saved
    later); one already being saved is reported as still saving, never as not saved."""
    import webapp.teacher as teacher_module

    with open_hub(tmp_path / "instance", trained) as hub:
        gate, inside = threading.Event(), threading.Event()
        real_teach = hub._teach

        def slow_teach(request):
            inside.set()
            assert gate.wait(30)
            return real_teach(request)

        monkeypatch.setattr(hub, "_teach", slow_teach)
        monkeypatch.setattr(teacher_module, "TEACH_WAIT", 0.2)
        results = {}

        def teach_as(name, label):
            try:
                results[name] = teach(hub, bar(label, 1), label, writer=f"writer-{name}-x")
            except Exception as error:  # noqa: BLE001 - the test looks at which
                results[name] = error

        running = threading.Thread(target=teach_as, args=("running", 4))
        running.start()
        assert inside.wait(30)  # the first teach is being saved ...
        teach_as("queued", 5)  # ... so this one waits behind it, and gives up
        running.join(30)
        assert isinstance(results["running"], teacher_module.StillSaving)
        assert isinstance(results["queued"], Unavailable)
        assert "not saved" in str(results["queued"])
        gate.set()  # the first teach now commits; the withdrawn one must never run
        hub.teacher.submit(lambda: None).result(timeout=30)
        writers = {d["writer"] for d in hub.store.drawings()}
        assert "writer-running-x" in writers and "writer-queued-x" not in writers
        assert hub.teacher.waiting == 0


def test_a_write_error_stays_until_a_write_succeeds(hub, monkeypatch):
    hub.write_error = "OperationalError: database is locked"

    def fails():
        raise Unavailable("database is locked")

    monkeypatch.setattr(hub.store, "probe_write", fails)
    for _ in range(3):
        hub.follower.follow_once()
        assert hub.health() and "database is locked" in hub.health()
    monkeypatch.undo()
    hub.follower.follow_once()  # the probe write commits: healthy again
    assert hub.write_error is None and hub.health() is None


def test_ink_with_the_pen_down_is_read_less_surely_while_only_a_few_points_are_drawn(
        tmp_path, trained):
    """The unfinished-ink model's temperature is T (1 + c / points drawn): the same image
    is read less surely after 3 points than after 300, which read as T alone; with the
    pen up the live model reads it as ever."""
    unfinished = Sequential.from_bytes(trained.to_bytes())
    unfinished.metadata = {"temperature_unfinished": 1.0, "unfinished_points": 6.0}
    image = to_float(bar(3, seed=5))
    with open_hub(tmp_path / "instance", trained, unfinished_model=unfinished) as hub:
        early, late, up = (hub.predict(image, pen_down=n) for n in (3, 300, 0))
        assert early.digit == late.digit == up.digit == 3
        assert early.confidence < late.confidence
        expected = softmax(unfinished.predict_logits(image[None]).astype(np.float64) / 3.0)
        np.testing.assert_allclose(early.probabilities, expected[0], rtol=1e-5)
        alone = softmax(unfinished.predict_logits(image[None]).astype(np.float64) / 1.02)
        np.testing.assert_allclose(late.probabilities, alone[0], rtol=1e-5)
        np.testing.assert_allclose(up.probabilities, hub.predict(image).probabilities)
