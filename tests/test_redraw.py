"""Re-drawing MNIST through the app's ink path: deterministic, varied pens, faithful."""

import numpy as np
import pytest
from support.mnist_files import find_mnist

from network.ink import render as ink
from network.ink import skeleton
from network.ink.pixels import to_uint8
from network.training.mnist import load_mnist
from network.training.redraw import redraw_batch

MNIST = find_mnist()


def test_redraw_batch_is_deterministic_and_uses_random_widths():
    image = to_uint8(ink.render([[[10, 10], [60, 10], [30, 90]]]))
    images = np.stack([image] * 8 + [np.zeros((28, 28), np.uint8)])
    first = redraw_batch(images, np.random.default_rng(3), width_range=(1.0, 4.0))
    second = redraw_batch(images, np.random.default_rng(3), width_range=(1.0, 4.0))
    assert first.shape == images.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    ink_amounts = first[:8].sum(axis=(1, 2))
    assert ink_amounts.max() > 1.5 * ink_amounts.min()  # different pens
    assert not first[8].any()  # a blank image stays blank
    assert first.min() >= 0.0 and first.max() <= 1.0


@pytest.mark.skipif(MNIST is None, reason="MNIST is not available")
def test_redrawn_mnist_digits_overlap_their_originals():
    images, _ = load_mnist(MNIST, "test")
    images = images[:200]
    redrawn = redraw_batch(images, np.random.default_rng(0), width_range=(2.6, 2.6))
    original = images > 127
    drawn = redrawn > 0.5
    overlap = (original & drawn).sum(axis=(1, 2)) / (original | drawn).sum(axis=(1, 2))
    assert np.median(overlap) > 0.5
    # Strokes are found for every digit, mostly one to three of them.
    counts = [len(skeleton.image_to_strokes(im)) for im in images]
    assert min(counts) >= 1 and np.median(counts) <= 3
