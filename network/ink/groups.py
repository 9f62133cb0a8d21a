"""Groups of ink side by side: is this one digit, or several ("12", "3 4", "007")?

The network reads one digit; when a person writes several, the app should say "one
digit at a time" instead of guessing.  Written digits stand side by side with a gap
between them, while the strokes of one digit overlap in x: a 5's top bar lies over its
belly, a 4's bar crosses its stem, a 7's crossbar and a 1's base straddle their stems,
a slash or a dot lies inside a 0, and a sketchy hand's dashes follow one another.  So:

1. **Deslant.**  Italic writing leans every digit the same way, which makes neighbours
   overlap in x.  The slant is the least-squares ``dx / dy`` of the steep pieces of ink
   (within about 27 degrees of vertical), and each point's x is taken as
   ``x - slant * y``, which stands the writing upright.
2. **Sweep.**  Strokes sorted by their left edge join the current group while they
   start no more than ``GAP`` times the ink's height to the right of its right edge;
   otherwise they open a new group.
3. **Parts are not digits.**  A group shorter than ``PART`` times the tallest group (a
   bar drawn apart, a dot, a stray tap) joins the nearer digit-sized group.

What it cannot see: digits that touch or overlap in x (the network's own "not sure"
has to catch those) and several digits written in one stroke.  It looks at a few
numbers per stroke, so it runs on every prediction: one concatenation, a dozen
whole-array operations, then a Python loop over strokes.

Strokes are lists of ``(k, 2)`` arrays of ``[x, y]`` points, y down, in any units;
trusted input, as ``webapp.protocol`` checks it at the web edge.
"""

from __future__ import annotations

import numpy as np

GAP = 0.08
"""Strokes this far apart in x (times the ink's height), or more, are in different groups;
chosen on drawn ink (``benchmarks/ink.py``): wider gaps miss close pairs, narrower ones
split digits whose pen lifted for a moment."""

PART = 0.5
"""A group shorter than this share of the tallest group is part of a digit, not a digit."""

STEEP = 2.0
"""A piece of ink counts towards the slant when it is this many times taller than wide."""

MAX_SLANT = 0.6
"""The largest slant (``dx / dy``, about 31 degrees) the deslant step corrects."""


def groups(strokes) -> list[list[int]]:
    """Return the indices of the strokes in each group of ink, groups left to right and
    indices ascending within a group; empty strokes belong to no group."""
    polylines, index = [], []
    for i, stroke in enumerate(strokes):
        if not (isinstance(stroke, np.ndarray) and stroke.dtype == np.float64):
            stroke = np.asarray(stroke, dtype=np.float64)
        if stroke.size:
            polylines.append(stroke.reshape(-1, 2))
            index.append(i)
    if len(polylines) < 2:
        return [index] if index else []
    boxes = _deslanted_boxes(polylines)
    return [sorted(index[k] for k in members) for members in _sweep(boxes)]


def several(strokes) -> bool:
    """True when the strokes form two or more groups of ink side by side."""
    return len(groups(strokes)) > 1


def _deslanted_boxes(polylines: list[np.ndarray]) -> list[list[float]]:
    """Return each stroke's [left, right, top, bottom] after the writing is deslanted."""
    starts = [0]
    for p in polylines[:-1]:
        starts.append(starts[-1] + len(p))
    points = np.concatenate(polylines)  # a copy: the input is never changed
    d = points[1:] - points[:-1]
    for start in starts[1:]:
        d[start - 1] = 0.0  # the jump from one stroke to the next is no ink
    dx, dy = d[:, 0], d[:, 1]
    w = dy * (np.abs(dy) > STEEP * np.abs(dx))  # dy on steep pieces, 0 elsewhere
    rise = float(dy @ w)
    if rise > 0:
        # The least-squares slant of the steep pieces: dx ~ slant * dy.
        slant = min(max(float(dx @ w) / rise, -MAX_SLANT), MAX_SLANT)
        points[:, 0] -= slant * points[:, 1]
    low = np.minimum.reduceat(points, starts, axis=0).tolist()
    high = np.maximum.reduceat(points, starts, axis=0).tolist()
    return [[lo[0], hi[0], lo[1], hi[1]] for lo, hi in zip(low, high, strict=True)]


def _sweep(boxes: list[list[float]]) -> list[list[int]]:
    """Group stroke boxes [left, right, top, bottom] by gaps in x, then fold parts into
    the nearer digit-sized group; returns stroke positions per group, left to right."""
    height = max(b[3] for b in boxes) - min(b[2] for b in boxes)
    reach = GAP * height
    found: list[list] = []  # [left, right, top, bottom, members]
    for k in sorted(range(len(boxes)), key=lambda k: boxes[k][0]):
        left, right, top, bottom = boxes[k]
        if found and left <= found[-1][1] + reach:
            group = found[-1]
            group[1], group[2], group[3] = max(group[1], right), min(group[2], top), max(
                group[3], bottom)
            group[4].append(k)
        else:
            found.append([left, right, top, bottom, [k]])
    if len(found) == 1:
        return [found[0][4]]
    tallest = max(g[3] - g[2] for g in found)
    if tallest <= 0:  # flat ink (taps, a level line) has nothing digit-sized in it
        return [[k for g in found for k in g[4]]]
    is_digit = [g[3] - g[2] >= PART * tallest for g in found]
    # Each part joins the digit-sized group across the narrower gap, left or right.
    following: list = [None] * len(found)  # the nearest digit-sized group to the right
    for k in range(len(found) - 2, -1, -1):
        following[k] = found[k + 1] if is_digit[k + 1] else following[k + 1]
    digits, previous = [], None
    for k, group in enumerate(found):
        if is_digit[k]:
            digits.append(group)
            previous = group
            continue
        after = following[k]  # some digit-sized group lies to the left if none lies right
        left_gap = group[0] - previous[1] if previous is not None else np.inf
        right_gap = after[0] - group[1] if after is not None else np.inf
        (previous if left_gap <= right_gap else after)[4].extend(group[4])
    return [g[4] for g in digits]
