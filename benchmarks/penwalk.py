"""A person's pen, as a browser samples it: digits as strokes walked at 60 frames a
second, each frame the 1-4 points the pointer crossed (``benchmarks/load.py``)."""

from __future__ import annotations

import numpy as np

FRAME = 1 / 60
"""Seconds between two pen samples (one animation frame)."""

DIGITS = {
    0: [[(0.5 + 0.38 * np.sin(t), 0.5 - 0.5 * np.cos(t)) for t in np.linspace(0, 6.4, 40)]],
    1: [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [[(0.1, 0.25), (0.3, 0.03), (0.7, 0.03), (0.9, 0.3), (0.7, 0.55), (0.1, 1.0),
         (0.95, 1.0)]],
    3: [[(0.1, 0.1), (0.8, 0.05), (0.45, 0.45), (0.9, 0.7), (0.6, 1.0), (0.1, 0.9)]],
    4: [[(0.25, 0.0), (0.05, 0.62), (0.95, 0.62)], [(0.7, 0.25), (0.7, 1.0)]],
    5: [[(0.2, 0.0), (0.15, 0.45), (0.7, 0.42), (0.9, 0.7), (0.6, 1.0), (0.1, 0.9)],
        [(0.2, 0.0), (0.85, 0.0)]],
    6: [[(0.75, 0.0), (0.3, 0.4), (0.15, 0.75), (0.4, 1.0), (0.8, 0.85), (0.75, 0.55),
         (0.2, 0.65)]],
    7: [[(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]],
    8: [[(0.5, 0.5), (0.15, 0.25), (0.5, 0.0), (0.85, 0.25), (0.5, 0.5), (0.1, 0.78),
         (0.5, 1.0), (0.9, 0.78), (0.5, 0.5)]],
    9: [[(0.85, 0.3), (0.5, 0.0), (0.15, 0.25), (0.45, 0.5), (0.85, 0.3), (0.8, 1.0)]],
}
"""Digit shapes as strokes of (x, y) in a unit box, y pointing down."""


def pen_frames(digit: int, rng: np.random.Generator) -> list[list[list[list[float]]]]:
    """Return the digit as strokes, each a list of frames, each the points of one frame.

    The shape is placed in a random box on a 400 x 400 canvas, slightly rotated and
    jittered, and walked at a pen speed of 400-900 px/s with a pointer sample every
    3-5 px, so a frame carries the 1-4 points a browser would coalesce into it.
    """
    size = rng.uniform(120, 240)
    offset = rng.uniform(20, 380 - size, size=2)
    angle = rng.uniform(-0.15, 0.15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    speed = rng.uniform(400, 900)
    spacing = rng.uniform(3, 5)
    strokes = []
    for shape in DIGITS[digit]:
        corners = (np.asarray(shape) - 0.5) @ rotation.T * (size * np.array([0.7, 1.0]))
        corners += 0.5 * size + offset
        # Walk the polyline: points every `spacing` px along its length.
        lengths = np.linalg.norm(np.diff(corners, axis=0), axis=1)
        along = np.concatenate([[0], np.cumsum(lengths)])
        s = np.arange(0, along[-1] + spacing, spacing)
        points = np.stack([np.interp(s, along, corners[:, 0]), np.interp(s, along, corners[:, 1])],
                          axis=1) + rng.normal(0, 0.6, (len(s), 2))
        per_frame = max(1, int(round(speed * FRAME / spacing)))
        frames = [np.round(points[i:i + per_frame], 1).tolist()
                  for i in range(0, len(points), per_frame)]
        strokes.append(frames)
    return strokes
