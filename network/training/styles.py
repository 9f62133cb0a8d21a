"""Allographs: the ways the world writes each digit, as pen strokes in many hands.

MNIST was written by American census staff and students, so a model that only knows
MNIST misreads whole groups of people, always the same way: the continental 1 with its
long up-stroke reads as 7, the crossed 7 and the slashed 0 look like nothing it knows,
the open 4 and the 4 in two strokes are rare in it.  Each *style* here is one named way
of writing one digit, made as pen strokes by ``make(rng, base=None)`` in one of two ways:

* **edits of a traced skeleton** (``Style.edits``): ``base`` is an MNIST digit thinned
  and traced into strokes (``traced_bases``); the style adds what the writer adds (a
  flag or a base serif on a 1's stem, a crossbar through a 7's stem, a hook on its top,
  a slash or a dot in a 0), so the digit keeps a real person's hand;
* **parametric templates**, where editing is not practical (an open 4, a looped 2, a
  two-circle 8, a 5 with its bar drawn last): a few lines and arcs
  (``network.training.pen``) with random proportions and a smooth wobble.

An edit style without a base draws the plain template of its digit first.  Each style
is then drawn in one of the hands of ``network.training.hands`` (size, place, slant,
rotation, pen width, jitter, dashes, speed) and rendered by the app's own
``network.ink.render``, so the network sees exactly what a person's canvas would send.
Randomness comes only from the ``numpy.random.Generator`` passed in.

The trade-off: templates are caricatures of real hands, clean where people are not;
each style is a measurable claim (its tests check it), not a sample of the world.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..ink.render import render
from ..ink.skeleton import images_to_strokes
from .hands import in_any_hand
from .pen import STEP, Strokes, arc, bezier, extent, line, path, turned, wobble
from .penorder import in_pen_order

WOBBLE = 0.02
"""Size of a template's smooth random bend, as a share of the digit's size."""


# --- 0 ----------------------------------------------------------------------------------


def zero_plain(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: an oval 55-80% as wide as tall, in one stroke from the top."""
    return wobble([_oval(rng, rng.uniform(0.55, 0.8))], rng, WOBBLE)


def zero_slashed(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the 0 (base or plain oval) with a diagonal through it from lower left to
    upper right, as programmers write it; its ends stop near the ring or run past it."""
    ring = _usable(base) or zero_plain(rng)
    lo, hi = extent(ring)
    size = hi - lo
    past = rng.uniform(-0.05, 0.2, size=2)  # how far each end runs beyond the box
    low_left = np.array([lo[0] - past[0] * size[0], hi[1] + past[0] * size[1]])
    high_right = np.array([hi[0] + past[1] * size[0], lo[1] - past[1] * size[1]])
    ends = [low_left, high_right] + rng.normal(0, 0.03, size=(2, 2)) * size.max()
    slash = line(*(ends if rng.random() < 0.5 else ends[::-1]), step=_step(ring))
    return [*ring, slash]


def zero_dotted(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the 0 (base or plain oval) with a dot in the middle: a tap or a tiny circle."""
    ring = _usable(base) or zero_plain(rng)
    lo, hi = extent(ring)
    size = hi - lo
    centre = (lo + hi) / 2 + rng.normal(0, 0.04, size=2) * size
    if rng.random() < 0.5:
        dot = np.repeat(centre[None], int(rng.integers(1, 4)), axis=0)
    else:
        radius = rng.uniform(0.02, 0.05) * size[1]
        dot = arc(centre, radius, 0, 360 * rng.choice([-1, 1]), step=radius / 2)
    return [*ring, dot]


def zero_round(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a nearly round circle (width 90-105% of height)."""
    return wobble([_oval(rng, rng.uniform(0.9, 1.05))], rng, WOBBLE)


def zero_narrow(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a narrow, tall oval (width 30-45% of height)."""
    return wobble([_oval(rng, rng.uniform(0.3, 0.45))], rng, WOBBLE)


def zero_open(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: an oval left open at the top: started beside the top, the pen stops 25-75
    degrees short of where it began, the gap within 45 degrees of the top, as a hurried 0 is."""
    aspect, gap = rng.uniform(0.5, 0.9), rng.uniform(25, 75)
    middle = -90 + rng.uniform(-45, 45)  # the gap's middle, near the top
    way = -1 if rng.random() < 0.8 else 1  # four times in five anticlockwise
    start = middle + way * gap / 2
    (ring,) = turned([arc((0.0, 0.5), (0.5 * aspect, 0.5), start, start + way * (360 - gap))],
                     rng.uniform(-8, 8))
    return wobble([ring], rng, WOBBLE)


def _oval(rng: np.random.Generator, aspect: float) -> np.ndarray:
    """One oval stroke 1 tall and ``aspect`` wide, started near the top, four times in
    five anticlockwise; the pen stops a little short of its start or runs a little past."""
    start = -90 + rng.uniform(-25, 25)
    turn = (360 + rng.uniform(-10, 25)) * (-1 if rng.random() < 0.8 else 1)
    (ring,) = turned([arc((0.0, 0.5), (0.5 * aspect, 0.5), start, start + turn)],
                     rng.uniform(-8, 8))
    return ring


# --- 1 ----------------------------------------------------------------------------------


def one_plain(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the base 1's stem from its top down, any flag or serif taken off (template:
    a near-vertical line with a slight lean and bow)."""
    return [_stem(rng, base)]


def one_flag(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the stem with a long up-stroke flag drawn first, in the same stroke, as in
    continental Europe: 30-55% of the stem long, 25-50 degrees below the horizontal."""
    stem = _stem(rng, base)
    return [path(_flag(rng, stem, rng.uniform(0.3, 0.55), rng.uniform(25, 50)), stem)]


def one_flag_base(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the flagged 1 standing on a base serif, a second stroke drawn left to right."""
    (flagged,) = one_flag(rng, base)
    return [flagged, _serif(rng, flagged)]


def one_base(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the plain stem standing on a base serif (no flag), the serif a second stroke
    drawn left to right, as a typed 1 has it."""
    stem = _stem(rng, base)
    return [stem, _serif(rng, stem)]


def one_hook(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the stem with a short hook at its top (10-22% of the stem), in one stroke."""
    stem = _stem(rng, base)
    return [path(_flag(rng, stem, rng.uniform(0.1, 0.22), rng.uniform(0, 60)), stem)]


def _serif(rng: np.random.Generator, stroke: np.ndarray) -> np.ndarray:
    """A base serif across the stroke's foot, left to right, each side 15-30% of its height."""
    height = np.ptp(stroke[:, 1])
    foot = stroke[np.argmax(stroke[:, 1])]
    left, right = rng.uniform(0.15, 0.3, size=2) * height
    tilt = rng.uniform(-0.05, 0.05) * (left + right)
    return line(foot + [-left, tilt], foot + [right, -tilt], step=_step([stroke]))


def _stem(rng: np.random.Generator, base: Strokes | None) -> np.ndarray:
    """A 1's stem from top to bottom: the base's tallest stroke cut at its highest point,
    or a template line 1 tall leaning up to 0.12 either way, bowed up to 0.03."""
    strokes = _usable(base)
    if strokes:
        lo, hi = extent(strokes)
        stroke = max(strokes, key=lambda s: np.ptp(s[:, 1]))
        if stroke[0, 1] > stroke[-1, 1]:
            stroke = stroke[::-1]
        stroke = stroke[np.argmin(stroke[:, 1]) :]
        if len(stroke) >= 2 and np.ptp(stroke[:, 1]) >= 0.6 * (hi[1] - lo[1]) > 0:
            return stroke
    lean, bow = rng.uniform(-0.12, 0.12), rng.uniform(-0.03, 0.03)
    return bezier((lean, 0.0), (lean / 2 + bow, 0.5), (0.0, 1.0))


def _flag(rng: np.random.Generator, stem: np.ndarray, length: float, angle: float) -> np.ndarray:
    """The up-stroke into the stem's top from the lower left: ``length`` times the stem's
    height, leaving the top ``angle`` degrees below the horizontal, slightly bowed."""
    top = stem[0]
    reach = length * np.ptp(stem[:, 1])
    a = np.radians(angle)
    start = top + reach * np.array([-np.cos(a), np.sin(a)])
    bend = rng.uniform(-0.1, 0.1) * reach * np.array([np.sin(a), np.cos(a)])
    return bezier(start, (start + top) / 2 + bend, top, step=_step([stem]))


# --- 2 and 3 ------------------------------------------------------------------------------


def two_plain(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: an arc over the top, a diagonal to the bottom left, a base line."""
    top, corner = _two_top(rng)
    base_end = corner + [rng.uniform(0.6, 0.85), rng.uniform(-0.04, 0.02)]
    return wobble([path(top, line(top[-1], corner, base_end))], rng, WOBBLE)


def two_loop(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a 2 whose diagonal runs on into a small loop at the bottom left; the
    stroke goes round it clockwise, crossing the diagonal, and then along the base."""
    top, corner = _two_top(rng)
    r = rng.uniform(0.13, 0.2)
    # The diagonal is a chord of the loop, ending on it at the corner: the loop crosses
    # the diagonal where the diagonal enters it, a crossing rather than a touch.
    direction = corner - top[-1]
    direction /= np.hypot(*direction)
    up_left = -np.abs(direction[::-1])
    offset = rng.uniform(0.3, 0.7)
    centre = corner - r * (np.sqrt(1 - offset**2) * direction - offset * up_left)
    entry = np.degrees(np.arctan2(*(corner - centre)[::-1]))
    loop = arc(centre, r, entry, entry + 360 + rng.uniform(0, 30))
    base_end = loop[-1] + [rng.uniform(0.6, 0.85), rng.uniform(-0.02, 0.04)]
    return wobble([path(top, line(top[-1], corner), loop, line(loop[-1], base_end))],
                  rng, WOBBLE / 2)


def _two_top(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 2's top arc (clockwise from the left) and the bottom-left corner it heads for."""
    rx, ry = rng.uniform(0.28, 0.36), rng.uniform(0.22, 0.3)
    top = arc((rx + 0.02, ry), (rx, ry), rng.uniform(190, 215), rng.uniform(375, 400))
    return top, np.array([rng.uniform(-0.02, 0.08), 1.0])


def three_flat_top(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a flat top bar, a diagonal back to the middle (a Z), then a round bowl."""
    width = rng.uniform(0.5, 0.7)
    bar_end = np.array([width, rng.uniform(-0.03, 0.03)])
    middle = np.array([width * rng.uniform(0.2, 0.45), rng.uniform(0.38, 0.48)])
    ry = (1 - middle[1]) / 2
    bowl = arc(middle + [0, ry], (rng.uniform(0.28, 0.36), ry), -90, rng.uniform(140, 165))
    return wobble([path(line((0.0, 0.0), bar_end, middle), bowl)], rng, WOBBLE)


# --- 4 ----------------------------------------------------------------------------------


def four_closed(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: closed top; the arm (a diagonal down from the stem's top, then the bar
    across) and then the stem from the same top: two strokes."""
    return wobble(list(_four(rng, closed=True)), rng, WOBBLE)


def four_open(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: open top; the arm (down, then the bar across) apart from the stem's top,
    then the stem: two strokes."""
    return wobble(list(_four(rng, closed=False)), rng, WOBBLE)


def four_one_stroke(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a 4 without lifting the pen: down, across, up to the stem's top and down
    it (open top), or up the stem, down the diagonal and across (closed top)."""
    closed = rng.random() < 0.5
    arm, stem = _four(rng, closed=closed, over=0.0)  # the arm stops at the stem
    if closed:
        past = line(arm[-1], arm[-1] + [rng.uniform(0.08, 0.25), 0])
        return wobble([path(stem[::-1], arm[1:], past)], rng, WOBBLE)
    up = line(arm[-1], stem[0] + [rng.uniform(0.01, 0.03), 0])  # back up beside the stem
    return wobble([path(arm, up, stem)], rng, WOBBLE)


def four_two_strokes(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a loose 4 in two strokes, arm then stem, open or closed: the bar may
    stop just short of the stem or run far past it, the stem start high or low."""
    arm, stem = _four(rng, closed=rng.random() < 0.5, over=rng.uniform(-0.05, 0.35))
    stem = line(stem[0] + [0, rng.uniform(-0.06, 0.12)], stem[-1])
    return wobble([arm, stem], rng, WOBBLE)


def four_long_stem(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: the bar high up (30-42% down), so the stem crosses it and runs far below."""
    return wobble(list(_four(rng, closed=rng.random() < 0.5, bar=rng.uniform(0.3, 0.42))),
                  rng, WOBBLE)


def four_narrow(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: an open 4 with a short bar: the arm only 16-32% of the height left of the
    stem, the bar stopping just short of the stem or a little past it; arm, then stem."""
    x = rng.uniform(0.16, 0.32)  # the stem's x; the arm comes down near x = 0
    bar = rng.uniform(0.5, 0.68)
    arm = line((rng.uniform(0.0, 0.04), rng.uniform(0.0, 0.4)), (rng.uniform(-0.02, 0.03), bar),
               (x + rng.uniform(-0.02, 0.12), bar + rng.uniform(-0.03, 0.03)))
    stem = line((x, rng.uniform(-0.05, 0.1)), (x + rng.uniform(-0.04, 0.03), 1.0))
    return wobble([arm, stem], rng, WOBBLE)


def _four(
    rng: np.random.Generator, *, closed: bool, over: float | None = None, bar: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A 4's arm (to the bar's end, ``over`` past the stem) and stem (top to bottom), 1 tall."""
    x = rng.uniform(0.5, 0.7)  # the stem's x
    bar = rng.uniform(0.55, 0.7) if bar is None else bar
    over = rng.uniform(0.08, 0.25) if over is None else over
    tilt = rng.uniform(-0.03, 0.03)
    if closed:
        top = np.array([x + rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.03)])
        arm = line(top, (0.0, bar), (x + over, bar + tilt))
        stem_top = top + [0, rng.uniform(-0.03, 0.03)]
    else:
        arm = line((rng.uniform(0, 0.12), rng.uniform(0, 0.15)), (rng.uniform(-0.03, 0.05), bar),
                   (x + over, bar + tilt))
        stem_top = np.array([x, rng.uniform(0.0, 0.1)])
    stem = line(stem_top, (x + rng.uniform(-0.06, 0.04), 1.0))
    return arm, stem


# --- 5 ----------------------------------------------------------------------------------


def five_bar_first(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: one stroke: the top bar from right to left, down the stem, round the belly."""
    stem, belly, width = _five(rng)
    bar = line((width, rng.uniform(-0.03, 0.03)), stem[0])
    return wobble([path(bar, stem, belly)], rng, WOBBLE)


def five_bar_last(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: stem and belly first, then the top bar as a second stroke, left to right,
    often a little apart from the stem or overshooting it."""
    stem, belly, width = _five(rng)
    start = stem[0] + [rng.uniform(-0.08, 0.1), rng.uniform(-0.06, 0.02)]
    bar = line(start, (width, start[1] + rng.uniform(-0.04, 0.04)))
    return wobble([path(stem, belly), bar], rng, WOBBLE)


def five_round(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: one stroke: the bar from right to left, rounding its corner into a short
    stem (20-32% of the height), then a large belly: the 5 that comes close to a 3."""
    foot = np.array([rng.uniform(0.0, 0.08), rng.uniform(0.2, 0.32)])
    width = rng.uniform(0.55, 0.8)
    top = bezier((width, rng.uniform(-0.03, 0.03)), (0.0, 0.0), foot)
    ry, rx = (1 - foot[1]) / 2 * rng.uniform(1.0, 1.1), rng.uniform(0.3, 0.38)
    start = rng.uniform(-135, -110)  # leaves the foot rightwards, its top below the bar
    a = np.radians(start)
    centre = foot - [rx * np.cos(a), ry * np.sin(a)]
    belly = arc(centre, (rx, ry), start, rng.uniform(110, 145))  # open: never back to the stem
    return wobble([path(top, belly)], rng, WOBBLE)


def _five(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """A 5's stem (down from its top) and belly (clockwise from the stem's foot round to
    the bottom left), and the width of its top bar."""
    foot = np.array([rng.uniform(-0.04, 0.04), rng.uniform(0.35, 0.48)])
    stem = line((0.0, rng.uniform(0.0, 0.04)), foot)
    ry, rx = (1 - foot[1]) / 2 * rng.uniform(1.0, 1.1), rng.uniform(0.3, 0.38)
    start = rng.uniform(-170, -130)
    a = np.radians(start)
    centre = foot - [rx * np.cos(a), ry * np.sin(a)]
    belly = arc(centre, (rx, ry), start, rng.uniform(135, 165))
    return stem, belly, float(rng.uniform(0.45, 0.7))


# --- 6 and 9 ----------------------------------------------------------------------------


def six_small_loop(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a long curve down the left into a small loop (30-42% of the height)."""
    return wobble([_six(rng, rng.uniform(0.15, 0.21), rng.uniform(0.2, 0.28))], rng, WOBBLE)


def six_large_loop(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a short curve down the left into a large loop (54-68% of the height)."""
    return wobble([_six(rng, rng.uniform(0.27, 0.34), rng.uniform(0.26, 0.34))], rng, WOBBLE)


def _six(rng: np.random.Generator, ry: float, rx: float) -> np.ndarray:
    """A 6 in one stroke, 1 tall: from the top right down the left to the loop's left
    side, then anticlockwise round the loop (radii rx, ry) and a little past."""
    centre = np.array([0.0, 1.0 - ry])
    left = centre - [rx, 0]
    start = (rng.uniform(0.0, 0.25), 0.0)
    pull = (left[0] - rx * rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.45) * left[1])
    loop = arc(centre, (rx, ry), 180, 180 - 360 - rng.uniform(-10, 15))
    return path(bezier(start, pull, left), loop)


def nine_straight(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a loop at the top, then a straight stem down from its right side."""
    loop = _nine_loop(rng)
    foot = (loop[-1][0] - rng.uniform(0.0, 0.1), 1.0)
    return wobble([path(loop, line(loop[-1], foot))], rng, WOBBLE / 2)


def nine_curved(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a loop at the top, then a stem that curves to the left at its foot."""
    loop = _nine_loop(rng)
    knee = (loop[-1][0] + rng.uniform(-0.02, 0.06), rng.uniform(0.75, 0.92))
    foot = (loop[-1][0] - rng.uniform(0.22, 0.4), 1.0)
    return wobble([path(loop, bezier(loop[-1], knee, foot))], rng, WOBBLE / 2)


def _nine_loop(rng: np.random.Generator) -> np.ndarray:
    """A 9's loop, anticlockwise from its right side and back to it (40-54% of the height)."""
    ry, rx = rng.uniform(0.2, 0.27), rng.uniform(0.22, 0.3)
    start = rng.uniform(-20, 5)
    return arc((0.0, ry), (rx, ry), start, -360 - rng.uniform(0, 10))


# --- 7 ----------------------------------------------------------------------------------


def seven_plain(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a top bar from the left, then a straight stem down to the left."""
    width = rng.uniform(0.55, 0.8)
    corner = (width, rng.uniform(-0.04, 0.04))
    foot = (width * rng.uniform(0.15, 0.55), 1.0)
    return wobble([line((0.0, rng.uniform(-0.03, 0.03)), corner, foot)], rng, WOBBLE)


def seven_crossed(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the 7 (base or plain template) with a short crossbar through the middle of
    its stem, 35-60% as long as the 7 is wide, drawn left to right."""
    seven = _usable(base) or seven_plain(rng)
    lo, hi = extent(seven)
    size = hi - lo
    y = lo[1] + rng.uniform(0.45, 0.6) * size[1]
    points = np.concatenate(seven)
    near = np.abs(points[:, 1] - y) < 0.08 * size[1]
    x = float(np.median(points[near, 0])) if near.any() else (lo[0] + hi[0]) / 2
    length = rng.uniform(0.35, 0.6) * size[0]
    left = length * rng.uniform(0.35, 0.65)
    tilt = rng.uniform(-0.06, 0.06) * length
    bar = line((x - left, y + tilt), (x - left + length, y - tilt), step=_step(seven))
    return [*seven, bar]


def seven_curved(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: a top bar, then a stem bowed one way or the other (steep first and bent
    left at the foot, or leaning left first and steep at the foot)."""
    width = rng.uniform(0.55, 0.8)
    corner = np.array([width, rng.uniform(-0.04, 0.04)])
    foot = np.array([width * rng.uniform(0.1, 0.45), 1.0])
    if rng.random() < 0.5:
        pull = (corner[0] + rng.uniform(-0.02, 0.08), rng.uniform(0.55, 0.75))
    else:
        pull = (foot[0] + rng.uniform(-0.02, 0.08), rng.uniform(0.25, 0.45))
    bar = line((0.0, rng.uniform(-0.03, 0.03)), corner)
    return wobble([path(bar, bezier(corner, pull, foot))], rng, WOBBLE)


def seven_hooked(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Edit: the 7 (base or plain template) whose bar starts with a short tick up into
    its left end (10-22% of the height), in the same stroke when a stroke starts there."""
    seven = [s.copy() for s in (_usable(base) or seven_plain(rng))]
    lo, hi = extent(seven)
    size = hi - lo
    points = np.concatenate(seven)
    upper = points[points[:, 1] <= lo[1] + 0.25 * size[1]]
    corner = upper[np.argmin(upper[:, 0])]
    tick_start = corner + [rng.uniform(-0.06, 0.02) * size[0],
                           rng.uniform(0.1, 0.22) * size[1]]
    tick = line(tick_start, corner, step=_step(seven))
    near = 0.05 * size.max()
    for i, stroke in enumerate(seven):
        for candidate in (stroke, stroke[::-1]):
            if np.hypot(*(candidate[0] - corner)) <= near:
                seven[i] = path(tick, candidate)
                return seven
    return [tick, *seven]


# --- 8 ----------------------------------------------------------------------------------


def eight_two_circles(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: two closed circles stacked, a smaller one on a larger one."""
    top = rng.uniform(0.38, 0.47)  # the top circle's share of the height
    rings = []
    for y0, height in ((0.0, top), (top - rng.uniform(-0.02, 0.04), 1 - top)):
        width = height * rng.uniform(0.8, 1.2)
        start = -90 + rng.uniform(-30, 30)
        turn = (360 + rng.uniform(0, 20)) * rng.choice([-1, 1])
        centre = (rng.uniform(-0.04, 0.04), y0 + height / 2)
        rings.append(arc(centre, (width / 2, height / 2), start, start + turn))
    return wobble(rings, rng, WOBBLE)


def eight_one_stroke(rng: np.random.Generator, base: Strokes | None = None) -> Strokes:
    """Template: one figure-eight stroke from the top right, left round the top loop,
    across the waist and round the bottom loop, back up to the start."""
    waist = rng.uniform(0.4, 0.5)
    widths = rng.uniform(0.3, 0.42), rng.uniform(0.36, 0.5)
    start = rng.uniform(0.1, 0.5)
    t = np.linspace(start, start - 2 * np.pi - rng.uniform(0.0, 0.4), 90)
    c = np.cos(t)
    x = np.sin(t) * c * np.where(c >= 0, widths[0], widths[1])
    y = np.where(c >= 0, waist * (1 - c), waist - (1 - waist) * c)
    x += rng.uniform(-0.1, 0.1) * (y - 0.5)  # a lean of the whole figure
    return wobble([np.stack([x, y], axis=1)], rng, WOBBLE)


# --- the catalogue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """One named way of writing ``digit``; ``make(rng, base=None)`` returns its strokes
    (``[x, y]``, y down, any units).  ``edits`` says whether ``make`` edits a traced
    skeleton of ``digit`` when given one as ``base`` (else it draws a template)."""

    name: str
    digit: int
    make: Callable[[np.random.Generator, Strokes | None], Strokes]
    edits: bool = False

    @property
    def description(self) -> str:
        """The first sentence of the maker's docstring."""
        text = " ".join((self.make.__doc__ or "").split())
        return text.split(". ")[0].rstrip(".") + "."

    def __repr__(self) -> str:
        kind = "edits a skeleton" if self.edits else "template"
        return f"Style({self.name!r}, digit={self.digit}, {kind})"


_EDITS = {zero_slashed, zero_dotted, one_plain, one_flag, one_flag_base, one_base, one_hook,
          seven_crossed, seven_hooked}

STYLES: dict[str, Style] = {
    make.__name__: Style(make.__name__, digit, make, make in _EDITS)
    for digit, make in (
        (0, zero_plain), (0, zero_slashed), (0, zero_dotted), (0, zero_round), (0, zero_narrow),
        (0, zero_open),
        (1, one_plain), (1, one_flag), (1, one_flag_base), (1, one_base), (1, one_hook),
        (2, two_plain), (2, two_loop),
        (3, three_flat_top),
        (4, four_closed), (4, four_open), (4, four_one_stroke), (4, four_two_strokes),
        (4, four_long_stem), (4, four_narrow),
        (5, five_bar_first), (5, five_bar_last), (5, five_round),
        (6, six_small_loop), (6, six_large_loop),
        (7, seven_plain), (7, seven_crossed), (7, seven_curved), (7, seven_hooked),
        (8, eight_two_circles), (8, eight_one_stroke),
        (9, nine_straight), (9, nine_curved),
    )
}
"""Every style by name, in digit order (the order a benchmark reports them)."""

EDITED_DIGITS = tuple(sorted({s.digit for s in STYLES.values() if s.edits}))
"""The digits whose traced skeletons some style edits (what ``traced_bases`` traces)."""


def weighted_names(weights: Mapping[str, int] | None = None) -> list[str]:
    """Every style's name once, and a style named in ``weights`` that many times: the
    ``styles`` argument that draws it that many times as often as each of the others.

    Raises ValueError for a name that is not a style or a weight that is not a whole
    number of at least 1."""
    weights = dict(weights or {})
    for name, weight in weights.items():
        if name not in STYLES:
            raise ValueError(f"no style is called {name!r} (the styles: {', '.join(STYLES)})")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise ValueError(f"the weight of {name} must be a whole number of at least 1, "
                             f"got {weight!r}")
    return [name for name in STYLES for _ in range(weights.get(name, 1))]


# --- many drawings, for training and benchmarks ----------------------------------------------


class StyledDrawing(NamedTuple):
    """One styled digit as drawn on the canvas: strokes, ``render`` keyword arguments,
    the digit, the style's name and the hand's name (``network.training.hands``)."""

    strokes: Strokes
    kwargs: dict
    label: int
    style: str
    hand: str


def styled_drawings(
    n: int,
    rng: np.random.Generator,
    *,
    styles: Sequence[str] | None = None,
    bases: Mapping[int, Sequence[Strokes]] | None = None,
) -> list[StyledDrawing]:
    """Return n drawings of the named ``styles`` (default every style), as evenly as n
    allows in a random order, each in a hand picked uniformly from ``hands.VARIATIONS``.

    ``bases`` maps a digit to traced skeletons (``traced_bases``) that edit styles pick
    from at random; without bases for a digit, its edit styles draw their template.
    """
    names = list(STYLES) if styles is None else list(styles)
    order = rng.permutation(np.resize(np.arange(len(names)), n)) if n else []
    drawings = []
    for k in order:
        style = STYLES[names[k]]
        pool = (bases or {}).get(style.digit) if style.edits else None
        base = pool[int(rng.integers(len(pool)))] if pool else None
        strokes, kwargs, hand = in_any_hand(in_pen_order(style.make(rng, base), style.digit,
                                                         rng), rng)
        drawings.append(StyledDrawing(strokes, kwargs, style.digit, style.name, hand))
    return drawings


def styled_images(
    n: int,
    rng: np.random.Generator,
    *,
    styles: Sequence[str] | None = None,
    bases: Mapping[int, Sequence[Strokes]] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return n styled digits rendered by the app's renderer for training: float32
    images (n, 28, 28) in [0, 1], int64 labels (n,) and each image's style name."""
    drawings = styled_drawings(n, rng, styles=styles, bases=bases)
    images = np.empty((n, 28, 28), dtype=np.float32)
    for i, drawing in enumerate(drawings):
        images[i] = render(drawing.strokes, **drawing.kwargs)
    labels = np.array([d.label for d in drawings], dtype=np.int64)
    return images, labels, [d.style for d in drawings]


def traced_bases(
    images: np.ndarray,
    labels: np.ndarray,
    per_digit: int,
    rng: np.random.Generator,
    digits: Sequence[int] = EDITED_DIGITS,
) -> dict[int, list[Strokes]]:
    """Trace ``per_digit`` randomly chosen uint8 (N, 28, 28) images of each of ``digits``
    (labels (N,)) into strokes, the bases that edit styles draw on; empty traces dropped."""
    bases = {}
    for digit in digits:
        pool = np.flatnonzero(np.asarray(labels) == digit)
        chosen = rng.choice(pool, size=min(per_digit, len(pool)), replace=False)
        traced = images_to_strokes(np.asarray(images)[np.sort(chosen)])
        bases[int(digit)] = [strokes for strokes in traced if _usable(strokes)]
    return bases


# --- helpers ------------------------------------------------------------------------------


def _usable(strokes: Strokes | None) -> Strokes | None:
    """The strokes as float (k, 2) arrays if they hold a drawing with some extent, else None."""
    if not strokes:
        return None
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return None
    lo, hi = extent(arrays)
    return arrays if float((hi - lo).max()) > 0 else None


def _step(strokes: Strokes) -> float:
    """A point spacing for added strokes: ``pen.STEP`` times the drawing's height."""
    lo, hi = extent(strokes)
    return STEP * float(max(hi[1] - lo[1], (hi - lo).max() / 2, 1e-9))
