"""Outlier exposure: non-digit families, kept apart for training and measuring, and the
uniform target they are trained towards."""

import numpy as np
import pytest

from network.ink import render as ink
from network.ink.groups import several
from network.nn.losses import softmax, softmax_cross_entropy
from network.training import hands, nondigits, styles
from network.training.nondigits import (
    DISGUISED,
    HELDOUT,
    LETTERS_HELDOUT,
    LETTERS_TRAINING,
    LIKE_TRAINING,
    TRAINING,
    nondigit_drawings,
    nondigit_images,
    outlier_images,
)

FAMILIES = {**TRAINING, **HELDOUT}


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


# --- the split ------------------------------------------------------------------------------


def test_training_and_held_out_families_are_apart_and_named_like_their_makers():
    assert not set(TRAINING) & set(HELDOUT)
    assert LIKE_TRAINING < set(HELDOUT)
    assert len(set(HELDOUT) - LIKE_TRAINING) >= 8  # enough for an honest figure
    for name, make in FAMILIES.items():
        assert make.__name__ == name and make.__doc__


def test_letters_are_split_without_overlap_and_disguised_digits_are_in_neither():
    for group in (LETTERS_TRAINING, LETTERS_HELDOUT, DISGUISED):
        assert len(set(group)) == len(group)
    assert not set(LETTERS_TRAINING) & set(LETTERS_HELDOUT)
    assert not set(DISGUISED) & (set(LETTERS_TRAINING) | set(LETTERS_HELDOUT))
    assert set(LETTERS_TRAINING + LETTERS_HELDOUT + DISGUISED) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    )
    for letters in (LETTERS_TRAINING, LETTERS_HELDOUT):
        assert any(c.isupper() for c in letters) and any(c.islower() for c in letters)
        assert len(letters) >= 12


def test_a_letter_and_its_look_alike_other_case_are_on_the_same_side():
    """After the renderer fits a drawing to its box, c is C: splitting such a pair
    across the sides would leak the held-out letter into training."""
    for upper in "CKPUVWX":
        lower = upper.lower()
        assert (upper in LETTERS_HELDOUT) == (lower in LETTERS_HELDOUT)
        assert (upper in LETTERS_TRAINING) == (lower in LETTERS_TRAINING)


def test_the_symbols_the_issue_names_are_all_there_split_between_the_sides():
    trained = {nondigits.plus, nondigits.equals, nondigits.percent, nondigits.question}
    held_out = {nondigits.hash_sign, nondigits.ampersand, nondigits.at_sign, nondigits.dollar}
    assert trained <= set(TRAINING.values()) and held_out <= set(HELDOUT.values())


# --- each family draws what it says ---------------------------------------------------------


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_is_deterministic_and_renders_in_every_hand(name):
    make = FAMILIES[name]
    a, b = make(np.random.default_rng(5)), make(np.random.default_rng(5))
    assert len(a) == len(b)
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa, sb)
    for seed, variation in enumerate(hands.VARIATIONS.values()):
        rng = np.random.default_rng(seed)
        strokes, kwargs = variation(make(rng), rng)
        points = np.concatenate(strokes)
        assert points.min() >= 0 and points.max() <= hands.CANVAS - 1
        assert ink.render(strokes, **kwargs).max() > 0.5


@pytest.mark.parametrize("char", LETTERS_TRAINING + LETTERS_HELDOUT + "+=%?#&@$")
def test_every_glyph_renders_as_more_than_a_speck(char):
    make = nondigits.letter if char.isalpha() else nondigits.symbol
    image = ink.render(make(char, np.random.default_rng(0)))
    assert (image > 0.5).sum() >= 20


def test_lines_stay_far_from_vertical_so_that_no_hand_makes_them_a_one():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        for make in (nondigits.straight_line, nondigits.dash):
            for stroke in make(rng):
                dx, dy = stroke[-1] - stroke[0]
                assert np.degrees(np.arctan2(abs(dy), abs(dx))) <= 15.01


def test_a_dot_is_one_place():
    (stroke,) = nondigits.dot(np.random.default_rng(0))
    assert len(np.unique(stroke, axis=0)) == 1


def test_digits_side_by_side_are_several_groups_in_order():
    rng = np.random.default_rng(0)
    digits = [styles.STYLES[name].make(rng) for name in ("one_plain", "two_plain", "zero_plain")]
    strokes = nondigits.side_by_side(digits, rng, gap=(0.3, 0.3))
    assert len(strokes) == 3
    lefts = [s[:, 0].min() for s in strokes]
    rights = [s[:, 0].max() for s in strokes]
    assert lefts[1] - rights[0] == pytest.approx(0.3) and lefts[2] - rights[1] == pytest.approx(0.3)
    heights = [np.ptp(s[:, 1]) for s in strokes]
    assert min(heights) >= 0.89 and max(heights) <= 1.11
    assert several(strokes)
    for seed in range(20):
        assert len(nondigits.digit_triples(np.random.default_rng(seed))) >= 3


def test_the_four_prefix_is_the_first_stroke_of_a_two_stroke_four():
    for seed in range(20):
        (arm,) = nondigits.four_arm(np.random.default_rng(seed))
        d = np.diff(arm, axis=0)
        horizontal = np.abs(d[:, 1]) <= 0.3 * np.abs(d[:, 0])
        assert np.ptp(arm[1:][horizontal][:, 0]) >= 0.3  # it ends in the bar
        assert np.ptp(arm[:, 1]) <= 0.8  # without the stem it is short of a digit's height


# --- drawings and images ------------------------------------------------------------------------


def test_nondigit_drawings_are_balanced_over_families_and_repeatable():
    n = 2 * len(HELDOUT) + 3
    first = nondigit_drawings(n, np.random.default_rng(4), HELDOUT)
    again = nondigit_drawings(n, np.random.default_rng(4), HELDOUT)
    counts = [sum(d.family == name for d in first) for name in HELDOUT]
    assert set(counts) <= {2, 3}
    assert len({d.hand for d in first}) >= 5
    for a, b in zip(first, again, strict=True):
        assert (a.family, a.hand, a.kwargs) == (b.family, b.hand, b.kwargs)
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)


def test_nondigit_images_draw_only_the_families_asked_for():
    asked = []
    families = {"tick": lambda rng: asked.append("tick") or nondigits.tick(rng)}
    images = nondigit_images(4, np.random.default_rng(0), families)
    assert asked == ["tick"] * 4 and images.shape == (4, 28, 28)


def test_outlier_images_are_training_non_digits_on_a_28x28_field_and_reproducible():
    a = outlier_images(2 * len(TRAINING), np.random.default_rng(5))
    b = outlier_images(2 * len(TRAINING), np.random.default_rng(5))
    assert a.shape == (2 * len(TRAINING), 28, 28) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert (a.reshape(len(a), -1).max(axis=1) > 0.5).all()  # every image has ink
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, nondigit_images(len(a), np.random.default_rng(5)))
