"""Shapes that are not digits, for teaching the network to say "not sure".

A softmax classifier must spread its belief over ten digits, so out of the box it
reads a scribble or a dash as some digit with high confidence. Outlier exposure
(Hendrycks et al. 2019) fixes much of this cheaply: during training, mix in images
that are no digit and ask for the uniform distribution on them (label ``-1`` in
``softmax_cross_entropy``). The network then keeps high confidence for digits and
learns low confidence for ink that looks like none of them.

Some of these families resemble non-digit shapes of ``benchmarks/ink.py`` (a dash is
like its straight line, a coil like its spiral, a random walk like its scribble, a
zigzag like its W and wave); the benchmark lists those in
``network.drawn.LIKE_TRAINING_OUTLIERS`` and reports the other, held-out shapes
separately, which is the honest measure of generalisation. Nothing here may look like
a digit: lines stay within 35 degrees of horizontal (a steep line is a "1"), and no
family draws a single closed loop (a "0").
"""

from __future__ import annotations

import numpy as np

from .ink import render


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


GENERATORS = (random_walk, zigzag, dash, coil, hatching, speckle)


def outlier_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rendered non-digits (n, 28, 28) float32, through the app's own ink renderer."""
    out = np.empty((n, 28, 28), np.float32)
    for i in range(n):
        make = GENERATORS[int(rng.integers(len(GENERATORS)))]
        out[i] = render(make(rng), width=float(rng.uniform(1.8, 3.2)))
    return out
