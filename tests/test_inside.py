"""Looking inside the network: activations, the saliency methods, and their faithfulness."""

from __future__ import annotations

import numpy as np
import pytest
from support.gradcheck import assert_close, numerical_gradient, to_float64

from network import pretrained
from network.ink.pixels import to_float
from network.nn import inside
from network.nn.architectures import build_cnn, build_mlp
from network.nn.model import load_model
from network.training.mnist import load_subset


@pytest.fixture(scope="module")
def shipped():
    return load_model(pretrained.CNN)


@pytest.fixture(scope="module")
def drawn():
    """Re-drawn MNIST test digits shipped with the app (the guard's drawn set)."""
    subset = load_subset()
    return to_float(subset.drawn_x[:120])


def small_cnn(seed: int = 0):
    return build_cnn(np.random.default_rng(seed), dropout=0.5)


def test_activations_are_every_hidden_layer_after_its_nonlinearity(shipped, drawn):
    x = drawn[0]
    found = inside.activations(shipped, x)
    assert [(a.name, a.kind, a.values.shape) for a in found] == [
        ("conv1", "conv", (28, 28, 32)), ("conv2", "conv", (14, 14, 64)),
        ("dense1", "dense", (128,))]
    # each is the model's own forward pass up to that nonlinearity
    a, outputs = x[None], []
    for layer in shipped.layers:
        a = layer.forward(a)
        outputs.append(a[0])
    relus = [i for i, layer in enumerate(shipped.layers) if type(layer).__name__ == "ReLU"]
    for activation, index in zip(found, relus, strict=True):
        np.testing.assert_array_equal(activation.values, outputs[index])
    assert all((a.values >= 0).all() for a in found)


def test_the_classic_networks_hidden_layer_is_its_sigmoid_units():
    mlp = build_mlp(np.random.default_rng(1), hidden=15, activation="sigmoid")
    x = np.random.default_rng(2).random((28, 28)).astype(np.float32)
    (hidden,) = inside.activations(mlp, x)
    assert (hidden.name, hidden.kind, hidden.values.shape) == ("dense1", "dense", (15,))
    w, b = mlp.layers[1].params["W"], mlp.layers[1].params["b"]
    np.testing.assert_allclose(hidden.values, 1 / (1 + np.exp(-(x.reshape(-1) @ w + b))),
                               rtol=1e-5)


def test_the_logit_gradient_matches_finite_differences():
    model = small_cnn()
    to_float64(model.layers)
    rng = np.random.default_rng(3)
    x = rng.random((1, 28, 28))
    grad, logits = inside.logit_gradient(model, x, 4)
    assert grad.shape == (1, 28, 28) and logits.shape == (1, 10)
    indices = np.sort(rng.choice(784, 40, replace=False))
    numeric = numerical_gradient(lambda: float(model.forward(x)[0, 4]), x, indices)
    assert_close(grad.reshape(-1)[indices], numeric, "dz_4/dx", rtol=1e-4, atol=1e-7)


def test_explaining_leaves_the_model_untouched_and_ignores_dropout(shipped, drawn):
    model = small_cnn()
    before = [{k: w.copy() for k, w in layer.params.items()} for layer in model.layers]
    x = drawn[1]
    first = inside.saliency(model, x, 3)
    second = inside.saliency(model, x, 3)
    np.testing.assert_array_equal(first, second)  # dropout (p=0.5) never dropped anything
    for layer, params in zip(model.layers, before, strict=True):
        assert not hasattr(layer, "x") and not hasattr(layer, "mask") and not hasattr(
            layer, "cols"), f"{layer!r} kept a training cache"
        for name, w in params.items():
            np.testing.assert_array_equal(layer.params[name], w)


def test_integrated_gradients_account_for_the_whole_logit(shipped, drawn):
    x = drawn[2]
    digit = int(shipped.predict_proba(x[None])[0].argmax())
    s = inside.integrated_gradients(shipped, x, digit, steps=64)
    z = shipped.predict_logits(np.stack([x, np.zeros_like(x)]))[:, digit]
    assert s.sum() == pytest.approx(float(z[0] - z[1]), rel=0.05)


def test_occlusion_is_the_fall_of_the_log_probability_pixel_by_pixel(shipped, drawn):
    x = drawn[3]
    digit = int(shipped.predict_proba(x[None])[0].argmax())
    s = inside.occlusion(shipped, x, digit)
    assert (s[x == 0] == 0).all()
    i, j = np.argwhere(x > 0)[5]
    wiped = x.copy()
    wiped[i, j] = 0
    p = shipped.predict_proba(np.stack([x, wiped]))[:, digit].astype(np.float64)
    assert s[i, j] == pytest.approx(np.log(p[0]) - np.log(p[1]), abs=1e-5)


def test_an_unknown_method_is_refused(shipped, drawn):
    with pytest.raises(ValueError, match="unknown saliency method"):
        inside.saliency(shipped, drawn[0], 1, "grad-cam-ish")


def test_the_default_saliency_passes_the_deletion_test(shipped, drawn):
    """Wiping the 5% most salient ink lowers the answer's probability more than wiping as
    much random ink, in at least 90% of re-drawn digits (issue 14's measure)."""
    passed = []
    for index, x in enumerate(drawn):
        digit = int(shipped.predict_proba(x[None])[0].argmax())
        ink = np.flatnonzero(x.reshape(-1) > 0)
        k = max(1, round(0.05 * len(ink)))
        s = inside.saliency(shipped, x, digit).reshape(-1)[ink]
        top = ink[np.argsort(-s, kind="stable")[:k]]
        rng = np.random.default_rng(index)
        random = rng.choice(ink, k, replace=False)
        passed.append(inside.deletion_drop(shipped, x, digit, top)
                      > inside.deletion_drop(shipped, x, digit, random))
    assert np.mean(passed) >= 0.9, f"only {np.mean(passed):.0%} of drawings pass"


def test_a_random_map_does_not_pass_the_deletion_test(shipped, drawn):
    """The control: the measure can fail (a map unrelated to the network passes about
    half the time)."""
    passed = []
    for index, x in enumerate(drawn[:60]):
        digit = int(shipped.predict_proba(x[None])[0].argmax())
        ink = np.flatnonzero(x.reshape(-1) > 0)
        k = max(1, round(0.05 * len(ink)))
        rng = np.random.default_rng(index)
        top = ink[np.argsort(-rng.random(len(ink)))[:k]]
        random = rng.choice(ink, k, replace=False)
        passed.append(inside.deletion_drop(shipped, x, digit, top)
                      > inside.deletion_drop(shipped, x, digit, random))
    assert np.mean(passed) < 0.8
