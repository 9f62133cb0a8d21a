"""Optimisers: they minimise a quadratic, and weight decay shrinks weights but not biases."""

from __future__ import annotations

import numpy as np
import pytest

from network.nn.layers import Dense, Layer
from network.nn.optim import SGD, Adam


class Quadratic(Layer):
    """A parameter holder for f(W, b) = 1/2 sum a (W - W*)^2 + 1/2 sum (b - b*)^2."""

    def __init__(self, rng):
        super().__init__()
        self.curvature = rng.uniform(0.5, 4.0, (3, 4))    # ill-conditioned on purpose
        self.w_star = rng.standard_normal((3, 4))
        self.b_star = rng.standard_normal(4)
        self.params = {"W": np.zeros((3, 4)), "b": np.zeros(4)}

    def value(self):
        return (0.5 * np.sum(self.curvature * (self.params["W"] - self.w_star) ** 2)
                + 0.5 * np.sum((self.params["b"] - self.b_star) ** 2))

    def compute_grads(self):
        self.grads = {"W": self.curvature * (self.params["W"] - self.w_star),
                      "b": self.params["b"] - self.b_star}


def minimise(make_optimizer, steps):
    q = Quadratic(np.random.default_rng(0))
    opt = make_optimizer([(q, "W"), (q, "b")])
    start = q.value()
    for _ in range(steps):
        q.compute_grads()
        opt.step()
    return q, start


@pytest.mark.parametrize("make,steps", [
    (lambda p: SGD(p, lr=0.1), 300),
    (lambda p: SGD(p, lr=0.05, momentum=0.9), 300),
    (lambda p: Adam(p, lr=0.05), 1500),
])
def test_minimises_a_quadratic(make, steps):
    q, start = minimise(make, steps)
    assert start > 1.0
    assert q.value() < 1e-8 * start
    np.testing.assert_allclose(q.params["W"], q.w_star, atol=1e-4)
    np.testing.assert_allclose(q.params["b"], q.b_star, atol=1e-4)


def test_momentum_beats_plain_sgd_at_the_same_learning_rate():
    plain, _ = minimise(lambda p: SGD(p, lr=0.01), 100)
    heavy, _ = minimise(lambda p: SGD(p, lr=0.01, momentum=0.9), 100)
    assert heavy.value() < 0.1 * plain.value()


def test_adam_first_step_has_size_lr_in_every_coordinate():
    # bias correction makes the first step exactly lr * sign(g) (up to eps)
    q = Quadratic(np.random.default_rng(1))
    opt = Adam([(q, "W"), (q, "b")], lr=0.01)
    q.compute_grads()
    g = q.grads["W"].copy()
    opt.step()
    np.testing.assert_allclose(q.params["W"], -0.01 * np.sign(g), rtol=1e-4)


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.5),
    lambda p: Adam(p, lr=0.1, weight_decay=0.5),
])
def test_weight_decay_shrinks_weights_and_leaves_biases_alone(make):
    layer = Dense(4, 3, rng=np.random.default_rng(0))
    layer.params["b"] = np.full(3, 2.0, np.float32)
    w0 = layer.params["W"].copy()
    layer.grads = {"W": np.zeros_like(w0), "b": np.zeros(3, np.float32)}   # no loss at all
    opt = make([(layer, "W"), (layer, "b")])
    for _ in range(10):
        opt.step()
    # decoupled decay: w <- (1 - lr wd) w each step, nothing else moves with zero gradients
    np.testing.assert_allclose(layer.params["W"], w0 * (1 - 0.1 * 0.5) ** 10, rtol=1e-5)
    np.testing.assert_array_equal(layer.params["b"], np.full(3, 2.0, np.float32))
    assert layer.params["W"].dtype == np.float32


def test_updates_in_place_and_keeps_float32():
    layer = Dense(4, 3, rng=np.random.default_rng(0))
    w = layer.params["W"]
    layer.grads = {"W": np.ones_like(w), "b": np.ones(3, np.float32)}
    refs = [(layer, "W"), (layer, "b")]
    for opt in (SGD(refs, lr=0.1, momentum=0.5), Adam(refs, lr=0.1)):
        opt.step()
        assert layer.params["W"] is w                 # models hold references: no rebinding
        assert w.dtype == np.float32 and layer.params["b"].dtype == np.float32
    assert "lr=0.1" in repr(opt)
