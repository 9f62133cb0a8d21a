"""Ink to image: known shapes give known images, edge cases behave, and PNGs decode."""

import numpy as np
import pytest

from network.ink import render as ink


def ink_box(image, level=0.5):
    """Return (rows, columns) spanned by pixels above ``level``."""
    rows = np.nonzero((image > level).any(axis=1))[0]
    cols = np.nonzero((image > level).any(axis=0))[0]
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def circle(n=200, centre=(100.0, 100.0), radius=(50.0, 70.0)):
    t = np.linspace(0, 2 * np.pi, n)
    return np.stack([centre[0] + radius[0] * np.cos(t), centre[1] + radius[1] * np.sin(t)], 1)


SEVEN = [[[10, 10], [60, 10], [30, 90]], [[20, 50], [50, 50]]]


@pytest.mark.parametrize("strokes", [[], [[]], [np.zeros((0, 2))], (), [[], []]])
def test_no_ink_gives_a_blank_image(strokes):
    image = ink.render(strokes)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert not image.any()


def test_image_is_float32_in_unit_range_with_full_ink():
    image = ink.render(SEVEN)
    assert image.dtype == np.float32 and image.shape == (28, 28)
    assert image.min() == 0.0 and image.max() == 1.0


def test_horizontal_line_is_a_thin_centred_band_twenty_pixels_wide():
    image = ink.render([[[0, 5], [100, 5]]])
    rows, cols = ink_box(image)
    assert rows <= 3  # a ~2.6 px pen, not stretched vertically
    assert 19 <= cols <= 21  # the box is 20 px wide, ink included
    band = np.nonzero(image.max(axis=1) > 0.5)[0]
    assert abs(band.mean() - ink.CENTRE) <= 0.5
    around_centre = image[1:, 1:]  # rows and columns 1..27, mirrored about 14
    np.testing.assert_allclose(around_centre, around_centre[::-1, ::-1], atol=1e-3)


def test_vertical_one_stays_thin():
    image = ink.render([[[50, 0], [50, 300]]])
    rows, cols = ink_box(image)
    assert 19 <= rows <= 21 and cols <= 3


def test_single_point_is_a_small_round_dot_at_the_centre():
    image = ink.render([[[123.4, -56.7]]])
    rows, cols = ink_box(image, level=0.0)
    assert rows == cols and rows <= 5
    assert image.max() == 1.0
    np.testing.assert_allclose(image, image.T, atol=1e-6)  # round
    np.testing.assert_allclose(ink.centre_of_mass(image), [ink.CENTRE, ink.CENTRE], atol=0.05)


def test_repeated_points_are_one_dot():
    np.testing.assert_array_equal(ink.render([[[3, 3]] * 500]), ink.render([[[3, 3]]]))
    np.testing.assert_array_equal(ink.render([[[3, 3]], [[3, 3]]]), ink.render([[[3, 3]]]))


def test_aspect_ratio_is_kept():
    rectangle = [[[0, 0], [200, 0], [200, 100], [0, 100], [0, 0]]]
    rows, cols = ink_box(ink.render(rectangle))
    assert 19 <= cols <= 21
    # centre lines 2:1, the pen adds its width to both sides.
    assert abs((cols - ink.DEFAULT_WIDTH) / (rows - ink.DEFAULT_WIDTH) - 2.0) < 0.25


@pytest.mark.parametrize("strokes", [SEVEN, [circle()], [[[0, 0], [10, 30], [11, 31]]]])
def test_centre_of_mass_is_at_the_centre(strokes):
    com = ink.centre_of_mass(ink.render(strokes))
    np.testing.assert_allclose(com, [ink.CENTRE, ink.CENTRE], atol=0.1)


def test_random_drawings_are_centred_and_fit_the_box():
    rng = np.random.default_rng(0)
    for _ in range(50):
        strokes = [rng.uniform(0, 280, size=(rng.integers(1, 30), 2)) for _ in range(3)]
        image = ink.render(strokes)
        np.testing.assert_allclose(ink.centre_of_mass(image), [14, 14], atol=0.5)
        assert max(ink_box(image)) <= 22


def test_scale_and_translation_do_not_change_the_image():
    reference = ink.render(SEVEN)
    for factor, shift in [(10.0, -1e6), (0.001, 5.0), (1e-200, 1e-200), (1e300, -1e302)]:
        moved = [np.asarray(s, dtype=float) * factor + shift for s in SEVEN]
        np.testing.assert_allclose(ink.render(moved), reference, atol=1e-4)


def test_extreme_coordinates_near_the_float_limits_render():
    image = ink.render([[[-1.7e308, -1.7e308], [1.7e308, 1.7e308]]])
    assert np.isfinite(image).all() and image.max() == 1.0
    np.testing.assert_allclose(image, ink.render([[[0, 0], [1, 1]]]), atol=1e-5)


def test_thousands_of_points_draw_the_same_shape_with_bounded_work():
    few, many = ink.render([circle(200)]), ink.render([circle(20000)])
    assert np.abs(few - many).max() < 0.1
    a, _, _ = ink._segments([circle(20000)], 17.4)
    assert a.shape[1] <= 100  # about one segment per pixel of ink, however many points


def test_a_dense_random_scribble_keeps_its_point_budget():
    rng = np.random.default_rng(1)
    scribble = rng.uniform(0, 1000, size=(50000, 2))
    a, _, _ = ink._segments([scribble], 17.4)
    assert a.shape[1] <= ink.MAX_POINTS + 1
    image = ink.render([scribble])
    assert np.isfinite(image).all() and 0 < image.mean() <= 1


def test_arrays_and_lists_give_the_same_image():
    as_arrays = [np.asarray(s, dtype=np.float32) for s in SEVEN]
    np.testing.assert_allclose(ink.render(as_arrays), ink.render(SEVEN), atol=1e-6)


@pytest.mark.parametrize("width", [0, -1, np.nan, np.inf, 100, "wide"])
def test_bad_widths_are_rejected(width):
    with pytest.raises(ValueError, match="width"):
        ink.render(SEVEN, width=width)


def test_width_thickens_the_stroke():
    thin, thick = ink.render(SEVEN, width=1.0), ink.render(SEVEN, width=4.0)
    assert thick.sum() > 2 * thin.sum()
    assert ink_box(ink.render([[[0, 0], [0, 1]]], width=4.0), level=0.3)[1] >= 4


def test_default_width_gives_about_mnist_ink_per_length():
    # A 20 px line of the default pen holds about DEFAULT_WIDTH ink per pixel of length.
    image = ink.render([[[0, 0], [100, 0]]])
    length = 20 - ink.DEFAULT_WIDTH
    assert abs(image.sum() / length - ink.DEFAULT_WIDTH) < 0.5


def test_render_many_matches_render():
    drawings = [SEVEN, [circle()], []]
    batch = ink.render_many(drawings, width=[2.0, 3.0, 2.5])
    assert batch.shape == (3, 28, 28) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], ink.render(SEVEN, width=2.0))
    np.testing.assert_array_equal(batch[1], ink.render([circle()], width=3.0))
    assert not batch[2].any()
    with pytest.raises(ValueError, match="widths"):
        ink.render_many(drawings, width=[2.0])
