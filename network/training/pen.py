"""Pen paths: lines, arcs and curves as point arrays, the vocabulary of drawn templates.

The style templates (``network.training.styles``) and the non-digit font
(``network.training.nondigits``) are written as a few lines and arcs in a box about one
unit tall, with y pointing down as on a canvas.  The helpers here turn those pieces into
``(k, 2)`` arrays of ``[x, y]`` points spaced about ``STEP`` apart, so that a small
smooth ``wobble`` bends straight parts the way a hand does, and so that the ways of
drawing in ``network.training.hands`` have points to resample.  Angles are in degrees
and, since y points down, increasing angles turn clockwise on the screen: 0 is right,
90 the bottom, 180 the left and -90 (or 270) the top.
"""

from __future__ import annotations

import numpy as np

Strokes = list[np.ndarray]

STEP = 0.04
"""Spacing of the points of a template piece, in template units (a digit is 1 tall)."""


def line(*points, step: float = STEP) -> np.ndarray:
    """Return (k, 2) points along the polyline through ``points`` [x, y], every ``step``
    or closer, keeping every corner."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 2:
        return p.copy()
    d = np.diff(p, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(d[:, 0], d[:, 1]) / step).astype(np.int64))
    segment = np.repeat(np.arange(len(n)), n)
    j = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # step index within its segment
    out = p[segment] + d[segment] * (j / n[segment])[:, None]
    return np.concatenate([out, p[-1:]])


def arc(centre, radii, start: float, stop: float, step: float = STEP) -> np.ndarray:
    """Return (k, 2) points of the ellipse arc ``centre + radii * [cos a, sin a]`` for a
    from ``start`` to ``stop`` degrees (either way round, more than a turn allowed)."""
    rx, ry = np.broadcast_to(np.asarray(radii, dtype=np.float64), (2,))
    span = np.radians(stop - start)
    n = max(3, int(np.ceil(abs(span) * max(abs(rx), abs(ry)) / step)) + 1)
    a = np.linspace(np.radians(start), np.radians(stop), n)
    return np.asarray(centre, dtype=np.float64) + np.stack([rx * np.cos(a), ry * np.sin(a)], 1)


def bezier(p0, p1, p2, step: float = STEP) -> np.ndarray:
    """Return (k, 2) points of the quadratic Bezier curve from p0 to p2 pulled towards p1."""
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    reach = np.hypot(*(p1 - p0)) + np.hypot(*(p2 - p1))
    t = np.linspace(0.0, 1.0, max(3, int(np.ceil(reach / step)) + 1))[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def path(*pieces: np.ndarray) -> np.ndarray:
    """Join pieces (k_i, 2) into one stroke, each starting where the previous one ended
    (a repeated joint is kept once)."""
    parts = [np.asarray(pieces[0], dtype=np.float64)]
    for piece in pieces[1:]:
        piece = np.asarray(piece, dtype=np.float64)
        if np.allclose(piece[0], parts[-1][-1]):
            piece = piece[1:]
        parts.append(piece)
    return np.concatenate(parts)


def smooth(points: np.ndarray, passes: int = 2) -> np.ndarray:
    """Round the corners of an open polyline (k, 2) by Chaikin's corner cutting, keeping
    its two ends; each pass doubles the points."""
    p = np.asarray(points, dtype=np.float64)
    for _ in range(passes):
        if len(p) < 3:
            return p
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        p = np.concatenate([p[:1], np.stack([q, r], axis=1).reshape(-1, 2)[1:-1], p[-1:]])
    return p


def extent(strokes: Strokes) -> tuple[np.ndarray, np.ndarray]:
    """Return the bounding box's corners ``lo`` and ``hi`` ([x, y] each) of all points."""
    points = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes])
    return points.min(axis=0), points.max(axis=0)


def turned(strokes: Strokes, degrees: float) -> Strokes:
    """Return the strokes turned by ``degrees`` (clockwise on screen) about their box's centre."""
    lo, hi = extent(strokes)
    centre = (lo + hi) / 2
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    matrix = np.array([[c, -s], [s, c]])
    return [(np.asarray(p, dtype=np.float64) - centre) @ matrix.T + centre for p in strokes]


def wobble(strokes: Strokes, rng: np.random.Generator, amount: float = 0.02) -> Strokes:
    """Bend the strokes by a smooth random displacement of about ``amount`` times their
    size: one long sine wave per axis, so nearby points move together as in a hand, and
    crossings, loops and gaps of the template survive."""
    lo, hi = extent(strokes)
    size = float((hi - lo).max()) or 1.0
    waves = rng.normal(0.0, 1.0, size=(2, 2)) * (2 * np.pi / (1.5 * size))  # (axis, [kx, ky])
    phase = rng.uniform(0.0, 2 * np.pi, size=2)
    return [
        p + amount * size * np.sin(p @ waves.T + phase) for p in
        (np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes)
    ]
