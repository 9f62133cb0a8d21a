"""Outlier exposure: non-digit shapes and the uniform target they are trained towards."""

import numpy as np

from network.losses import softmax, softmax_cross_entropy
from network.outliers import GENERATORS, outlier_images


def test_label_minus_one_targets_the_uniform_distribution():
    logits = np.array([[3.0, -1.0, 0.5], [0.2, 0.1, -0.4]], dtype=np.float64)
    loss, grad = softmax_cross_entropy(logits, np.array([0, -1]))
    p = softmax(logits)
    expected = -(np.log(p[0, 0]) + np.log(p[1]).mean()) / 2
    assert np.isclose(loss, expected)
    assert np.allclose(grad[1], (p[1] - 1 / 3) / 2)
    assert np.allclose(grad[0], (p[0] - [1, 0, 0]) / 2)


def test_uniform_logits_are_the_minimum_for_an_outlier():
    _, grad = softmax_cross_entropy(np.zeros((1, 10)), np.array([-1]))
    assert np.allclose(grad, 0.0)


def test_outlier_images_are_ink_on_a_28x28_field_and_reproducible():
    a = outlier_images(2 * len(GENERATORS), np.random.default_rng(5))
    b = outlier_images(2 * len(GENERATORS), np.random.default_rng(5))
    assert a.shape == (2 * len(GENERATORS), 28, 28) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert (a.reshape(len(a), -1).max(axis=1) > 0.5).all()     # every image has ink
    assert a.min() >= 0.0 and a.max() <= 1.0
