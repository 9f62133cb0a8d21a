"""Simple strokes for tests that need some ink."""

from __future__ import annotations

import numpy as np


def draw_digit(digit: int, size: float = 100.0) -> list[list[list[float]]]:
    """Return simple strokes (lists of [x, y], y down) that look roughly like ``digit``."""
    s = size
    t = np.linspace(0, 2 * np.pi, 24)
    circle = [[s / 2 + s / 3 * np.cos(a), s / 2 + s / 2.2 * np.sin(a)] for a in t]
    shapes = {
        0: [circle],
        1: [[[s / 2, 0], [s / 2, s / 2], [s / 2, s]]],
        2: [[[0, s / 4], [s / 2, 0], [s, s / 4], [0, s], [s, s]]],
        3: [[[0, 0], [s, s / 4], [s / 3, s / 2], [s, 3 * s / 4], [0, s]]],
        4: [[[s * 0.7, s], [s * 0.7, 0], [0, s * 0.65], [s, s * 0.65]]],
        5: [[[s, 0], [0, 0], [0, s / 2], [s, s * 0.7], [0, s]]],
        6: [[[s, 0], [0, s * 0.7], [s / 2, s], [s, s * 0.7], [0, s * 0.6]]],
        7: [[[0, 0], [s, 0], [s * 0.3, s]]],
        8: [[[s / 2, s / 2], [0, s / 4], [s / 2, 0], [s, s / 4], [0, 3 * s / 4], [s / 2, s],
             [s, 3 * s / 4], [s / 2, s / 2]]],
        9: [[[s, s / 3], [s / 2, 0], [0, s / 3], [s, s / 3], [s * 0.8, s]]],
    }
    return [[[float(x), float(y)] for x, y in stroke] for stroke in shapes[digit]]
