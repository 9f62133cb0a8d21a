"""Ink that is no digit: families to train "not sure" on, and families held out to measure it.

A softmax classifier must spread its belief over ten digits, so out of the box it reads
a letter, a "#" or a scribble as some digit with high confidence.  Outlier exposure
(Hendrycks et al. 2019) fixes much of this cheaply: during training, mix in drawings
that are no digit and ask for the uniform distribution on them (label ``-1`` in
``softmax_cross_entropy``).  Each *family* here is a function ``make(rng) -> strokes``
(``[x, y]``, y down, any units); ``nondigit_drawings`` draws them in the hands of
``network.training.hands`` and ``nondigit_images`` renders them with the app's renderer.

Two sets, strictly apart.  ``TRAINING`` families are mixed into training; ``HELDOUT``
families are only measured (``benchmarks/ink.py``), so their "caught" share says how
well "not sure" generalises to ink the network never saw.  The split:

* **Letters**, from a small stroke font (``letter``).  Letters that are digits in
  disguise are in neither set (``DISGUISED``): O o Q D read as 0, I l i as 1, Z z as 2,
  S s as 5, G b as 6, B as 8, a g q as 9 and y as an open 4 or a 9.  A person reading
  them alone could fairly call them digits, so neither teaching the network that they
  are not digits nor blaming it for reading them as digits would be right.  The others
  are cut into clusters of look-alikes: an upper and lower case pair of one shape (C c,
  K k, P p, U u, V v, W w, X x) and letters that differ by a stroke (E F, P R, h n m r,
  V W Y M) always fall on the same side, so no held-out letter has a twin in training.
  Clusters alternate between the sides, each side getting straight and round ones and
  one letter that looks like a 4 (A in training, H held out): ``LETTERS_TRAINING``
  and ``LETTERS_HELDOUT``.
* **Symbols**: + = % ? train; # & @ $ are held out, one of each construction (crossed
  parallels, a looped crossing curve, a loop in a loop, a letter with a bar), and the
  ones most like digits (# reads as 4, & as 8) on the honest side.
* **Shapes**: scribbles, zigzags, dashes, coils, hatching, specks, triangles, ticks,
  suns and rows of loops train; dots, lines, spirals, waves, stars, smileys, hearts
  and arrows are held out.
* **Several digits side by side**: pairs train, triples ("007") are held out.
* **A stroke prefix**: the first stroke of a 4 drawn in two strokes (the arm and its
  bar) trains, because the app predicts while a person draws and that stroke alone
  read as 6 at 97%.  It is the only prefix here: the other first strokes of styles in
  ``network.training.styles`` are digits themselves (a 7 without its crossbar is a 7,
  a 1 without its base a 1, a 0 without its slash or dot a 0, one circle of an 8 a 0,
  the stem of a 4 drawn first a 1) or too close to one to call (a 5 before its bar).

Held-out families of the same kind as a training family (a random scribble, a straight
dash, a coil, a wave, digits side by side) are listed in ``LIKE_TRAINING``; the others
are the honest measure.  Nothing here may be a digit: lines stay within 15 degrees of
horizontal before a hand turns them (``hands.rotated`` adds at most 20), so no line is
a "1", and no family draws a lone closed loop (a "0").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from ..ink.render import render
from .hands import in_any_hand
from .pen import Strokes, arc, bezier, extent, line, path, smooth, wobble
from .styles import STYLES

Family = Callable[[np.random.Generator], Strokes]


# --- letters: a small stroke font ------------------------------------------------------
# Capitals are 1 tall (y 0 at the top, 1 on the baseline); lower case has its x-height
# at 0.45, ascenders at 0 and descenders to 1.35.  The renderer fits every drawing to
# the same box, so a lower case letter of the same shape as its capital is the same image.


def _dot(x: float, y: float) -> np.ndarray:
    """A tap of the pen: one point."""
    return np.array([[x, y]], dtype=np.float64)


_FONT: dict[str, Strokes] = {
    "A": [line((0, 1), (0.35, 0), (0.7, 1)), line((0.14, 0.62), (0.56, 0.62))],
    "C": [arc((0.4, 0.5), (0.4, 0.5), -40, -320)],
    "c": [arc((0.27, 0.725), (0.27, 0.275), -40, -320)],
    "d": [arc((0.28, 0.725), (0.28, 0.275), -20, -380), line((0.56, 0), (0.56, 1))],
    "E": [line((0.6, 0), (0, 0), (0, 1), (0.6, 1)), line((0, 0.5), (0.45, 0.5))],
    "e": [path(line((0.04, 0.72), (0.56, 0.72)), arc((0.3, 0.72), (0.26, 0.275), 0, -320))],
    "F": [line((0.6, 0), (0, 0), (0, 1)), line((0, 0.5), (0.45, 0.5))],
    "f": [path(arc((0.42, 0.18), (0.16, 0.18), -20, -180), line((0.26, 0.18), (0.26, 1))),
          line((0.05, 0.45), (0.5, 0.45))],
    "H": [line((0, 0), (0, 1)), line((0.6, 0), (0.6, 1)), line((0, 0.5), (0.6, 0.5))],
    "h": [line((0, 0), (0, 1)),
          path(arc((0.25, 0.72), (0.25, 0.26), 180, 360), line((0.5, 0.72), (0.5, 1)))],
    "J": [path(line((0.5, 0), (0.5, 0.72)), arc((0.25, 0.72), (0.25, 0.28), 0, 180))],
    "j": [path(line((0.35, 0.45), (0.35, 1.1)), arc((0.15, 1.1), (0.2, 0.22), 0, 160)),
          _dot(0.35, 0.22)],
    "K": [line((0, 0), (0, 1)), line((0.6, 0), (0, 0.55), (0.6, 1))],
    "k": [line((0, 0), (0, 1)), line((0.5, 0.42), (0, 0.75), (0.5, 1))],
    "L": [line((0, 0), (0, 1), (0.55, 1))],
    "M": [line((0, 1), (0, 0), (0.4, 0.7), (0.8, 0), (0.8, 1))],
    "m": [line((0, 0.45), (0, 1)),
          path(arc((0.2, 0.67), (0.2, 0.22), 180, 360), line((0.4, 0.67), (0.4, 1))),
          path(arc((0.6, 0.67), (0.2, 0.22), 180, 360), line((0.8, 0.67), (0.8, 1)))],
    "N": [line((0, 1), (0, 0), (0.65, 1), (0.65, 0))],
    "n": [line((0, 0.45), (0, 1)),
          path(arc((0.25, 0.7), (0.25, 0.25), 180, 360), line((0.5, 0.7), (0.5, 1)))],
    "P": [line((0, 0), (0, 1)),
          path(line((0, 0), (0.3, 0)), arc((0.3, 0.25), (0.25, 0.25), -90, 90),
               line((0.3, 0.5), (0, 0.5)))],
    "p": [line((0, 0.45), (0, 1.35)), arc((0.27, 0.72), (0.27, 0.27), -150, 150)],
    "R": [line((0, 0), (0, 1)),
          path(line((0, 0), (0.3, 0)), arc((0.3, 0.25), (0.25, 0.25), -90, 90),
               line((0.3, 0.5), (0, 0.5))),
          line((0.15, 0.5), (0.6, 1))],
    "r": [line((0, 0.45), (0, 1)), arc((0.22, 0.72), (0.22, 0.24), 180, 300)],
    "T": [line((0, 0), (0.7, 0)), line((0.35, 0), (0.35, 1))],
    "t": [path(line((0.2, 0), (0.2, 0.85)), arc((0.38, 0.85), (0.18, 0.15), 180, 30)),
          line((0, 0.35), (0.45, 0.35))],
    "U": [path(line((0, 0), (0, 0.65)), arc((0.3, 0.65), (0.3, 0.35), 180, 0),
               line((0.6, 0.65), (0.6, 0)))],
    "u": [path(line((0, 0.45), (0, 0.78)), arc((0.25, 0.78), (0.25, 0.22), 180, 0),
               line((0.5, 0.78), (0.5, 0.45), (0.52, 1)))],
    "V": [line((0, 0), (0.35, 1), (0.7, 0))],
    "v": [line((0, 0.45), (0.27, 1), (0.54, 0.45))],
    "W": [line((0, 0), (0.2, 1), (0.4, 0.3), (0.6, 1), (0.8, 0))],
    "w": [line((0, 0.45), (0.15, 1), (0.3, 0.6), (0.45, 1), (0.6, 0.45))],
    "X": [line((0, 0), (0.65, 1)), line((0.65, 0), (0, 1))],
    "x": [line((0, 0.45), (0.5, 1)), line((0.5, 0.45), (0, 1))],
    "Y": [line((0, 0), (0.35, 0.5), (0.35, 1)), line((0.7, 0), (0.35, 0.5))],
}

LETTERS_TRAINING = "AEFVvWwYMLtfCcehnmr"
"""Letters mixed into training (clusters: A; E F; V v W w Y M; L; t f; C c e; h n m r)."""

LETTERS_HELDOUT = "HKkXxNTJjUuPpRd"
"""Letters only measured (clusters: H; K k X x; N; T; J j; U u; P p R; d)."""

DISGUISED = "OoQDIliZzSsGbBagqy"
"""Letters that read as digits, in neither set: O o Q D (0), I l i (1), Z z (2), S s (5),
G b (6), B (8), a g q (9) and y (an open 4, or a 9)."""


def letter(char: str, rng: np.random.Generator) -> Strokes:
    """The letter ``char`` from the stroke font, 80-120% as wide, with a hand's wobble."""
    stretch = np.array([rng.uniform(0.8, 1.2), 1.0])
    return wobble([s * stretch for s in _FONT[char]], rng, 0.02)


def letters(rng: np.random.Generator) -> Strokes:
    """A training letter, upper or lower case (``LETTERS_TRAINING``)."""
    return letter(LETTERS_TRAINING[int(rng.integers(len(LETTERS_TRAINING)))], rng)


def unseen_letters(rng: np.random.Generator) -> Strokes:
    """A held-out letter, upper or lower case (``LETTERS_HELDOUT``)."""
    return letter(LETTERS_HELDOUT[int(rng.integers(len(LETTERS_HELDOUT)))], rng)


# --- symbols --------------------------------------------------------------------------------


_SYMBOLS: dict[str, Strokes] = {
    "+": [line((0, 0.5), (1, 0.5)), line((0.5, 0), (0.5, 1))],
    "=": [line((0, 0.35), (1, 0.35)), line((0, 0.65), (1, 0.65))],
    "%": [line((0.85, 0), (0.15, 1)), arc((0.18, 0.17), (0.15, 0.17), -90, 270),
          arc((0.82, 0.83), (0.15, 0.17), -90, 270)],
    "?": [path(arc((0.35, 0.3), (0.33, 0.28), 200, 450), line((0.35, 0.58), (0.35, 0.75))),
          _dot(0.35, 0.97)],
    "#": [line((0.3, 0), (0.2, 1)), line((0.7, 0), (0.6, 1)),
          line((0, 0.33), (0.9, 0.33)), line((-0.05, 0.67), (0.85, 0.67))],
    "&": [smooth(np.array([(0.9, 1.0), (0.2, 0.4), (0.15, 0.15), (0.35, 0.0), (0.55, 0.12),
                           (0.45, 0.32), (0.05, 0.7), (0.12, 0.95), (0.4, 1.0), (0.85, 0.6)]),
                 3)],
    "@": [path(arc((0.48, 0.5), (0.15, 0.18), 0, -360), line((0.63, 0.5), (0.65, 0.68)),
               bezier((0.65, 0.68), (0.8, 0.82), (0.95, 0.5)),
               arc((0.5, 0.5), (0.45, 0.5), 0, -300))],
    "$": [smooth(np.array([(0.8, 0.15), (0.5, 0.02), (0.15, 0.15), (0.2, 0.4), (0.5, 0.5),
                           (0.8, 0.62), (0.8, 0.88), (0.5, 0.98), (0.15, 0.85)]), 3),
          line((0.48, -0.12), (0.5, 1.12))],
}


def symbol(char: str, rng: np.random.Generator) -> Strokes:
    """The symbol ``char`` (one of + = % ? # & @ $), 80-120% as wide, with a wobble."""
    stretch = np.array([rng.uniform(0.8, 1.2), 1.0])
    return wobble([s * stretch for s in _SYMBOLS[char]], rng, 0.02)


def plus(rng: np.random.Generator) -> Strokes:
    """A "+"."""
    return symbol("+", rng)


def equals(rng: np.random.Generator) -> Strokes:
    """An "="."""
    return symbol("=", rng)


def percent(rng: np.random.Generator) -> Strokes:
    """A "%": a slash between two small rings."""
    return symbol("%", rng)


def question(rng: np.random.Generator) -> Strokes:
    """A "?": a hook and a dot."""
    return symbol("?", rng)


def hash_sign(rng: np.random.Generator) -> Strokes:
    """A "#": two near-vertical and two near-horizontal strokes."""
    return symbol("#", rng)


def ampersand(rng: np.random.Generator) -> Strokes:
    """An "&" in one stroke."""
    return symbol("&", rng)


def at_sign(rng: np.random.Generator) -> Strokes:
    """An "@": a small a inside a nearly closed ring, in one stroke."""
    return symbol("@", rng)


def dollar(rng: np.random.Generator) -> Strokes:
    """A "$": an S crossed by a vertical stroke."""
    return symbol("$", rng)


# --- shapes: trained ---------------------------------------------------------------------


def random_walk(rng: np.random.Generator) -> Strokes:
    """A tangled scribble: a random walk with momentum that turns a lot."""
    n = int(rng.integers(90, 180))
    heading = np.cumsum(rng.normal(0, 0.9, n))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * rng.uniform(2, 6)
    return [np.cumsum(steps, axis=0)]


def zigzag(rng: np.random.Generator) -> Strokes:
    """Several sharp teeth in a row, like a saw blade."""
    teeth = int(rng.integers(3, 6))
    x = np.arange(2 * teeth + 1) * rng.uniform(8, 12)
    y = np.where(np.arange(len(x)) % 2, 0.0, rng.uniform(20, 35))
    return [np.stack([x, y + rng.normal(0, 1, len(x))], axis=1)]


def dash(rng: np.random.Generator) -> Strokes:
    """One or two strokes within 15 degrees of horizontal (a minus, an equals sign)."""
    strokes = []
    for k in range(int(rng.integers(1, 3))):
        angle = np.radians(rng.uniform(-15, 15))
        t = np.linspace(-1, 1, 12)[:, None] * rng.uniform(20, 60)
        strokes.append(t * [np.cos(angle), np.sin(angle)] + [0, 25 * k])
    return strokes


def coil(rng: np.random.Generator) -> Strokes:
    """A spiral of two to four turns."""
    turns = rng.uniform(2, 4)
    t = np.linspace(0, 2 * np.pi * turns, 200)
    r = 5 + t * rng.uniform(2, 4)
    return [np.stack([r * np.cos(t), r * np.sin(t) * rng.uniform(0.6, 1.2)], axis=1)]


def hatching(rng: np.random.Generator) -> Strokes:
    """A patch of three to five parallel strokes (shading)."""
    k = int(rng.integers(3, 6))
    slope = rng.uniform(-1, 1)
    return [np.array([[i * 14.0, 0.0], [i * 14.0 + 20, 20 * slope + 30]]) for i in range(k)]


def speckle(rng: np.random.Generator) -> Strokes:
    """Scattered dots and ticks."""
    return [rng.uniform(0, 60, 2) + rng.normal(0, 2, (2, 2)) for _ in range(rng.integers(4, 12))]


def triangle(rng: np.random.Generator) -> Strokes:
    """A triangle in one stroke, turned up to 30 degrees either way."""
    angles = np.radians(-90 + np.array([0, 120, 240, 360]) + rng.uniform(-30, 30))
    corners = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    corners[:3] += rng.normal(0, 0.08, size=(3, 2))
    corners[3] = corners[0] + rng.normal(0, 0.04, size=2)
    return wobble([line(*corners)], rng, 0.02)


def tick(rng: np.random.Generator) -> Strokes:
    """A check mark: a short stroke down to the right, then a long one up to the right."""
    low = (rng.uniform(0.2, 0.4), 1.0)
    return wobble([line((0, rng.uniform(0.4, 0.7)), low, (rng.uniform(0.8, 1.2), 0))], rng, 0.02)


def sun(rng: np.random.Generator) -> Strokes:
    """A circle with six to ten rays around it."""
    k = int(rng.integers(6, 11))
    disc = arc((0, 0), 0.3, -90, 270 * rng.choice([-1, 1]))
    angles = np.radians(np.arange(k) * 360 / k + rng.uniform(0, 360) + rng.normal(0, 6, k))
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rays = [line(u * rng.uniform(0.38, 0.45), u * rng.uniform(0.58, 0.7)) for u in unit]
    return wobble([disc, *rays], rng, 0.015)


def loops(rng: np.random.Generator) -> Strokes:
    """A row of two to four cursive loops, like a telephone cord or "llll"."""
    k = rng.uniform(2, 4)
    t = np.linspace(0, 2 * np.pi * k, int(60 * k))
    reach, tall = rng.uniform(1.4, 2.4), rng.uniform(1.5, 3.5)
    return [np.stack([t - reach * np.sin(t), -tall * reach * np.cos(t)], axis=1)]


# --- shapes: held out -------------------------------------------------------------------------


def scribble(rng: np.random.Generator) -> Strokes:
    """A back-and-forth scribble that fills an area, as when someone crosses something out."""
    n = int(rng.integers(8, 16))
    xs = np.where(np.arange(n) % 2 == 0, rng.uniform(60, 100, n), rng.uniform(180, 220, n))
    ys = np.linspace(rng.uniform(60, 90), rng.uniform(190, 220), n) + rng.normal(0, 8, n)
    return [line(*np.stack([xs, ys], axis=1), step=4.0)]


def dot(rng: np.random.Generator) -> Strokes:
    """A single tap: one to three points at the same place."""
    return [np.zeros((int(rng.integers(1, 4)), 2))]


def straight_line(rng: np.random.Generator) -> Strokes:
    """A straight line within 15 degrees of horizontal (a steep one would be a "1")."""
    angle = np.radians(rng.uniform(-15, 15))
    return [line((0, 0), (np.cos(angle), np.sin(angle)), step=0.02)]


def spiral(rng: np.random.Generator) -> Strokes:
    """A spiral of two to three turns from the centre outwards."""
    turns = rng.uniform(2.0, 3.0)
    t = np.linspace(0, turns * 2 * np.pi, int(120 * turns))
    radius = 8 + rng.uniform(30, 40) * t / (2 * np.pi)
    direction = rng.choice([-1, 1])
    return [np.stack([radius * np.cos(t), direction * radius * np.sin(t)], 1)]


def star(rng: np.random.Generator) -> Strokes:
    """A five-pointed star drawn in one stroke (the pentagram)."""
    corners = rng.uniform(0, 2 * np.pi) + np.arange(6) * 4 * np.pi / 5
    return [line(*np.stack([np.cos(corners), np.sin(corners)], axis=1))]


def wavy_line(rng: np.random.Generator) -> Strokes:
    """A horizontal wave of two to four periods."""
    x = np.linspace(-1, 1, 160)
    periods = rng.uniform(2, 4)
    amplitude = rng.uniform(0.12, 0.3)
    return [np.stack([x, amplitude * np.sin(np.pi * periods * x)], 1)]


def smiley(rng: np.random.Generator) -> Strokes:
    """A face: a circle, two eyes and a smile."""
    face = arc((0, 0), 1.0, -90, 270)
    smile = arc((0, 0), 0.55, 36, 144)
    eyes = [_dot(-0.35, -0.3), _dot(0.35, -0.3)]
    return wobble([face, *eyes, smile], rng, 0.02)


def heart(rng: np.random.Generator) -> Strokes:
    """A heart in one stroke."""
    t = np.linspace(0, 2 * np.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return wobble([np.stack([x, y], axis=1)], rng, 0.02)


def arrow(rng: np.random.Generator) -> Strokes:
    """An arrow within 30 degrees of horizontal (an upright one is too close to a "1")."""
    angle = rng.uniform(-np.radians(30), np.radians(30)) + rng.choice([0.0, np.pi])
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, -s], [s, c]])
    shaft = line((-1.0, 0.0), (1.0, 0.0), step=0.1)
    head = line((0.6, -0.35), (1.0, 0.0), (0.6, 0.35), step=0.1)
    return [shaft @ turn.T, head @ turn.T]


# --- several digits, and a digit's first stroke --------------------------------------------


def side_by_side(
    digits: list[Strokes], rng: np.random.Generator, gap: tuple[float, float] = (0.15, 0.5)
) -> Strokes:
    """Place digits (strokes each, any units) left to right as one drawing: each scaled
    to a height of 0.9-1.1, its foot on a baseline give or take 0.05, with a gap drawn
    from ``gap`` (in digit heights; negative gaps overlap) before each next digit."""
    placed, cursor = [], 0.0
    for strokes in digits:
        strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
        lo, hi = extent(strokes)
        height = rng.uniform(0.9, 1.1)
        scale = height / max(float(hi[1] - lo[1]), 1e-9)
        if (hi[0] - lo[0]) * scale > 3 * height:  # a nearly flat trace would blow up
            scale = 3 * height / float(hi[0] - lo[0])
        foot = 1.0 + rng.uniform(-0.05, 0.05)
        offset = np.array([cursor, foot]) - np.array([lo[0], hi[1]]) * scale
        placed += [s * scale + offset for s in strokes]
        cursor += float(hi[0] - lo[0]) * scale + rng.uniform(*gap)
    return placed


def _digits(k: int, rng: np.random.Generator) -> list[Strokes]:
    """k digits, each in a random style of ``network.training.styles`` (templates)."""
    names = list(STYLES)
    return [STYLES[names[int(rng.integers(len(names)))]].make(rng) for _ in range(k)]


def digit_pairs(rng: np.random.Generator) -> Strokes:
    """Two digits side by side, from overlapping a little to well apart ("12", "3 4")."""
    return side_by_side(_digits(2, rng), rng, gap=(-0.1, 0.6))


def digit_triples(rng: np.random.Generator) -> Strokes:
    """Three digits side by side ("007")."""
    return side_by_side(_digits(3, rng), rng, gap=(0.0, 0.5))


def four_arm(rng: np.random.Generator) -> Strokes:
    """The first stroke of a 4 drawn in two strokes: the arm and its bar, without the stem."""
    name = ("four_closed", "four_open", "four_two_strokes", "four_long_stem")[
        int(rng.integers(4))
    ]
    return STYLES[name].make(rng)[:1]


# --- the two sets ------------------------------------------------------------------------------


TRAINING: dict[str, Family] = {
    f.__name__: f
    for f in (
        random_walk, zigzag, dash, coil, hatching, speckle, triangle, tick, sun, loops,
        letters, plus, equals, percent, question, digit_pairs, four_arm,
    )
}
"""The families mixed into training with a uniform target, by name."""

HELDOUT: dict[str, Family] = {
    f.__name__: f
    for f in (
        scribble, dot, straight_line, spiral, wavy_line, star, smiley, heart, arrow,
        unseen_letters, hash_sign, ampersand, at_sign, dollar, digit_triples,
    )
}
"""The families only measured (``benchmarks/ink.py``), never trained on, by name."""

LIKE_TRAINING = frozenset({"scribble", "straight_line", "spiral", "wavy_line", "digit_triples"})
"""Held-out families of the same kind as a training family (a random walk, a dash, a coil,
a zigzag, digit pairs); the benchmark reports the others apart, as they measure
generalisation, not memory."""


# --- drawings and images ---------------------------------------------------------------------


class NonDigit(NamedTuple):
    """One non-digit as drawn on the canvas: strokes, ``render`` keyword arguments, the
    family's name and the hand's name (``network.training.hands``)."""

    strokes: Strokes
    kwargs: dict
    family: str
    hand: str


def nondigit_drawings(
    n: int, rng: np.random.Generator, families: Mapping[str, Family] = TRAINING
) -> list[NonDigit]:
    """Return n non-digits of the ``families`` (as evenly as n allows, in a random order),
    each drawn in a hand picked uniformly from ``hands.VARIATIONS``."""
    names = list(families)
    order = rng.permutation(np.resize(np.arange(len(names)), n)) if n else []
    drawings = []
    for k in order:
        strokes, kwargs, hand = in_any_hand(families[names[k]](rng), rng)
        drawings.append(NonDigit(strokes, kwargs, names[k], hand))
    return drawings


def nondigit_images(
    n: int, rng: np.random.Generator, families: Mapping[str, Family] = TRAINING
) -> np.ndarray:
    """Return n non-digits of the ``families`` rendered by the app's renderer: float32
    (n, 28, 28) in [0, 1], for training with the uniform target (label -1)."""
    images = np.empty((n, 28, 28), dtype=np.float32)
    for i, drawing in enumerate(nondigit_drawings(n, rng, families)):
        images[i] = render(drawing.strokes, **drawing.kwargs)
    return images


def outlier_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """The training loop's outliers: ``nondigit_images(n, rng, TRAINING)``."""
    return nondigit_images(n, rng, TRAINING)
