"""The online learner: it learns, trains only the head, forgets little, and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from network.nn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Reshape
from network.nn.model import Sequential
from network.online.features import head_start, trunk_fingerprint
from network.online.guard import measure
from network.online.learner import OnlineLearner
from network.online.personal import NONDIGIT_EVERY, hidden_features, pick_anchors
from network.training.mnist import Subset


def bars(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic digit set: class d is a noisy horizontal bar at row 4 + 2d (uint8)."""
    images = (rng.random((len(labels), 28, 28)) * 40).astype(np.uint8)
    for i, d in enumerate(labels):
        start = int(rng.integers(2, 8))
        images[i, 4 + 2 * d, start:start + 16] = 255
    return images


def tiny_cnn(rng: np.random.Generator) -> Sequential:
    return Sequential([
        Reshape((28, 28, 1)), Conv2D(1, 4, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), Dense(14 * 14 * 4, 16, rng=rng), ReLU(), Dense(16, 10, rng=rng, init="xavier"),
    ])


def make_subset(seed: int = 0) -> Subset:
    """Held-out, anchors, 'drawn' digits (more bars) and 'non-digits' (noise) of the bars."""
    rng = np.random.default_rng(seed)
    heldout_y = np.repeat(np.arange(10), 10).astype(np.uint8)
    anchor_y = np.repeat(np.arange(10), 20).astype(np.uint8)
    drawn_y = np.repeat(np.arange(10), 6).astype(np.uint8)
    noise = (rng.random((40, 28, 28)) * 120).astype(np.uint8)
    return Subset(bars(heldout_y, rng), heldout_y, bars(anchor_y, rng), anchor_y,
                  bars(drawn_y, rng), drawn_y, noise)


def make_learner(seed: int = 0, **options) -> OnlineLearner:
    return OnlineLearner(make_subset(seed), rng=np.random.default_rng(seed + 1), **options)


def full_checks(learner: OnlineLearner, model: Sequential):
    """The guard's figures by the model's own full forward pass (the reference)."""
    logits = model.forward(learner.check_x.astype(np.float32) / 255.0)
    return measure(logits, learner.check_y, model.temperature, learner.not_sure_below,
                   learner.segments)


def test_head_starts_at_the_first_dense_layer():
    model = tiny_cnn(np.random.default_rng(0))
    assert head_start(model) == 5
    with pytest.raises(ValueError, match="Dense"):
        head_start(Sequential([Flatten()]))


def test_learns_a_tiny_synthetic_problem():
    learner = make_learner(lr=0.1, steps=3, anchors=16, taught=4)
    model = tiny_cnn(np.random.default_rng(5))
    start = learner.checks(model).heldout
    rng = np.random.default_rng(9)
    taught_x, taught_y = [], []
    for i in range(150):
        label = i % 10
        drawing = bars(np.array([label]), rng)[0]
        replay = (np.array(taught_x[-50:]), np.array(taught_y[-50:])) if taught_x else (None, None)
        result = learner.teach(model, drawing, label, *replay)
        model = result.model
        taught_x.append(drawing)
        taught_y.append(label)
    assert start < 0.5
    assert result.checks.heldout >= 0.95
    # the cached-feature evaluation agrees with the model's own forward pass, every figure
    expected = full_checks(learner, model)
    assert result.checks.heldout == expected.heldout
    np.testing.assert_allclose(result.checks.drawn, expected.drawn)
    assert result.checks.unsure == pytest.approx(expected.unsure)
    assert result.checks.ece == pytest.approx(expected.ece, abs=1e-6)


def test_teach_changes_only_the_head_of_a_copy():
    learner = make_learner()
    model = tiny_cnn(np.random.default_rng(1))
    before = model.to_bytes()
    drawing = bars(np.array([3]), np.random.default_rng(2))[0]
    result = learner.teach(model, drawing, 3)
    assert model.to_bytes() == before  # the input model is untouched
    start = head_start(model)
    for old, new in zip(model.layers[:start], result.model.layers[:start], strict=True):
        for name in old.params:
            np.testing.assert_array_equal(old.params[name], new.params[name])
    assert trunk_fingerprint(model) == trunk_fingerprint(result.model)
    changed = [not np.array_equal(old.params[name], new.params[name])
               for old, new in zip(model.layers[start:], result.model.layers[start:], strict=True)
               for name in old.params]
    assert all(changed)
    assert result.model.metadata["online_teaches"] == 1
    # what the new version says of the drawing, and the drawing's (unchanged) trunk features
    expected = result.model.predict_proba(drawing[None].astype(np.float32) / 255.0)[0]
    np.testing.assert_allclose(result.after, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.features, learner.features(model, drawing)[0])


def test_reports_the_prediction_before_the_teach():
    learner = make_learner()
    model = tiny_cnn(np.random.default_rng(4))
    drawing = bars(np.array([6]), np.random.default_rng(5))[0]
    expected = model.predict_proba(drawing[None].astype(np.float32) / 255.0)[0]
    result = learner.teach(model, drawing, 6)
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, atol=1e-6)
    assert result.predicted == int(expected.argmax())
    assert np.isfinite(result.loss) and result.loss > 0


def test_same_generator_same_model():
    drawing = bars(np.array([2]), np.random.default_rng(7))[0]
    blobs = [make_learner(seed=3).teach(tiny_cnn(np.random.default_rng(8)), drawing, 2)
             .model.to_bytes() for _ in range(2)]
    assert blobs[0] == blobs[1]
    other = make_learner(seed=4).teach(tiny_cnn(np.random.default_rng(8)), drawing, 2)
    assert other.model.to_bytes() != blobs[0]  # a different generator picks other anchors


def test_replay_is_capped_so_cost_does_not_grow():
    learner = make_learner(taught=4)
    model = tiny_cnn(np.random.default_rng(1))
    rng = np.random.default_rng(3)
    drawing = bars(np.array([1]), rng)[0]
    few = bars(np.arange(4) % 10, rng)
    many = np.concatenate([few, bars(np.arange(400) % 10, rng)])
    labels_many = np.concatenate([np.arange(4), np.arange(400)]) % 10
    # only the first `taught` replay drawings enter the batch: same result either way
    a = make_learner(taught=4).teach(model, drawing, 1, few, np.arange(4) % 10)
    b = make_learner(taught=4).teach(model, drawing, 1, many, labels_many)
    assert a.model.to_bytes() == b.model.to_bytes()
    assert learner.teach(model, drawing, 1, few[:0], np.zeros(0)).checks.heldout >= 0


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="new_share"):
        make_learner(new_share=0.0)
    with pytest.raises(ValueError, match="steps"):
        make_learner(steps=0)


def test_mlp_head_is_the_whole_network():
    rng = np.random.default_rng(0)
    model = Sequential([Flatten(), Dense(784, 8, rng=rng), ReLU(), Dense(8, 10, rng=rng)])
    learner = make_learner()
    result = learner.teach(model, bars(np.array([0]), rng)[0], 0)
    expected = full_checks(learner, result.model)
    assert result.checks.heldout == expected.heldout
    assert result.checks.drawn == expected.drawn and result.checks.unsure == expected.unsure
    assert result.checks.ece == pytest.approx(expected.ece, abs=1e-6)


def test_a_new_version_finds_the_personal_anchors_trunk_features_in_the_cache(monkeypatch):
    # Online learning changes only the head, so a new version's anchors and non-digits
    # need no convolution: what a writer's head replays comes from the guard's cache.
    learner = make_learner()
    model = tiny_cnn(np.random.default_rng(1))
    learner.warm_up(model)
    first = learner.personal_anchors(model)
    taught = learner.teach(model, bars(np.array([2]), np.random.default_rng(4))[0], 2).model
    images_through_the_trunk = []
    real = learner.features
    monkeypatch.setattr(learner, "features", lambda m, images: (
        images_through_the_trunk.append(len(images)), real(m, images))[1])
    hidden, labels = learner.personal_anchors(taught)       # another model: not the last one
    assert images_through_the_trunk == []
    assert hidden.shape == first[0].shape and np.array_equal(labels, first[1])
    assert not np.array_equal(hidden, first[0])            # under the new head's weights
    # the same as running the anchors and non-digits through the new version's trunk
    picks = pick_anchors(learner.anchor_y)
    nondigits = learner.check_x[learner.segments["nondigits"]][::NONDIGIT_EVERY]
    trunk = np.concatenate([real(taught, learner.anchor_x)[picks], real(taught, nondigits)])
    np.testing.assert_allclose(hidden, hidden_features(taught, trunk), rtol=1e-6, atol=1e-6)
