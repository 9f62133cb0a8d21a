"""Outlier exposure: non-digit shapes and the uniform target they are trained towards."""

import numpy as np
import pytest

from network.ink import render as ink
from network.nn.losses import softmax, softmax_cross_entropy
from network.training import hands, nondigits
from network.training.nondigits import TRAINING, outlier_images


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
    a = outlier_images(2 * len(TRAINING), np.random.default_rng(5))
    b = outlier_images(2 * len(TRAINING), np.random.default_rng(5))
    assert a.shape == (2 * len(TRAINING), 28, 28) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert (a.reshape(len(a), -1).max(axis=1) > 0.5).all()     # every image has ink
    assert a.min() >= 0.0 and a.max() <= 1.0


@pytest.mark.parametrize("name", list(nondigits.HELDOUT))
def test_non_digits_are_deterministic_on_canvas_and_render(name):
    make = nondigits.HELDOUT[name]
    a, b = make(np.random.default_rng(5)), make(np.random.default_rng(5))
    assert a[1] == b[1] and len(a[0]) == len(b[0])
    for sa, sb in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(sa, sb)
    points = np.concatenate(a[0])
    assert points.min() >= 0 and points.max() <= hands.CANVAS - 1
    assert ink.render(a[0], **a[1]).max() > 0.5


def test_a_dot_is_one_place_and_a_line_is_not_vertical():
    strokes, _ = nondigits.dot(np.random.default_rng(0))
    assert len(np.unique(np.concatenate(strokes), axis=0)) == 1
    for seed in range(20):
        (line,), _ = nondigits.straight_line(np.random.default_rng(seed))
        dx, dy = line[-1] - line[0]
        assert np.degrees(np.arctan2(abs(dy), abs(dx))) <= 31


def test_shapes_like_the_training_outliers_are_named_non_digits_and_some_are_held_out():
    assert nondigits.LIKE_TRAINING < set(nondigits.HELDOUT)
    assert len(set(nondigits.HELDOUT) - nondigits.LIKE_TRAINING) >= 5
