"""Thinning and tracing: simple shapes give the strokes a person would have drawn."""


import numpy as np
import pytest

from network.ink import render as ink
from network.ink import skeleton
from network.ink.pixels import to_uint8


def ring(inner=6.0, outer=9.0):
    yy, xx = np.mgrid[0:28, 0:28]
    r = np.hypot(xx - 13.5, yy - 13.5)
    return (r > inner) & (r < outer)


def plus():
    image = np.zeros((28, 28), bool)
    image[12:15, 4:24] = True
    image[4:24, 12:15] = True
    return image


def bar():
    image = np.zeros((28, 28), bool)
    image[12:15, 4:24] = True
    return image


def neighbour_counts(binary):
    padded = np.pad(binary, 1).astype(int)
    total = sum(
        padded[1 + dr : 29 + dr, 1 + dc : 29 + dc]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr, dc) != (0, 0)
    )
    return total[binary]


def direction(stroke):
    v = stroke[-1] - stroke[0]
    return v / np.hypot(*v)


def test_thin_reduces_a_thick_bar_to_a_one_pixel_line():
    skel = skeleton.thin(bar())
    assert skel.sum(axis=0).max() == 1  # one pixel per column
    assert set(np.nonzero(skel)[0]) == {13}  # on the bar's middle row
    assert skel.sum() >= 16  # thinning shortens the ends by at most two pixels each


def test_thin_keeps_a_ring_closed_and_one_pixel_thick():
    skel = skeleton.thin(ring())
    assert skel.sum() > 30
    assert neighbour_counts(skel).min() >= 2  # no loose ends: still a closed curve
    radius = np.hypot(*(np.argwhere(skel) - 13.5).T)
    assert 6 <= radius.min() and radius.max() <= 9


def test_thin_of_a_batch_equals_thin_of_each_image():
    batch = np.stack([ring(), plus(), bar(), np.zeros((28, 28), bool)])
    thinned = skeleton.thin(batch)
    assert thinned.shape == batch.shape and thinned.dtype == bool
    for image, skel in zip(batch, thinned, strict=True):
        np.testing.assert_array_equal(skel, skeleton.thin(image))
    assert not thinned[3].any()


def test_thin_rejects_a_wrongly_shaped_array():
    with pytest.raises(ValueError, match="shape"):
        skeleton.thin(np.zeros((2, 2, 2, 2), bool))


def test_a_ring_traces_to_one_closed_stroke():
    strokes = skeleton.trace(skeleton.thin(ring()))
    assert len(strokes) == 1
    stroke = strokes[0]
    np.testing.assert_array_equal(stroke[0], stroke[-1])  # closed
    radius = np.hypot(*(stroke - 13.5).T)
    assert 6 <= radius.min() and radius.max() <= 9
    angles = np.unwrap(np.arctan2(*(stroke - 13.5).T[::-1]))
    assert abs(abs(angles[-1] - angles[0]) - 2 * np.pi) < 0.2  # once around


def test_a_plus_traces_to_two_crossing_strokes():
    strokes = skeleton.trace(skeleton.thin(plus()))
    assert len(strokes) == 2
    directions = sorted(abs(direction(s)[0]) for s in strokes)
    assert directions[0] < 0.1 and directions[1] > 0.99  # one vertical, one horizontal
    for s in strokes:
        assert np.hypot(*(s[-1] - s[0])) >= 15  # each crosses the whole plus


def test_a_line_traces_to_one_stroke_from_end_to_end():
    strokes = skeleton.trace(skeleton.thin(bar()))
    assert len(strokes) == 1
    xs = sorted((strokes[0][0][0], strokes[0][-1][0]))
    assert xs[0] <= 6 and xs[1] >= 21
    np.testing.assert_allclose(strokes[0][:, 1], 13.0)  # [x, y]: y is the row


def test_a_t_traces_to_a_bar_and_a_stem():
    image = np.zeros((28, 28), bool)
    image[5:8, 4:24] = True
    image[5:24, 12:15] = True
    strokes = skeleton.trace(skeleton.thin(image))
    assert len(strokes) == 2
    horizontal = [s for s in strokes if abs(direction(s)[0]) > 0.95]
    assert len(horizontal) == 1 and np.hypot(*(horizontal[0][-1] - horizontal[0][0])) >= 15


def test_a_figure_eight_traces_to_one_closed_stroke():
    eight = np.zeros((28, 28), bool)
    yy, xx = np.mgrid[0:28, 0:28]
    for cy in (8.5, 18.5):
        r = np.hypot(xx - 13.5, yy - cy)
        eight |= (r > 3.2) & (r < 5.5)
    strokes = skeleton.trace(skeleton.thin(eight))
    assert len(strokes) == 1
    assert np.hypot(*(strokes[0][0] - strokes[0][-1])) <= 1.5  # ends where it started


def test_empty_and_single_pixel_skeletons():
    assert skeleton.trace(np.zeros((28, 28), bool)) == []
    dot = np.zeros((28, 28), bool)
    dot[3, 7] = True
    (stroke,) = skeleton.trace(dot)
    np.testing.assert_array_equal(stroke, [[7.0, 3.0]])


def test_image_to_strokes_round_trips_a_rendered_drawing():
    strokes = [[[10, 10], [60, 10], [30, 90]], [[20, 50], [50, 50]]]
    image = ink.render(strokes)
    again = ink.render(skeleton.image_to_strokes(image))
    overlap = ((image > 0.5) & (again > 0.5)).sum() / ((image > 0.5) | (again > 0.5)).sum()
    assert overlap > 0.7


def test_magnified_interpolates_between_pixel_centres():
    image = np.zeros((1, 4, 4), np.float32)
    image[0, 1, 1] = 1.0
    big = skeleton.magnified(image, 3)
    assert big.shape == (1, 12, 12)
    assert big[0, 4, 4] == 1.0  # the centre of pixel (1, 1) is at (4, 4) three times larger
    np.testing.assert_allclose(big[0, 4, 3], 2 / 3, atol=1e-6)  # a third of a pixel away
    np.testing.assert_allclose(skeleton.magnified(np.ones((2, 5, 5)), 3), 1.0, atol=1e-6)


def test_images_to_strokes_matches_one_image_at_a_time_in_original_pixels():
    images = np.stack([to_uint8(ink.render([[[0, 0], [0, 10]]])), to_uint8(ring())])
    batch = skeleton.images_to_strokes(images)
    assert len(batch) == 2
    for image, strokes in zip(images, batch, strict=True):
        one = skeleton.image_to_strokes(image)
        assert len(one) == len(strokes)
        for a, b in zip(one, strokes, strict=True):
            np.testing.assert_array_equal(a, b)
    (line,) = batch[0]
    assert np.abs(line[:, 0] - 14).max() < 0.6  # the vertical "1" at column 14
    assert line[:, 1].min() < 6.5 and line[:, 1].max() > 21.5  # most of its 17.4 px centre line
    with pytest.raises(ValueError, match="shape"):
        skeleton.images_to_strokes(np.zeros((28, 28)))
