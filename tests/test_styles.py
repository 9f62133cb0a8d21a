"""Allographs: each style is measurably what its name says, repeatable, drawable in every
hand, and cheap to make in bulk."""

import sys

import numpy as np
import pytest
from support.mnist_files import find_mnist

from network.ink import render as ink
from network.training import hands, styles
from network.training.styles import STYLES

MNIST = find_mnist()
SEEDS = range(40)


# --- geometry for the checks ------------------------------------------------------------------


def crossings(a, b):
    """Number of proper crossings between the segments of polylines a (n, 2) and b (m, 2)."""
    p, r = a[:-1, None], (a[1:] - a[:-1])[:, None]
    q, s = b[None, :-1], (b[1:] - b[:-1])[None]
    denominator = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / denominator
        u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / denominator
    hit = (denominator != 0) & (t > 0) & (t < 1) & (u > 0) & (u < 1)
    return hit


def self_crossing_points(stroke):
    """Where a stroke crosses itself (non-neighbouring segments), as (k, 2) points."""
    hit = np.triu(crossings(stroke, stroke), k=2)
    i, _ = np.nonzero(hit)
    return stroke[i]


def inside(point, ring):
    """Whether point lies inside the polygon through the ring's points (ray casting)."""
    x, y = point
    a, b = ring, np.roll(ring, -1, axis=0)
    straddles = (a[:, 1] > y) != (b[:, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return bool(np.count_nonzero(straddles & (x < at)) % 2)


def box(strokes):
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def height(strokes):
    lo, hi = box(strokes)
    return float(hi[1] - lo[1])


def length(stroke):
    return float(np.hypot(*np.diff(stroke, axis=0).T).sum())


def closed(stroke, tolerance=0.15):
    """Whether the stroke's last third comes back to its start (stopping short or running
    a little past it)."""
    tail = stroke[2 * len(stroke) // 3 :]
    return np.hypot(*(tail - stroke[0]).T).min() <= tolerance * np.ptp(stroke[:, 1])


def runs(stroke, horizontal):
    """Maximal runs of consecutive segments within ~15 degrees of the horizontal (or of
    the vertical), as (start, stop) point indices, longest first."""
    d = np.diff(stroke, axis=0)
    along, across = (d[:, 0], d[:, 1]) if horizontal else (d[:, 1], d[:, 0])
    good = np.abs(across) <= 0.3 * np.abs(along)
    found, start = [], None
    for i, g in enumerate([*good, False]):
        if g and start is None:
            start = i
        elif not g and start is not None:
            found.append((start, i))
            start = None
    axis = 0 if horizontal else 1
    return sorted(found, key=lambda r: np.ptp(stroke[r[0] : r[1] + 1, axis]), reverse=True)


def longest_run(stroke, horizontal):
    start, stop = runs(stroke, horizontal)[0]
    return stroke[start : stop + 1]


def samples(name, seeds=SEEDS, base=None):
    return [STYLES[name].make(np.random.default_rng(seed), base) for seed in seeds]


def flag_of(stroke):
    """The part of a 1's stroke before its highest point (its flag or hook) and the stem."""
    top = int(np.argmin(stroke[:, 1]))
    return stroke[: top + 1], stroke[top:]


# --- the catalogue ---------------------------------------------------------------------------


def test_every_style_the_issue_lists_is_there_under_its_digit():
    wanted = {
        0: {"zero_plain", "zero_slashed", "zero_dotted", "zero_round", "zero_narrow",
            "zero_open"},
        1: {"one_plain", "one_flag", "one_flag_base", "one_base", "one_hook"},
        2: {"two_plain", "two_loop"},
        3: {"three_flat_top"},
        4: {"four_closed", "four_open", "four_one_stroke", "four_two_strokes", "four_long_stem",
            "four_narrow"},
        5: {"five_bar_first", "five_bar_last", "five_round"},
        6: {"six_small_loop", "six_large_loop"},
        7: {"seven_plain", "seven_crossed", "seven_curved", "seven_hooked"},
        8: {"eight_two_circles", "eight_one_stroke"},
        9: {"nine_straight", "nine_curved"},
    }
    for digit, names in wanted.items():
        assert {n for n, s in STYLES.items() if s.digit == digit} == names
    assert [s.digit for s in STYLES.values()] == sorted(s.digit for s in STYLES.values())
    for style in STYLES.values():
        assert style.description.split(":")[0] in {"Edit", "Template"}
        assert style.description.startswith("Edit") == style.edits
        assert style.name in repr(style)
    assert styles.EDITED_DIGITS == (0, 1, 7)


@pytest.mark.parametrize("name", list(STYLES))
def test_styles_are_deterministic_under_a_seed_and_vary_between_seeds(name):
    first, again, other = samples(name, [3])[0], samples(name, [3])[0], samples(name, [4])[0]
    assert len(first) == len(again)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(
        a.shape == b.shape and np.allclose(a, b) for a, b in zip(first, other, strict=False)
    )


@pytest.mark.parametrize("name", list(STYLES))
def test_every_style_renders_in_every_hand(name):
    for seed, variation in enumerate(hands.VARIATIONS.values()):
        rng = np.random.default_rng(seed)
        strokes, kwargs = variation(STYLES[name].make(rng), rng)
        points = np.concatenate(strokes)
        assert points.min() >= 0 and points.max() <= hands.CANVAS - 1
        image = ink.render(strokes, **kwargs)
        assert image.shape == (28, 28) and image.max() > 0.5
        assert (image > 0.5).sum() >= 15  # a digit's worth of ink, not a speck


# --- each style is what it says --------------------------------------------------------------


@pytest.mark.parametrize("name, low, high", [
    ("zero_plain", 0.5, 0.85), ("zero_round", 0.85, 1.12), ("zero_narrow", 0.25, 0.5),
])
def test_zeros_are_one_closed_oval_of_their_proportions(name, low, high):
    for strokes in samples(name):
        (ring,) = strokes
        assert closed(ring)
        lo, hi = box(strokes)
        assert low <= (hi[0] - lo[0]) / (hi[1] - lo[1]) <= high


def test_an_open_zero_is_one_oval_stroke_with_a_gap_at_its_top():
    for strokes in samples("zero_open"):
        (ring,) = strokes
        lo, hi = box(strokes)
        tall = hi[1] - lo[1]
        gap = np.hypot(*(ring[-1] - ring[0])) / tall
        assert 0.05 <= gap <= 0.6 and not closed(ring, tolerance=0.04)
        assert max(ring[0, 1], ring[-1, 1]) <= lo[1] + 0.55 * tall  # both ends up top
        assert 0.4 <= (hi[0] - lo[0]) / tall <= 1.0


def test_a_slashed_zero_has_a_diagonal_crossing_its_ring_twice():
    for strokes in samples("zero_slashed"):
        *ring, slash = strokes
        assert sum(crossings(slash, r).sum() for r in ring) >= 2
        dx, dy = slash[-1] - slash[0]
        assert dx * dy < 0  # lower left to upper right (or back): a "/"
        assert np.ptp(slash[:, 1]) >= 0.8 * height(ring)


def test_a_dotted_zero_has_a_small_dot_inside_its_ring():
    for strokes in samples("zero_dotted"):
        (ring, dot) = strokes
        lo, hi = box([dot])
        assert (hi - lo).max() <= 0.12 * height([ring])
        assert inside((lo + hi) / 2, ring)
        assert crossings(dot, ring).sum() == 0


def test_a_plain_one_is_a_single_near_vertical_stroke_from_the_top():
    for strokes in samples("one_plain"):
        (stroke,) = strokes
        dx, dy = stroke[-1] - stroke[0]
        assert dy > 0 and abs(dx) <= 0.2 * dy
        assert np.argmin(stroke[:, 1]) == 0  # nothing before the top: no flag


@pytest.mark.parametrize("name", ["one_flag", "one_flag_base"])
def test_a_flagged_one_has_a_long_stroke_leaving_the_top_down_to_the_left(name):
    for strokes in samples(name):
        flag, stem = flag_of(strokes[0])
        assert length(flag) >= 0.25 * height([stem])
        dx, dy = flag[0] - flag[-1]  # from the top back to where the pen started
        assert dx < 0 and dy > 0
        assert 15 <= np.degrees(np.arctan2(dy, -dx)) <= 60
        assert np.ptp(stem[:, 1]) >= 0.95 * height(strokes[:1])


@pytest.mark.parametrize("name", ["one_flag_base", "one_base"])
def test_a_one_with_a_base_stands_on_a_horizontal_serif_across_its_foot(name):
    for strokes in samples(name):
        flagged, serif = strokes
        foot = flagged[np.argmax(flagged[:, 1])]
        dx, dy = serif[-1] - serif[0]
        assert dx > 0 and abs(dy) <= 0.15 * dx
        assert serif[0, 0] < foot[0] < serif[-1, 0]
        assert np.abs(serif[:, 1] - foot[1]).max() <= 0.1 * height([flagged])


def test_a_one_on_a_base_has_no_flag():
    for strokes in samples("one_base"):
        stem, _ = strokes
        assert np.argmin(stem[:, 1]) == 0
        dx, dy = stem[-1] - stem[0]
        assert dy > 0 and abs(dx) <= 0.2 * dy


def test_a_hooked_one_has_only_a_short_stroke_before_its_top():
    for strokes in samples("one_hook"):
        (stroke,) = strokes
        flag, stem = flag_of(stroke)
        assert 0.05 * height([stem]) <= length(flag) <= 0.3 * height([stem])


def test_a_plain_two_never_crosses_itself_and_a_looped_two_does_at_the_bottom_left():
    for strokes in samples("two_plain"):
        (stroke,) = strokes
        assert len(self_crossing_points(stroke)) == 0
        base = longest_run(stroke, horizontal=True)
        assert base[:, 1].min() >= stroke[:, 1].min() + 0.85 * height(strokes)
    for strokes in samples("two_loop"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        where = self_crossing_points(stroke)
        assert len(where) >= 1
        assert (where[:, 0] < lo[0] + 0.5 * (hi[0] - lo[0])).all()
        assert (where[:, 1] > lo[1] + 0.5 * (hi[1] - lo[1])).all()


def test_a_flat_topped_three_starts_with_a_bar_and_turns_sharply_back_down_to_the_left():
    for strokes in samples("three_flat_top"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        turn = int(np.argmax(np.diff(stroke[:, 0]) < 0))  # where x first goes back
        bar = stroke[: turn + 1]
        dx, dy = bar[-1] - bar[0]
        assert dx >= 0.5 * (hi[0] - lo[0]) and abs(dy) <= 0.15 * dx
        assert bar[:, 1].max() <= lo[1] + 0.1 * (hi[1] - lo[1])
        back = stroke[turn + 5] - stroke[turn]
        assert back[0] < 0 and back[1] > 0  # down and to the left: a Z, not a round top


def test_a_closed_four_meets_its_stem_at_the_top_and_an_open_one_does_not():
    for name, meets in (("four_closed", True), ("four_open", False)):
        for strokes in samples(name):
            arm, stem = strokes
            gap = np.hypot(*(arm[0] - stem[0])) / height(strokes)
            assert (gap <= 0.12) if meets else (gap >= 0.25)
            assert crossings(arm, stem).sum() >= 1  # the bar crosses the stem


def test_a_four_in_one_stroke_has_a_stem_and_a_bar_without_lifting_the_pen():
    for strokes in samples("four_one_stroke"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        assert np.ptp(longest_run(stroke, horizontal=False)[:, 1]) >= 0.6 * (hi[1] - lo[1])
        assert np.ptp(longest_run(stroke, horizontal=True)[:, 0]) >= 0.4 * (hi[0] - lo[0])


def test_a_four_in_two_strokes_is_an_arm_with_a_bar_then_a_long_stem():
    for strokes in samples("four_two_strokes"):
        arm, stem = strokes
        lo, hi = box(strokes)
        dx, dy = stem[-1] - stem[0]
        assert dy >= 0.75 * (hi[1] - lo[1]) and abs(dx) <= 0.2 * dy
        assert np.ptp(longest_run(arm, horizontal=True)[:, 0]) >= 0.4 * (hi[0] - lo[0])


def test_a_long_stemmed_four_has_its_bar_high_and_the_stem_running_far_below_it():
    for strokes in samples("four_long_stem"):
        arm, stem = strokes
        lo, hi = box(strokes)
        bar = longest_run(arm, horizontal=True)[:, 1].mean()
        assert bar <= lo[1] + 0.47 * (hi[1] - lo[1])
        assert stem[:, 1].max() - bar >= 0.5 * (hi[1] - lo[1])


def test_a_narrow_four_is_open_with_its_stem_close_to_its_arm_and_a_short_bar():
    for strokes in samples("four_narrow"):
        arm, stem = strokes
        tall = height(strokes)
        assert np.hypot(*(arm[0] - stem[0])) / tall >= 0.1  # open: apart at the top
        width = (stem[:, 0].mean() - arm[:, 0].min()) / tall
        assert 0.1 <= width <= 0.4
        bar = longest_run(arm, horizontal=True)
        assert abs(bar[-1, 0] - stem[:, 0].mean()) <= 0.2 * tall  # ends near the stem
        assert np.ptp(stem[:, 1]) >= 0.85 * tall


def test_a_five_with_its_bar_first_starts_with_the_bar_right_to_left():
    for strokes in samples("five_bar_first"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        turn = int(np.argmax(np.diff(stroke[:, 1]) > 0.01 * (hi[1] - lo[1])))  # first step down
        bar = stroke[: turn + 1]
        dx, dy = bar[-1] - bar[0]
        assert dx <= -0.35 * (hi[0] - lo[0]) and abs(dy) <= 0.2 * abs(dx)


def test_a_round_five_turns_into_a_short_stem_and_leaves_its_belly_open():
    for strokes in samples("five_round"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        tall = hi[1] - lo[1]
        half = stroke[: len(stroke) // 2]
        corner = half[np.argmin(half[:, 0])]  # the stem's foot: the top's leftmost point
        assert corner[1] <= lo[1] + 0.4 * tall
        assert stroke[0, 1] <= lo[1] + 0.1 * tall  # the bar first, from the right
        assert stroke[0, 0] - corner[0] >= 0.35 * (hi[0] - lo[0])
        assert np.hypot(*(stroke[-1] - corner)) >= 0.3 * tall  # the belly does not close
        assert not self_crossing_points(stroke).size


def test_a_five_with_its_bar_last_ends_with_a_near_horizontal_stroke_at_the_top():
    for strokes in samples("five_bar_last"):
        body, bar = strokes
        lo, hi = box(strokes)
        dx, dy = bar[-1] - bar[0]
        assert dx > 0 and abs(dy) <= 0.2 * dx
        assert bar[:, 1].max() <= lo[1] + 0.15 * (hi[1] - lo[1])
        assert np.ptp(body[:, 1]) >= 0.85 * (hi[1] - lo[1])


@pytest.mark.parametrize("name, low, high", [
    ("six_small_loop", 0.2, 0.45), ("six_large_loop", 0.5, 0.75),
])
def test_a_six_has_a_loop_of_its_size(name, low, high):
    for strokes in samples(name):
        (stroke,) = strokes
        lowest = int(np.argmax(stroke[:, 1]))
        loop_top = stroke[lowest:, 1].min()
        assert low <= (stroke[lowest, 1] - loop_top) / height(strokes) <= high


def nine_stem(stroke):
    """The 9's stem: the tail of the stroke that goes steadily down to its foot."""
    i = len(stroke) - 1
    while i > 0 and stroke[i - 1, 1] < stroke[i, 1]:
        i -= 1
    return stroke[i:]


def bow(stroke):
    """Largest distance of a stroke's points from the chord between its ends."""
    a, b = stroke[0], stroke[-1]
    chord = (b - a) / np.hypot(*(b - a))
    offsets = stroke - a
    return np.abs(offsets[:, 0] * chord[1] - offsets[:, 1] * chord[0]).max()


def test_a_nine_has_a_straight_stem_or_one_curling_left_at_its_foot():
    for strokes in samples("nine_straight"):
        (stroke,) = strokes
        stem = nine_stem(stroke)
        assert np.ptp(stem[:, 1]) >= 0.4 * height(strokes)
        assert bow(stem) <= 0.03 * height(strokes)
    for strokes in samples("nine_curved"):
        (stroke,) = strokes
        stem = nine_stem(stroke)
        assert stem[-1, 0] <= stem[0, 0] - 0.12 * height(strokes)
        assert bow(stem) >= 0.03 * height(strokes)


def seven_parts(stroke):
    """A 7's top bar (to its rightmost point near the top) and its stem (from there on)."""
    corner = int(np.argmax(stroke[:, 0] - 0.5 * stroke[:, 1]))
    return stroke[: corner + 1], stroke[corner:]


def test_a_plain_seven_is_a_bar_then_a_stem_down_to_the_left():
    for strokes in samples("seven_plain"):
        (stroke,) = strokes
        bar, stem = seven_parts(stroke)
        dx, dy = bar[-1] - bar[0]
        assert dx >= 0.45 * height(strokes) and abs(dy) <= 0.15 * dx
        dx, dy = stem[-1] - stem[0]
        assert dy >= 0.9 * height(strokes) and dx < 0


def test_a_crossed_seven_has_a_short_stroke_crossing_its_stem_midway():
    for strokes in samples("seven_crossed"):
        seven, bar = strokes
        lo, hi = box([seven])
        dx, dy = bar[-1] - bar[0]
        assert 0 < dx <= 0.65 * (hi[0] - lo[0]) and abs(dy) <= 0.2 * dx
        assert crossings(bar, seven).sum() == 1
        assert lo[1] + 0.3 * (hi[1] - lo[1]) <= bar[:, 1].mean() <= lo[1] + 0.75 * (hi[1] - lo[1])


def test_a_curved_seven_has_a_bowed_stem():
    for strokes in samples("seven_curved"):
        (stroke,) = strokes
        _, stem = seven_parts(stroke)
        assert bow(stem) >= 0.04 * height(strokes)


def test_a_hooked_seven_starts_below_its_bar_and_ticks_up_into_its_left_end():
    for strokes in samples("seven_hooked"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        step = np.diff(stroke, axis=0)
        top = int(np.argmax(step[:, 0] > np.abs(step[:, 1])))  # the tick turns into the bar
        rise = stroke[0, 1] - stroke[top, 1]
        assert 0.07 * (hi[1] - lo[1]) <= rise <= 0.3 * (hi[1] - lo[1])
        assert stroke[top, 0] <= lo[0] + 0.1 * (hi[0] - lo[0])
        assert stroke[top + 3, 0] > stroke[top, 0]  # then the bar heads right


def test_an_eight_is_two_stacked_closed_circles_or_one_closed_figure_eight():
    for strokes in samples("eight_two_circles"):
        upper, lower = strokes
        assert closed(upper) and closed(lower)
        assert upper[:, 1].mean() < lower[:, 1].min() <= upper[:, 1].max() + 0.05 * height(strokes)
    for strokes in samples("eight_one_stroke"):
        (stroke,) = strokes
        lo, hi = box(strokes)
        assert closed(stroke)
        waist = self_crossing_points(stroke)
        assert len(waist) >= 1
        middle = np.abs(waist[:, 1] - lo[1] - 0.47 * (hi[1] - lo[1])) <= 0.15 * (hi[1] - lo[1])
        assert middle.any()  # the waist (the pen may also cross its start at the top)


# --- edits of real skeletons --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_bases():
    if MNIST is None:
        pytest.skip("MNIST is not available")
    from network.training.mnist import load_mnist

    images, labels = load_mnist(MNIST, "test")
    return styles.traced_bases(images[:2000], labels[:2000], 30, np.random.default_rng(0))


def test_edits_of_traced_mnist_digits_keep_their_claims(mnist_bases):
    rng = np.random.default_rng(1)
    slashed = dotted = crossed = flagged = 0
    for ring in mnist_bases[0]:
        *_, slash = STYLES["zero_slashed"].make(rng, ring)
        slashed += sum(crossings(slash, r).sum() for r in ring) >= 2
        *_, dot = STYLES["zero_dotted"].make(rng, ring)
        dotted += inside(dot.mean(axis=0), max(ring, key=len))
    for seven in mnist_bases[7]:
        *_, bar = STYLES["seven_crossed"].make(rng, seven)
        crossed += sum(crossings(bar, s).sum() for s in seven) >= 1
    for one in mnist_bases[1]:
        flag, stem = flag_of(STYLES["one_flag"].make(rng, one)[0])
        dx, dy = flag[0] - flag[-1]
        flagged += dx < 0 < dy and length(flag) >= 0.25 * np.ptp(stem[:, 1])
    assert slashed >= 0.9 * len(mnist_bases[0]) and dotted >= 0.9 * len(mnist_bases[0])
    assert crossed >= 0.9 * len(mnist_bases[7]) and flagged == len(mnist_bases[1])


def test_an_edit_without_a_usable_base_draws_its_template():
    rng = np.random.default_rng(0)
    for name in ("zero_slashed", "seven_crossed", "one_flag"):
        for base in (None, [], [np.zeros((0, 2))], [np.ones((3, 2))]):
            strokes = STYLES[name].make(rng, base)
            assert height(strokes) > 0.5


# --- many drawings, cheaply ----------------------------------------------------------------------


def test_styled_drawings_are_balanced_labelled_and_repeatable():
    n = 3 * len(STYLES) + 5
    first = styles.styled_drawings(n, np.random.default_rng(9))
    again = styles.styled_drawings(n, np.random.default_rng(9))
    counts = {name: sum(d.style == name for d in first) for name in STYLES}
    assert set(counts.values()) <= {3, 4}
    assert {d.hand for d in first} == set(hands.VARIATIONS)
    for a, b in zip(first, again, strict=True):
        assert (a.label, a.style, a.hand, a.kwargs) == (b.label, b.style, b.hand, b.kwargs)
        assert a.label == STYLES[a.style].digit
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)


def test_styled_drawings_edit_the_bases_they_are_given():
    seven = [np.array([[2.0, 3.0], [20.0, 3.0], [10.0, 25.0]])]
    drawings = styles.styled_drawings(20, np.random.default_rng(0), styles=["seven_crossed"],
                                      bases={7: [seven]})
    for drawing in drawings:
        assert len(drawing.strokes) >= 2 or drawing.hand == "many_short_strokes"
    with_base = STYLES["seven_crossed"].make(np.random.default_rng(0), seven)
    np.testing.assert_array_equal(with_base[0], seven[0])  # the skeleton is kept as it was


def test_styled_images_are_rendered_digits_with_labels_and_style_names():
    images, labels, names = styles.styled_images(2 * len(STYLES), np.random.default_rng(2))
    assert images.shape == (2 * len(STYLES), 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64 and sorted(set(names)) == sorted(STYLES)
    assert all(labels[i] == STYLES[name].digit for i, name in enumerate(names))
    assert images.min() >= 0 and images.max() <= 1
    assert (images.reshape(len(images), -1).max(axis=1) > 0.5).all()


def test_making_many_styled_images_takes_one_render_each_and_bounded_work(monkeypatch):
    """30,000 images must take minutes, not hours: the work per image is bounded (one
    render of a bounded number of points, a bounded number of Python calls)."""
    renders = []
    monkeypatch.setattr(styles, "render", lambda strokes, **kw: renders.append(strokes)
                        or np.zeros((28, 28), np.float32))
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    n = 2 * len(STYLES)
    sys.setprofile(count)
    try:
        styles.styled_images(n, np.random.default_rng(0))
    finally:
        sys.setprofile(None)
    assert len(renders) == n
    assert max(sum(len(s) for s in strokes) for strokes in renders) <= ink.MAX_POINTS * 2
    assert calls / n <= 400  # Python function calls per image (about 160 today)


def test_tracing_bases_traces_each_chosen_image_once(monkeypatch):
    traced = []
    monkeypatch.setattr(styles, "images_to_strokes",
                        lambda images: traced.append(len(images)) or [
                            [np.array([[0.0, 0.0], [1.0, 5.0]])] for _ in images])
    labels = np.repeat(np.arange(10), 8)
    images = np.zeros((80, 28, 28), np.uint8)
    bases = styles.traced_bases(images, labels, 5, np.random.default_rng(0))
    assert sorted(bases) == [0, 1, 7] and traced == [5, 5, 5]
    assert all(len(v) == 5 for v in bases.values())


def test_a_weighted_style_is_drawn_that_many_times_as_often_as_each_other():
    names = styles.weighted_names({"one_flag": 4})
    assert names.count("one_flag") == 4
    assert sorted(set(names)) == sorted(STYLES) and len(names) == len(STYLES) + 3
    assert styles.weighted_names() == styles.weighted_names({}) == list(STYLES)
    made = styles.styled_drawings(2 * len(names), np.random.default_rng(0), styles=names)
    counts = {name: sum(d.style == name for d in made) for name in STYLES}
    assert counts.pop("one_flag") == 8 and set(counts.values()) == {2}
    for bad in ({"one_flagg": 2}, {"one_flag": 0}, {"one_flag": 1.5}, {"one_flag": True}):
        with pytest.raises(ValueError, match="one_flag"):
            styles.weighted_names(bad)
