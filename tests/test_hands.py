"""The ways people draw: each variation is repeatable, stays on the canvas and does what
its name says, measurably."""

import numpy as np
import pytest

from network.ink import render as ink
from network.training import hands

SEVEN = [np.array([[2.0, 3.0], [20.0, 3.0], [10.0, 25.0]]), np.array([[6.0, 13.0], [16.0, 13.0]])]
VERTICAL = [np.array([[10.0, 0.0], [10.0, 20.0]])]
HORIZONTAL = [np.array([[0.0, 10.0], [20.0, 10.0]])]


def box(strokes):
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def spacings(strokes):
    return np.concatenate([np.hypot(*np.diff(s, axis=0).T) for s in strokes if len(s) > 1])


def samples(variation, strokes=SEVEN, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return [variation(strokes, rng) for _ in range(n)]


@pytest.mark.parametrize("name", list(hands.VARIATIONS))
def test_variations_are_deterministic_under_a_seed(name):
    first = samples(hands.VARIATIONS[name], n=3, seed=7)
    second = samples(hands.VARIATIONS[name], n=3, seed=7)
    for (a, kwa), (b, kwb) in zip(first, second, strict=True):
        assert kwa == kwb and len(a) == len(b)
        for sa, sb in zip(a, b, strict=True):
            np.testing.assert_array_equal(sa, sb)
    other = samples(hands.VARIATIONS[name], n=1, seed=8)[0][0]
    assert not all(
        len(x) == len(y) and np.array_equal(x, y) for x, y in zip(other, first[0][0], strict=False)
    )


@pytest.mark.parametrize("name", list(hands.VARIATIONS))
def test_variations_stay_on_the_canvas_in_whole_pixels_and_render(name):
    for strokes, kwargs in samples(hands.VARIATIONS[name]):
        points = np.concatenate(strokes)
        assert points.min() >= 0 and points.max() <= hands.CANVAS - 1
        np.testing.assert_array_equal(points, np.round(points))
        assert set(kwargs) <= {"width"}
        image = ink.render(strokes, **kwargs)
        assert image.max() > 0.5


def test_natural_drawings_are_mid_sized_and_near_the_centre():
    for strokes, _ in samples(hands.natural):
        lo, hi = box(strokes)
        assert 135 <= (hi - lo).max() <= 212
        assert np.abs((lo + hi) / 2 - hands.CANVAS / 2).max() <= 22


def test_tiny_in_a_corner_is_tiny_and_in_a_corner():
    corners = set()
    for strokes, _ in samples(hands.tiny_in_a_corner, n=40):
        lo, hi = box(strokes)
        assert (hi - lo).max() <= 31
        near_low = hi <= 45
        near_high = lo >= hands.CANVAS - 46
        assert np.all(near_low | near_high)
        corners.add(tuple(near_high))
    assert len(corners) == 4  # every corner gets used


def test_filling_the_canvas_spans_it():
    for strokes, _ in samples(hands.filling_the_canvas):
        lo, hi = box(strokes)
        assert (hi - lo).max() >= 0.93 * hands.CANVAS


def test_pens_are_thinner_and_thicker_than_the_default():
    thin = [kw["width"] for _, kw in samples(hands.thin_pen)]
    thick = [kw["width"] for _, kw in samples(hands.thick_pen)]
    assert max(thin) < 0.6 * ink.DEFAULT_WIDTH and min(thick) > 1.3 * ink.DEFAULT_WIDTH
    strokes, kwargs = samples(hands.thin_pen, n=1)[0]
    same_strokes, _ = samples(hands.natural, n=1)[0]
    for a, b in zip(strokes, same_strokes, strict=True):
        np.testing.assert_array_equal(a, b)  # only the pen differs from a natural drawing
    assert ink.render(strokes, **kwargs).sum() < 0.7 * ink.render(strokes).sum()


def test_slanted_leans_a_vertical_stroke_by_ten_to_twenty_degrees():
    signs = set()
    for strokes, _ in samples(hands.slanted, strokes=VERTICAL):
        (stroke,) = strokes
        dx, dy = stroke[-1] - stroke[0]
        angle = np.degrees(np.arctan2(abs(dx), abs(dy)))
        assert 9 <= angle <= 21
        signs.add(np.sign(dx) * np.sign(dy))
    assert signs == {-1.0, 1.0}


def test_rotated_turns_a_horizontal_stroke_by_ten_to_twenty_degrees():
    for strokes, _ in samples(hands.rotated, strokes=HORIZONTAL):
        (stroke,) = strokes
        dx, dy = stroke[-1] - stroke[0]
        assert 9 <= np.degrees(np.arctan2(abs(dy), abs(dx))) <= 21


def test_jittery_wanders_around_the_path_by_a_few_pixels():
    deviations = []
    for strokes, _ in samples(hands.jittery, strokes=HORIZONTAL):
        (stroke,) = strokes
        deviations.append(np.abs(stroke[1:-1, 1] - np.median(stroke[:, 1])).mean())
    assert 1.0 <= np.mean(deviations) <= 5.0
    for strokes, _ in samples(hands.natural, strokes=HORIZONTAL):
        assert np.ptp(strokes[0][:, 1]) <= 1  # without jitter the line stays straight


def test_many_short_strokes_splits_into_short_dashes():
    for strokes, _ in samples(hands.many_short_strokes):
        assert len(strokes) >= 4 * len(SEVEN)
        lengths = [np.hypot(*np.diff(s, axis=0).T).sum() for s in strokes]
        assert max(lengths) <= 40


def test_uneven_speed_has_fast_and_slow_stretches():
    for strokes, _ in samples(hands.uneven_speed):
        gaps = spacings(strokes)
        assert gaps.max() >= 10 and np.percentile(gaps, 10) <= 3
    even = spacings(samples(hands.natural, n=1)[0][0])
    assert np.std(even[:-2]) / np.mean(even[:-2]) < 0.35


def test_variations_keep_the_digit_recognisably_the_same_shape():
    reference = ink.render(SEVEN)
    for name in ("natural", "tiny_in_a_corner", "filling_the_canvas", "uneven_speed"):
        for strokes, kwargs in samples(hands.VARIATIONS[name], n=5):
            image = ink.render(strokes, **kwargs)
            overlap = ((image > 0.5) & (reference > 0.5)).sum() / (
                (image > 0.5) | (reference > 0.5)
            ).sum()
            assert overlap > 0.5, name


def test_in_any_hand_picks_every_variation_and_draws_as_it_does():
    rng = np.random.default_rng(3)
    names = [hands.in_any_hand(SEVEN, rng)[2] for _ in range(200)]
    assert set(names) == set(hands.VARIATIONS)
    strokes, kwargs, name = hands.in_any_hand(SEVEN, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    rng.integers(len(hands.VARIATIONS))  # the pick comes first, then the variation's draws
    expected, expected_kwargs = hands.VARIATIONS[name](SEVEN, rng)
    assert kwargs == expected_kwargs
    for a, b in zip(strokes, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    only = {hands.in_any_hand(SEVEN, rng, ("thin_pen",))[2] for _ in range(5)}
    assert only == {"thin_pen"}
