"""The ways people draw: stroke digits re-drawn as a person would on a 280x280 canvas.

MNIST accuracy is not what people feel; they draw small in a corner, fill the whole
canvas, press a thin or a thick pen, slant, shake, draw in many short strokes and move
the pen fast and slow.  Each *variation* here is a function ``(strokes, rng) ->
(strokes, render_kwargs)`` that takes a digit's strokes (any units, y down, e.g. traced
from an MNIST skeleton) and returns the strokes a person might have sent from the canvas,
plus keyword arguments for ``network.ink.render`` (a pen width for the pen variations).
Every point is rounded to whole canvas pixels as pointer events are, and lies on the
canvas.  Randomness comes only from the ``numpy.random.Generator`` passed in, so a
benchmark is repeatable from its seed.  The trade-off: these are geometric caricatures
of drawing habits, not a model of real people, so they show *which* habit hurts, not the
exact accuracy a person will see.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CANVAS = 280.0
"""Side of the drawing canvas, in canvas pixels."""

Strokes = list[np.ndarray]
Variation = Callable[[Strokes, np.random.Generator], tuple[Strokes, dict]]


# --- the ways people draw a digit -----------------------------------------------------


def natural(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A comfortable drawing: half to three quarters of the canvas, roughly centred."""
    return draw(strokes, rng, size=rng.uniform(140, 210)), {}


def tiny_in_a_corner(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A digit 18-30 px tall squeezed into one corner, with pixel-coarse coordinates."""
    size = rng.uniform(18, 30)
    margin = rng.uniform(2, 12)
    corner = rng.integers(0, 2, size=2)  # 0 = left/top, 1 = right/bottom
    centre = np.where(corner == 0, margin + size / 2, CANVAS - margin - size / 2)
    return draw(strokes, rng, size=size, centre=centre, spacing=1.5), {}


def filling_the_canvas(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A digit as large as the canvas allows: its longer side spans 94-100% of it."""
    size = rng.uniform(0.94, 1.0) * (CANVAS - 1)
    return draw(strokes, rng, size=size, centre=np.full(2, CANVAS / 2), spacing=6.0), {}


def thin_pen(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A natural drawing rendered with a pen about half the usual width."""
    drawn, _ = natural(strokes, rng)
    return drawn, {"width": float(rng.uniform(1.0, 1.5))}


def thick_pen(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A natural drawing rendered with a pen about one and a half times the usual width."""
    drawn, _ = natural(strokes, rng)
    return drawn, {"width": float(rng.uniform(3.6, 4.4))}


def slanted(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """Italic handwriting: sheared by 10-20 degrees either way (tops lean right or left)."""
    angle = np.radians(rng.uniform(10, 20)) * rng.choice([-1, 1])
    return draw(strokes, rng, size=rng.uniform(140, 210), shear=np.tan(angle)), {}


def rotated(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """The whole digit turned by 10-20 degrees either way, as on a tilted tablet."""
    angle = np.radians(rng.uniform(10, 20)) * rng.choice([-1, 1])
    return draw(strokes, rng, size=rng.uniform(140, 210), rotation=angle), {}


def jittery(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A shaky hand: the pen wanders about 2.5 canvas px around the intended path."""
    return draw(strokes, rng, size=rng.uniform(140, 210), spacing=3.0, jitter=2.5), {}


def many_short_strokes(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """Sketchy drawing: every stroke broken into dashes 12-30 px long that overlap or
    leave small gaps, each a separate stroke."""
    drawn = draw(strokes, rng, size=rng.uniform(140, 210), spacing=3.0)
    dashes = []
    for stroke in drawn:
        start = 0
        while start < len(stroke) - 1:
            n = int(rng.integers(4, 11))  # 4-10 points at 3 px spacing
            piece = stroke[max(0, start - int(rng.integers(0, 2))) : start + n]
            piece = piece + np.round(rng.normal(0, 1.0, size=2))  # dashes are never aligned
            dashes.append(on_canvas(piece))
            start += n - 1 + int(rng.integers(0, 2))  # an occasional one-point gap
        if len(stroke) == 1:
            dashes.append(stroke)
    return dashes, {}


def uneven_speed(strokes: Strokes, rng: np.random.Generator) -> tuple[Strokes, dict]:
    """Fast and slow movements: point spacing swings smoothly between 1 and 25 px."""
    placed = place(strokes, rng.uniform(140, 210), near_centre(rng))
    drawn = [_resample_unevenly(s, rng) for s in placed]
    return [on_canvas(s) for s in drawn], {}


VARIATIONS: dict[str, Variation] = {
    f.__name__: f
    for f in (
        natural,
        tiny_in_a_corner,
        filling_the_canvas,
        thin_pen,
        thick_pen,
        slanted,
        rotated,
        jittery,
        many_short_strokes,
        uneven_speed,
    )
}
"""Every variation by name, in the order a benchmark should report them."""


def in_any_hand(
    strokes: Strokes, rng: np.random.Generator, names: tuple[str, ...] | None = None
) -> tuple[Strokes, dict, str]:
    """Draw the strokes in one way picked uniformly from ``names`` (default: every
    variation); returns the canvas strokes, the render keyword arguments and the name."""
    names = tuple(VARIATIONS) if names is None else names
    name = names[int(rng.integers(len(names)))]
    drawn, kwargs = VARIATIONS[name](strokes, rng)
    return drawn, kwargs, name


# --- helpers ----------------------------------------------------------------------------


def draw(
    strokes: Strokes,
    rng: np.random.Generator,
    *,
    size: float,
    centre: np.ndarray | None = None,
    spacing: float = 4.0,
    shear: float = 0.0,
    rotation: float = 0.0,
    jitter: float = 0.0,
) -> Strokes:
    """Deform, place, resample at ``spacing`` px, shake by ``jitter`` px and round to pixels."""
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if shear or rotation:
        c, s = np.cos(rotation), np.sin(rotation)
        # x' = x - shear * y leans the top to the right for shear > 0 (y points down).
        matrix = np.array([[c, -s], [s, c]]) @ np.array([[1.0, -shear], [0.0, 1.0]])
        strokes = [p @ matrix.T for p in strokes]
    centre = near_centre(rng) if centre is None else centre
    placed = place(strokes, size, centre)
    drawn = []
    for stroke in placed:
        points = resample(stroke, spacing)
        if jitter and len(points) > 1:
            points = points + _tremor(len(points), jitter, rng)
        drawn.append(on_canvas(points))
    return drawn


def near_centre(rng: np.random.Generator) -> np.ndarray:
    """A drawing's centre: the canvas centre give or take 20 px."""
    return CANVAS / 2 + rng.uniform(-20, 20, size=2)


def place(strokes: Strokes, size: float, centre: np.ndarray) -> Strokes:
    """Scale strokes so the bounding box's longer side is ``size``, its centre at ``centre``."""
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = float((hi - lo).max())
    factor = size / extent if extent > 0 else 1.0
    middle = (lo + hi) / 2
    # Keep the whole box on the canvas even if centre asks for a little too much.
    half = (hi - lo) * factor / 2
    centre = np.clip(centre, half, CANVAS - 1 - half)
    return [(s - middle) * factor + centre for s in strokes]


def resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Return points every ``spacing`` along the polyline (its ends kept)."""
    if len(points) < 2:
        return points
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    if arc[-1] == 0:
        return points[:1]
    n = max(2, int(round(arc[-1] / spacing)) + 1)
    return _at_arc_lengths(points, arc, np.linspace(0, arc[-1], n))


def _resample_unevenly(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return points along the polyline whose spacing follows a smoothly varying speed."""
    if len(points) < 2:
        return points
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    if arc[-1] == 0:
        return points[:1]
    # Speed is a slow random wave: log-spacing between log(1) and log(25).
    phase, cycles = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 2.5)
    positions = [0.0]
    while positions[-1] < arc[-1]:
        wave = np.sin(phase + 2 * np.pi * cycles * positions[-1] / arc[-1])
        positions.append(positions[-1] + float(np.exp(np.log(5.0) + np.log(5.0) * wave)))
    positions[-1] = arc[-1]
    return _at_arc_lengths(points, arc, np.array(positions))


def _at_arc_lengths(points: np.ndarray, arc: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Interpolate the polyline ``points`` (with cumulative lengths ``arc``) at ``positions``."""
    return np.stack([np.interp(positions, arc, points[:, k]) for k in (0, 1)], axis=1)


def _tremor(n: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random wander (n, 2) with standard deviation about ``amplitude`` pixels."""
    noise = rng.normal(0, 1, size=(n + 4, 2))
    kernel = np.array([1, 2, 3, 2, 1]) / 9.0  # correlates neighbours: a hand, not sensor noise
    smooth = np.stack([np.convolve(noise[:, k], kernel, mode="valid") for k in (0, 1)], 1)
    return smooth * amplitude / np.sqrt((kernel**2).sum())


def on_canvas(points: np.ndarray) -> np.ndarray:
    """Round to whole pixels like pointer events, clamp to the canvas, drop repeats."""
    points = np.clip(np.round(points), 0, CANVAS - 1)
    if len(points) > 1:
        moved = np.any(np.diff(points, axis=0) != 0, axis=1)
        points = points[np.concatenate([[True], moved])]
    return points
