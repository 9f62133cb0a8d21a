"""People's pen order: the strokes of a digit in the order and direction people write them.

A tracer (``network.ink.tracing``) and the style templates give a digit's strokes in
whatever order and direction the geometry suggests; a person writes them in a learned
order.  What the network sees *while* someone draws is a prefix of that order, so
training on prefixes (``prefixes``) is only as realistic as the order is.  The
conventions below are those taught for printed numerals in school handwriting
programmes (the Zaner-Bloser and D'Nealian numeral models used in US schools, and the
UK's National Curriculum formation groups), which agree on the points used here, and
they match what on-line digit collections record of adult writers (pen-ordered sets
such as UCI's "Pen-Based Recognition of Handwritten Digits", Alimoglu and Alpaydin,
1996, where the writers' own order is kept):

- **Top to bottom, left to right.**  A stroke starts at its upper end; a mostly
  level stroke (a bar, a 2's base) starts at its left end.  Strokes are made in the
  order of their starting points, upper first, then left first.
- **Loops counter-clockwise, from the top.**  A 0 starts at the top and goes left
  (counter-clockwise on the screen) in about four of five hands (the rest clockwise),
  and its slash or dot comes after the ring;
  a 6 comes down the left side and closes its loop counter-clockwise; a 9 makes its
  loop first, counter-clockwise from its upper right, then the stem down; an 8 starts
  at the top (one stroke, or the upper circle before the lower).
- **Bars and flags.**  A 7's top bar is drawn left to right and runs into the
  down-stroke; a crossbar comes last.  A 5 is written body first and its top bar
  (flag) last in the school models (``FIVE_BAR_LAST``), but many adults draw the bar
  first; both occur.  A 4 is written as the left down-stroke and the bar (one stroke
  or two), then the stem (a tracer starts a closed 4 at its stem, the highest point, so
  the stem is moved last), or, open, in one stroke.  A 1's flag is the start of its
  stroke: up to the top, then down.
- **A little randomness**: with probability ``SLIP`` a stroke is drawn the other way,
  and with the same probability two neighbouring strokes swap places, because hands
  are not textbooks.

The number of strokes (a 4 in one or two, an 8 as one stroke or two circles, a 5 in one
or two) is each style's own (``network.training.styles``); this module only orders and
directs them.  ``pen_down_frames`` then cuts drawings on the canvas after a point, as
often as a page reads them mid-drawing.
"""

from __future__ import annotations

import numpy as np

from .pen import Strokes

SLIP = 0.08
"""Probability that a stroke goes the other way, and that two neighbours swap."""

CLOCKWISE_ZERO = 0.2
"""Share of 0s drawn clockwise."""

FIVE_BAR_LAST = 0.55
"""Share of two-stroke 5s whose top bar is drawn last."""

LEVEL = 2.0
"""A stroke whose ends differ this many times more across than down is level."""


CLOSED_GAP = 0.15
"""A stroke whose ends are closer than this share of its size is a loop (hands rarely
close one exactly)."""


def _closed(stroke: np.ndarray) -> bool:
    if len(stroke) <= 3:
        return False
    size = float(np.ptp(stroke, axis=0).max())
    return float(np.hypot(*(stroke[-1] - stroke[0]))) <= CLOSED_GAP * size


def _signed_area(ring: np.ndarray) -> float:
    """Twice the signed area of a closed ring in screen coordinates (y down): negative
    for a counter-clockwise ring as seen on the screen."""
    x, y = ring[:, 0], ring[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _loop_from(ring: np.ndarray, start: int, counter_clockwise: bool) -> np.ndarray:
    """The closed ring starting (and ending) at point ``start``, in the given sense."""
    body = ring[:-1] if np.array_equal(ring[0], ring[-1]) else ring
    body = np.concatenate([body[start:], body[:start]])
    looped = np.concatenate([body, body[:1]])
    if (_signed_area(looped) < 0) != counter_clockwise:
        looped = looped[::-1]
    return looped


def _directed(stroke: np.ndarray) -> np.ndarray:
    """An open stroke from its upper end, or from its left end when it is level."""
    dx, dy = stroke[-1] - stroke[0]
    if abs(dx) > LEVEL * abs(dy):
        return stroke if dx >= 0 else stroke[::-1]
    return stroke if dy >= 0 else stroke[::-1]


def _ring(stroke: np.ndarray, digit: int, rng: np.random.Generator) -> np.ndarray:
    """A closed stroke started and turned as people write the digit's loop."""
    x, y = stroke[:, 0], stroke[:, 1]
    if digit == 9:  # from the upper right of the loop
        start = int(np.argmin(y - 0.5 * (x - x.mean())))
    else:  # from the top
        start = int(np.argmin(y))
    counter_clockwise = not (digit == 0 and rng.random() < CLOCKWISE_ZERO)
    return _loop_from(stroke, start, counter_clockwise)


def in_pen_order(strokes: Strokes, digit: int, rng: np.random.Generator) -> Strokes:
    """The digit's strokes in people's order and direction (see the module doc).

    strokes: float (k_i, 2) ``[x, y]`` arrays, y down (canvas, template or pixel units);
    returns new arrays, the same points, reordered and perhaps reversed.
    """
    shaped = []
    for stroke in (np.asarray(s, dtype=np.float64) for s in strokes):
        if len(stroke) < 2:
            shaped.append(stroke.copy())
            continue
        stroke = _ring(stroke, digit, rng) if _closed(stroke) else _directed(stroke)
        if not _closed(stroke) and rng.random() < SLIP:
            stroke = stroke[::-1]
        shaped.append(stroke.copy())
    if not shaped:
        return shaped
    # Upper first, then left first (a row band of a tenth of the height counts as level).
    lo = np.min([s.min(axis=0) for s in shaped], axis=0)
    hi = np.max([s.max(axis=0) for s in shaped], axis=0)
    band = max(float(hi[1] - lo[1]) / 10, 1e-9)
    order = sorted(range(len(shaped)),
                   key=lambda i: (round(float(shaped[i][0, 1]) / band), shaped[i][0, 0]))
    ordered = [shaped[i] for i in order]
    if digit in (0, 9):  # the ring before a slash or a dot; a 9's loop before its stem
        ordered.sort(key=lambda s: not _closed(s))
    if digit == 4 and len(ordered) >= 2:  # the stem after the down-stroke and the bar
        stem = _stem(ordered)
        if stem is not None:
            ordered.append(ordered.pop(stem))
    if digit == 5 and len(ordered) >= 2 and rng.random() < FIVE_BAR_LAST:
        bar = min(range(len(ordered)), key=lambda i: _level_height(ordered[i]))
        ordered.append(ordered.pop(bar))
    if len(ordered) >= 2 and rng.random() < SLIP:
        i = int(rng.integers(len(ordered) - 1))
        ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    return ordered


def _stem(strokes: Strokes) -> int | None:
    """The index of a 4's stem: the tallest upright stroke right of the drawing's middle
    (a tracer often starts with it, as its top is the highest point); None if none is."""
    points = np.concatenate(strokes)
    middle = float(points[:, 0].min() + points[:, 0].max()) / 2
    best, height = None, 0.0
    for i, stroke in enumerate(strokes):
        dx, dy = np.ptp(stroke, axis=0) if len(stroke) > 1 else (0.0, 0.0)
        if dy > LEVEL * dx and float(stroke[:, 0].mean()) > middle and dy > height:
            best, height = i, float(dy)
    return best


def _level_height(stroke: np.ndarray) -> float:
    """How high a level stroke sits (its mean y), or infinity when it is not level."""
    dx, dy = np.ptp(stroke, axis=0) if len(stroke) > 1 else (0.0, 1.0)
    return float(stroke[:, 1].mean()) if dx > LEVEL * dy else float("inf")


def ink_length(strokes: Strokes) -> float:
    """Total length of the ink, summed over strokes."""
    return float(sum(np.hypot(*np.diff(np.asarray(s, dtype=np.float64), axis=0).T).sum()
                     for s in strokes if len(s) > 1))


def canvas_drawings(images: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator,
                    *, styled_share: float = 0.4, bases=None) -> list[tuple[Strokes, int]]:
    """n digits as a page receives them: MNIST images (uint8 (N, 28, 28), labels (N,))
    thinned, traced, put in pen order and drawn on the canvas in one of the ways people
    draw (``network.training.hands``), and a ``styled_share`` in the world's styles
    (``network.training.styles``, already in pen order and on the canvas); each a pair
    (canvas strokes, digit)."""
    from ..ink.skeleton import images_to_strokes
    from .hands import in_any_hand
    from .styles import styled_drawings

    n_styled = int(round(n * styled_share))
    chosen = rng.choice(len(images), size=n - n_styled, replace=len(images) < n - n_styled)
    drawings = []
    for strokes, digit in zip(images_to_strokes(np.asarray(images)[chosen]),
                              np.asarray(labels)[chosen], strict=True):
        if strokes:
            drawings.append((in_any_hand(in_pen_order(strokes, int(digit), rng), rng)[0],
                             int(digit)))
    drawings += [(d.strokes, d.label) for d in styled_drawings(n_styled, rng, bases=bases)]
    return drawings


def pen_down_frames(drawings, rng: np.random.Generator,
                    every: float = 24.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ink a page reads while the pen is down, sampled as the page's frames come.

    drawings: (canvas strokes in pen order, digit) pairs.  A page reads the ink every
    few points, so a drawing is read while it is drawn about as often as it has points:
    each drawing gives about one cut per ``every`` points (binomial), each after a point
    picked uniformly (from the second on), the stroke then being drawn open.  Returns
    float32 images (n, 28, 28) rendered as the server renders them, int64 labels (n,):
    the digit the ink *becomes*, so cross-entropy on them learns how likely each digit
    is given the ink so far, in the proportions a page meets them; and int64 (n,) the
    points drawn so far (what the server knows of how far along the drawing is).
    """
    from ..ink.render import render

    images, labels, points = [], [], []
    for strokes, digit in drawings:
        strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
        total = sum(len(s) for s in strokes)
        if total < 2:
            continue
        for cut in rng.integers(2, total + 1, size=rng.binomial(total, 1 / every)):
            images.append(render(cut_after(strokes, int(cut))))
            labels.append(digit)
            points.append(int(cut))
    if not images:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.int64),
            np.asarray(points, dtype=np.int64))


def cut_after(strokes: Strokes, points: int) -> Strokes:
    """The first ``points`` points of the drawing: whole strokes, then the open one."""
    out: Strokes = []
    for stroke in strokes:
        if points <= 0:
            break
        out.append(stroke[:points])
        points -= len(stroke)
    return out
