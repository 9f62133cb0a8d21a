"""Several digits: groups of ink side by side.  One digit in many strokes is one group,
never several; digits written side by side are several; the work stays small."""

import sys

import numpy as np
import pytest
from support.drawings import draw_digit
from support.mnist_files import find_mnist

from network.ink.groups import GAP, groups, several
from network.training import hands
from network.training.nondigits import side_by_side
from network.training.styles import STYLES

MNIST = find_mnist()


def line(*points):
    return np.array(points, dtype=np.float64)


def in_every_hand(strokes, seed):
    """The strokes drawn once in each of the hands."""
    rng = np.random.default_rng(seed)
    return [variation(strokes, rng)[0] for variation in hands.VARIATIONS.values()]


# --- what the groups are ------------------------------------------------------------------------


def test_no_ink_is_no_group_and_one_stroke_is_one():
    assert groups([]) == [] and groups([np.zeros((0, 2))]) == []
    assert groups([line([0, 0], [1, 5])]) == [[0]]
    assert groups([[[0.0, 0.0]]]) == [[0]]  # lists of points work as well as arrays
    assert not several([line([0, 0], [1, 5])])


def test_digits_side_by_side_are_groups_left_to_right_and_empty_strokes_are_skipped():
    one, two = line([0, 0], [0, 10]), line([4, 2], [7, 0], [9, 3], [4, 10], [9, 10])
    assert groups([two, np.zeros((0, 2)), one]) == [[2], [0]]
    zero = np.stack([10 + 3 * np.cos(np.linspace(0, 6.3, 30)),
                     5 + 5 * np.sin(np.linspace(0, 6.3, 30))], axis=1)
    seven = [line([16, 0], [22, 0], [18, 10]), line([17, 5], [21, 5])]
    assert groups([zero, one, zero + [-20, 0], *seven]) == [[2], [1], [0], [3, 4]]  # "0107"
    assert several([one, two])


def test_a_gap_narrower_than_the_threshold_keeps_strokes_together():
    left, right = line([0, 0], [0, 10]), line([0, 0], [0, 10])
    assert groups([left, right + [0.9 * GAP * 10, 0]]) == [[0, 1]]
    assert groups([left, right + [1.1 * GAP * 10, 0]]) == [[0], [1]]


def test_slanted_writing_is_stood_upright_before_looking_for_gaps():
    """Two 1s leaning 25 degrees overlap in x, but not once the slant is taken out."""
    lean = np.tan(np.radians(25))
    one = line([lean * 10, 0], [0, 10])
    assert one[:, 0].max() > (one + [4, 0])[:, 0].min()  # their x spans overlap
    assert groups([one, one + [4, 0]]) == [[0], [1]]


def test_a_small_part_apart_from_its_digit_stays_with_it():
    """A 5's bar drawn last, well to the right of the body, or a stray tap beside a digit,
    is a part, not a digit of its own."""
    body = line([0, 3], [0, 5], [4, 6], [5, 8], [4, 10], [0, 10])
    bar = line([7, 3], [10, 3])
    assert groups([body, bar]) == [[0, 1]]
    tap = line([-3, 9])
    assert groups([tap, body]) == [[0, 1]]
    assert groups([line([0, 0]), line([50, 0]), line([90, 0], [99, 0])]) == [[0, 1, 2]]


def test_the_input_is_not_changed():
    strokes = [line([4, 0], [0, 10]), line([10, 0], [6, 10])]
    copies = [s.copy() for s in strokes]
    groups(strokes)
    for a, b in zip(strokes, copies, strict=True):
        np.testing.assert_array_equal(a, b)


# --- on drawn ink --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STYLES))
def test_every_style_in_every_hand_is_one_group(name):
    """A 5's bar, a 4 in two strokes, a 7's crossbar, a 1's base, a slashed or dotted 0,
    a sketchy hand's dashes: all one digit, in every one of many samples."""
    for seed in range(6):
        strokes = STYLES[name].make(np.random.default_rng(seed))
        for drawn in in_every_hand(strokes, seed):
            assert len(groups(drawn)) == 1


def test_plain_digits_in_every_hand_are_one_group():
    for digit in range(10):
        strokes = [np.array(s) for s in draw_digit(digit)]
        for seed in range(5):
            assert not any(several(d) for d in in_every_hand(strokes, seed))


@pytest.mark.skipif(MNIST is None, reason="MNIST is not available")
def test_traced_mnist_digits_in_every_hand_are_almost_never_split():
    from network.ink.skeleton import images_to_strokes
    from network.training.mnist import load_mnist

    images, _ = load_mnist(MNIST, "test")
    split = total = 0
    for seed, strokes in enumerate(images_to_strokes(images[:300])):
        for drawn in [strokes, *in_every_hand(strokes, seed)]:
            split += several(drawn)
            total += 1
    assert split / total <= 0.003  # measured: 0 to 2 in 10,000


def test_digits_side_by_side_in_every_hand_are_mostly_several():
    names = list(STYLES)
    rng = np.random.default_rng(0)
    found = total = 0
    for seed in range(60):
        digits = [STYLES[names[int(rng.integers(len(names)))]].make(rng) for _ in range(2)]
        pair = side_by_side(digits, rng, gap=(0.15, 0.5))
        for drawn in in_every_hand(pair, seed):
            found += several(drawn)
            total += 1
    assert found / total >= 0.9  # measured: about 0.95
    rng = np.random.default_rng(1)
    for _ in range(30):
        digits = [STYLES[names[int(rng.integers(len(names)))]].make(rng) for _ in range(3)]
        drawn, _ = hands.natural(side_by_side(digits, rng, gap=(0.3, 0.5)), rng)
        assert len(groups(drawn)) == 3  # "007", upright and well apart


# --- the work stays small ------------------------------------------------------------------------


def events(strokes):
    """Python and C calls (and returns) made by ``groups``: its work, counted, not timed."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        count += 1

    sys.setprofile(profile)
    try:
        groups(strokes)
    finally:
        sys.setprofile(None)
    return count


def test_the_work_is_a_few_calls_per_stroke_whatever_the_points():
    rng = np.random.default_rng(0)
    typical, _ = hands.natural(STYLES["seven_crossed"].make(rng), rng)
    assert events(typical) <= 150  # about 95: a dozen array operations and a loop
    long = [np.repeat(s, 20, axis=0) for s in typical]  # 20 times the points, same work
    assert events(long) == events(typical)
    for k in (20, 40):
        close = [line([i * 3.0, 0], [i * 3.0 + 5, 50]) for i in range(k)]
        dots = [line([i * 30.0, 0]) for i in range(k)] + [line([0, 0], [0, 50])]
        assert events(close) <= 30 * k + 100 and events(dots) <= 40 * k + 100
    # Linear in the strokes: twice the strokes, at most about twice the work.
    many = [line([i * 30.0, 0], [i * 30.0 + 5, 50]) for i in range(80)]
    assert events(many) <= 2.2 * events(many[:40])
