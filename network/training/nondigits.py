"""Shapes that are not digits: families to train "not sure" on, and families held out.

A softmax classifier must spread its belief over ten digits, so out of the box it
reads a scribble or a dash as some digit with high confidence. Outlier exposure
(Hendrycks et al. 2019) fixes much of this cheaply: during training, mix in images
that are no digit and ask for the uniform distribution on them (label ``-1`` in
``softmax_cross_entropy``). The network then keeps high confidence for digits and
learns low confidence for ink that looks like none of them.

Two sets live here and must stay apart.  ``TRAINING`` families are mixed into training;
``HELDOUT`` shapes (drawn on the page's canvas by ``network.training.hands``) are only
measured, by ``benchmarks/ink.py``.  Some held-out shapes resemble training families (a
dash is like a straight line, a coil like a spiral, a random walk like a scribble, a
zigzag like a W or a wave); those are listed in ``LIKE_TRAINING`` and the other held-out
shapes are reported separately, the honest measure of generalisation. Nothing here may look like
a digit: lines stay within 35 degrees of horizontal (a steep line is a "1"), and no
family draws a single closed loop (a "0").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ink.render import render
from .hands import Strokes, draw, near_centre, on_canvas, resample


def random_walk(rng: np.random.Generator) -> list[np.ndarray]:
    """A tangled scribble: a random walk with momentum that turns a lot."""
    n = int(rng.integers(90, 180))
    heading = np.cumsum(rng.normal(0, 0.9, n))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * rng.uniform(2, 6)
    return [np.cumsum(steps, axis=0)]


def zigzag(rng: np.random.Generator) -> list[np.ndarray]:
    """Several sharp teeth in a row, like a saw blade."""
    teeth = int(rng.integers(3, 6))
    x = np.arange(2 * teeth + 1) * rng.uniform(8, 12)
    y = np.where(np.arange(len(x)) % 2, 0.0, rng.uniform(20, 35))
    return [np.stack([x, y + rng.normal(0, 1, len(x))], axis=1)]


def dash(rng: np.random.Generator) -> list[np.ndarray]:
    """One or two near-horizontal strokes (a minus, an equals sign)."""
    strokes = []
    for k in range(int(rng.integers(1, 3))):
        angle = np.radians(rng.uniform(-35, 35))
        t = np.linspace(-1, 1, 12)[:, None] * rng.uniform(20, 60)
        strokes.append(t * [np.cos(angle), np.sin(angle)] + [0, 25 * k])
    return strokes


def coil(rng: np.random.Generator) -> list[np.ndarray]:
    """A spiral of two to four turns."""
    turns = rng.uniform(2, 4)
    t = np.linspace(0, 2 * np.pi * turns, 200)
    r = 5 + t * rng.uniform(2, 4)
    return [np.stack([r * np.cos(t), r * np.sin(t) * rng.uniform(0.6, 1.2)], axis=1)]


def hatching(rng: np.random.Generator) -> list[np.ndarray]:
    """A patch of parallel strokes (shading)."""
    k = int(rng.integers(3, 6))
    slope = rng.uniform(-1, 1)
    return [np.array([[i * 14.0, 0.0], [i * 14.0 + 20, 20 * slope + 30]]) for i in range(k)]


def speckle(rng: np.random.Generator) -> list[np.ndarray]:
    """Scattered dots and ticks."""
    return [rng.uniform(0, 60, 2) + rng.normal(0, 2, (2, 2)) for _ in range(rng.integers(4, 12))]


TRAINING = (random_walk, zigzag, dash, coil, hatching, speckle)
"""The families mixed into training with a uniform target."""


def outlier_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rendered non-digits (n, 28, 28) float32, through the app's own ink renderer."""
    out = np.empty((n, 28, 28), np.float32)
    for i in range(n):
        make = TRAINING[int(rng.integers(len(TRAINING)))]
        out[i] = render(make(rng), width=float(rng.uniform(1.8, 3.2)))
    return out


# --- held-out shapes: measured by benchmarks/ink.py, never trained on -------------


def scribble(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A back-and-forth scribble that fills an area, as when someone crosses something out."""
    n = int(rng.integers(8, 16))
    xs = np.where(np.arange(n) % 2 == 0, rng.uniform(60, 100, n), rng.uniform(180, 220, n))
    ys = np.linspace(rng.uniform(60, 90), rng.uniform(190, 220), n) + rng.normal(0, 8, n)
    corners = np.stack([xs, ys], axis=1)
    return [on_canvas(resample(corners, 4.0) + rng.normal(0, 1.0, (1, 2)))], {}


def dot(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A single tap: one to three points at the same place."""
    point = np.round(rng.uniform(40, 240, size=2))
    return [np.repeat(point[None], int(rng.integers(1, 4)), axis=0)], {}


def straight_line(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A straight line within 30 degrees of horizontal (a vertical one would be a "1")."""
    angle = np.radians(rng.uniform(-30, 30))
    half = rng.uniform(50, 120)
    centre = near_centre(rng)
    direction = np.array([np.cos(angle), np.sin(angle)])
    ends = centre + half * np.stack([-direction, direction])
    return [on_canvas(resample(ends, 4.0))], {}


def spiral(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A spiral of two to three turns from the centre outwards."""
    turns = rng.uniform(2.0, 3.0)
    t = np.linspace(0, turns * 2 * np.pi, int(120 * turns))
    radius = 8 + rng.uniform(30, 40) * t / (2 * np.pi)
    radius *= 110 / radius.max()
    direction = rng.choice([-1, 1])
    points = near_centre(rng) + np.stack([radius * np.cos(t), direction * radius * np.sin(t)], 1)
    return [on_canvas(points)], {}


def star(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A five-pointed star drawn in one stroke (the pentagram)."""
    start = rng.uniform(0, 2 * np.pi)
    corners = start + np.arange(6) * 4 * np.pi / 5
    points = near_centre(rng) + rng.uniform(80, 110) * np.stack(
        [np.cos(corners), np.sin(corners)], axis=1
    )
    return [on_canvas(resample(points, 4.0))], {}


def letter_w(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A capital W in one stroke."""
    w, h = rng.uniform(150, 220), rng.uniform(100, 160)
    shape = np.array([[0, 0], [0.25, 1], [0.5, rng.uniform(0.1, 0.4)], [0.75, 1], [1, 0]])
    points = (shape - 0.5) * [w, h] + near_centre(rng)
    return [on_canvas(resample(points, 4.0))], {}


def wavy_line(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A horizontal wave of two to four periods."""
    x = np.linspace(-1, 1, 160)
    periods = rng.uniform(2, 4)
    amplitude = rng.uniform(15, 35)
    points = np.stack([x * rng.uniform(90, 120), amplitude * np.sin(np.pi * periods * x)], 1)
    return [on_canvas(points + near_centre(rng))], {}


_LETTERS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.8, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.8, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "R": [[(0, 1), (0, 0), (0.8, 0), (1, 0.25), (0.8, 0.5), (0, 0.5), (1, 1)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
}


def letter(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A capital letter (A, E, F, H, K, M, R, X); A and H share strokes with a "4"."""
    shape = _LETTERS[str(rng.choice(list(_LETTERS)))]
    size = np.array([rng.uniform(100, 180), rng.uniform(140, 200)])
    strokes = [np.array(s, dtype=float) * size for s in shape]
    shear = rng.uniform(-0.2, 0.2)
    return draw(strokes, rng, size=float(size.max()), jitter=1.0, shear=shear), {}


def hash_sign(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A "#": two roughly horizontal and two roughly vertical strokes."""
    t = rng.uniform(-0.3, 0.3)
    strokes = [
        np.array([[-1.0, -0.35 + t], [1.0, -0.35 - t]]),
        np.array([[-1.0, 0.35 + t], [1.0, 0.35 - t]]),
        np.array([[-0.35 - t, -1.0], [-0.35 + t, 1.0]]),
        np.array([[0.35 - t, -1.0], [0.35 + t, 1.0]]),
    ]
    return draw(strokes, rng, size=rng.uniform(120, 200), jitter=1.0), {}


def smiley(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A face: a circle, two eyes and a smile."""
    t = np.linspace(0, 2 * np.pi, 60)
    face = np.stack([np.cos(t), np.sin(t)], axis=1)
    s = np.linspace(0.2 * np.pi, 0.8 * np.pi, 20)
    smile = 0.55 * np.stack([np.cos(s), np.sin(s)], axis=1)
    eyes = [np.array([[-0.35, -0.3]]), np.array([[0.35, -0.3]])]
    return draw([face, *eyes, smile], rng, size=rng.uniform(120, 200), jitter=1.0), {}


def heart(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """A heart in one stroke."""
    t = np.linspace(0, 2 * np.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return draw([np.stack([x, y], axis=1)], rng, size=rng.uniform(120, 200), jitter=1.0), {}


def arrow(rng: np.random.Generator) -> tuple[Strokes, dict]:
    """An arrow within 50 degrees of horizontal (an upright one is too close to a "1")."""
    angle = rng.uniform(-np.radians(50), np.radians(50)) + rng.choice([0.0, np.pi])
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s], [s, c]])
    shaft = np.array([[-1.0, 0.0], [1.0, 0.0]])
    head = np.array([[0.6, -0.35], [1.0, 0.0], [0.6, 0.35]])
    return draw([shaft @ turn.T, head @ turn.T], rng, size=rng.uniform(120, 200)), {}


HELDOUT: dict[str, Callable[[np.random.Generator], tuple[Strokes, dict]]] = {
    f.__name__: f
    for f in (
        scribble,
        dot,
        straight_line,
        spiral,
        star,
        letter_w,
        wavy_line,
        letter,
        hash_sign,
        smiley,
        heart,
        arrow,
    )
}
"""Every held-out non-digit shape by name (the benchmark's, never used in training)."""

LIKE_TRAINING = frozenset(
    {"scribble", "straight_line", "spiral", "letter_w", "wavy_line"}
)
"""Shapes of the same kind as the outliers the network is trained to be unsure of
(``TRAINING``: random walks, dashes, coils, zigzags); the benchmark reports the
others separately, as they measure generalisation, not memory."""
