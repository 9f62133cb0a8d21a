"""People's pen order and the unfinished ink a page reads while the pen is down
(``network.training.penorder``): strokes ordered and turned as people write them, cuts
that follow the drawing point by point, and frames in the proportions a page meets them."""

from __future__ import annotations

import numpy as np

from network.ink.render import render
from network.training.penorder import cut_after, in_pen_order, pen_down_frames


def ring(cx: float, cy: float, r: float, clockwise: bool, n: int = 40) -> np.ndarray:
    """A closed ring starting at its right, turning the given way on the screen (y down)."""
    t = np.linspace(0, 2 * np.pi, n)
    sign = 1.0 if clockwise else -1.0
    return np.stack([cx + r * np.cos(t), cy + sign * r * np.sin(t)], axis=1)


def signed_area(stroke: np.ndarray) -> float:
    x, y = stroke[:, 0], stroke[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def test_a_zero_starts_at_its_top_and_mostly_turns_counter_clockwise():
    rng = np.random.default_rng(0)
    turns = []
    for _ in range(200):
        (stroke,) = in_pen_order([ring(50, 50, 20, clockwise=True)], 0, rng)
        assert stroke[0, 1] == stroke[:, 1].min()  # from the top
        turns.append(signed_area(stroke) < 0)  # negative: counter-clockwise on screen
    assert 0.7 < np.mean(turns) < 0.9  # about four hands in five


def test_strokes_are_drawn_top_first_and_downwards():
    rng = np.random.default_rng(1)
    stem = np.array([[30.0, 90.0], [30.0, 10.0]])  # drawn bottom-up by the tracer
    bar = np.array([[60.0, 5.0], [10.0, 5.0]])  # a level bar, right to left
    downward = 0
    for _ in range(200):
        first, second = in_pen_order([stem, bar], 7, rng)
        if first[0, 1] == 5.0 and first[0, 0] == 10.0:  # the bar, from its left end
            downward += second[0, 1] < second[-1, 1]
    assert downward > 150  # the order and directions slip now and then, not usually


def test_a_cut_follows_the_drawing_point_by_point():
    strokes = [np.arange(10.0).reshape(5, 2), 100 + np.arange(6.0).reshape(3, 2)]
    assert [len(s) for s in cut_after(strokes, 2)] == [2]
    assert [len(s) for s in cut_after(strokes, 5)] == [5]
    assert [len(s) for s in cut_after(strokes, 6)] == [5, 1]
    assert [len(s) for s in cut_after(strokes, 8)] == [5, 3]
    np.testing.assert_array_equal(cut_after(strokes, 7)[1], strokes[1][:2])


def test_pen_down_frames_come_as_often_as_a_page_reads_the_ink():
    rng = np.random.default_rng(2)
    line = np.stack([np.full(40, 100.0), np.linspace(40, 240, 40)], axis=1)
    long_one = [line, line[::-1] + [60.0, 0.0], line + [120.0, 0.0]]  # 120 points
    short_one = [line]  # 40 points
    drawings = [(long_one, 8)] * 200 + [(short_one, 1)] * 200
    images, labels, points = pen_down_frames(drawings, rng, every=8)
    assert images.shape == (len(labels), 28, 28) and images.dtype == np.float32
    # each frame says how many points were drawn: from the second to the whole drawing
    assert points.min() >= 2 and points[labels == 1].max() <= 40
    assert points[labels == 8].max() <= 120 and points[labels == 8].max() > 40
    # a drawing three times as long is read about three times as often
    ratio = np.sum(labels == 8) / np.sum(labels == 1)
    assert 2.6 < ratio < 3.4, ratio
    # every frame is a cut of its drawing, rendered as the server renders it
    assert images.max() <= 1.0 and np.all(images.reshape(len(images), -1).max(axis=1) > 0)
    whole = render(long_one)
    assert not any(np.array_equal(whole, image) for image in images[labels == 1])


def test_a_four_is_written_down_stroke_and_bar_first_then_the_stem():
    rng = np.random.default_rng(3)
    stem = np.array([[70.0, 0.0], [70.0, 100.0]])  # starts highest: a tracer puts it first
    down_and_bar = np.array([[40.0, 10.0], [20.0, 60.0], [90.0, 60.0]])
    last = [in_pen_order([stem, down_and_bar], 4, rng)[-1] for _ in range(200)]
    stem_last = np.mean([np.all(s[:, 0] == 70.0) for s in last])  # either way up
    assert 0.85 < stem_last < 1.0  # neighbours still swap now and then
