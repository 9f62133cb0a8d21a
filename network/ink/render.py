"""Ink to image: pen strokes become the 28x28 picture the network was trained on.

MNIST digits were prepared in a fixed way: the written digit was scaled so that its
bounding box fits a 20x20 box (aspect ratio kept), anti-aliased, and then moved so that
its centre of mass sits at the centre of the 28x28 field.  A person drawing on a canvas
produces strokes (lists of ``[x, y]`` points, y pointing down) in arbitrary units, so we
repeat that preparation on the strokes themselves:

1. take the strokes as ``(k, 2)`` point arrays and drop empty ones;
2. scale the centre lines so that the *ink* (centre line plus pen) fits the 20x20 box,
   with one scale factor for both axes, so a vertical "1" stays a thin line;
3. keep one point per pixel of arc length (at most ``MAX_POINTS``), so that thousands
   of points cost about as much as a hundred;
4. draw every segment with a round pen of fixed width (in 28x28 pixels, independent of
   the drawing's size): cut segments into short pieces, measure the distance from each
   pixel centre in a small window around a piece to that piece, turn distance into
   intensity with a soft edge, and let each pixel keep its strongest ink;
5. move the drawing so its centre of mass lands on the centre: first by the centre of
   mass of the segments (exact but for overlaps), then by the measured remainder as a
   sub-pixel shift of the image.

The trade-off: a window per piece evaluates about 50 pixels per pixel of stroke, some of
them several times, instead of a scan-line rasteriser's exact coverage; in exchange the
whole drawing is a dozen whole-array operations with no Python loop over segments, and
the distances are exact (its cost: ``benchmarks/ink_render.py``).
The pen width and edge softness were tuned so re-drawn MNIST digits match MNIST's
stroke statistics: ink per image, share of pixels above 0, 0.5 and 0.9, ink extent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIZE = 28
"""Side of the image, in pixels."""

BOX = 20.0
"""Side of the box the ink's bounding box is scaled to fit, as in MNIST."""

CENTRE = 14.0
"""Where the centre of mass lands, in pixel indices (MNIST's digits have it at 14, 14)."""

DEFAULT_WIDTH = 2.6
"""Pen diameter in 28x28 pixels where ink is half strength; tuned to MNIST's strokes."""

SOFTNESS = 1.2
"""Width in pixels of the ramp from full ink to background at the pen's edge."""

MIN_WIDTH, MAX_WIDTH = 0.25, 8.0
"""Range of pen widths ``render`` accepts."""

MIN_SPACING = 1.0
"""Points closer than this along a stroke (in 28x28 pixels) are dropped."""

MAX_POINTS = 400
"""Upper bound on the points kept in one drawing, so the cost of a drawing is bounded."""

PIECE = 1.5
"""Segments are drawn in pieces at most this long, each touching only nearby pixels."""

COM_TOLERANCE = 0.01
"""A centre of mass closer than this (pixels) to the centre is not moved further."""

_PAD = 16
"""Margin (pixels) around the field in the drawing buffer, wider than any piece's window,
so pieces near or beyond the edges need no bounds checks."""

def render(strokes, *, width: float | None = None) -> np.ndarray:
    """Return the float32 (28, 28) image in [0, 1] (0 background, 1 ink) of the strokes."""
    polylines = _polylines(strokes)
    pen = DEFAULT_WIDTH if width is None else _validated_width(width)
    if not polylines:
        return np.zeros((SIZE, SIZE), dtype=np.float32)
    a, b, ends = _segments(polylines, BOX - pen)
    shift = CENTRE - _estimated_centre_of_mass(a, b, ends, pen)
    buffer = _draw(a + shift[:, None], b + shift[:, None], pen)
    image = buffer[_PAD : _PAD + SIZE, _PAD : _PAD + SIZE]
    error = CENTRE - centre_of_mass(image)
    if np.abs(error).max() > COM_TOLERANCE:
        # The estimate ignores overlapping ink; the rest of the way is a sub-pixel shift,
        # exact on the linear ramps of the pen's edge and much cheaper than redrawing.
        return _shifted(buffer, error)
    return image.copy()


def render_many(drawings: Sequence, *, width=None) -> np.ndarray:
    """Render a list of drawings to float32 (N, 28, 28); ``width`` is None, one or N widths."""
    n = len(drawings)
    widths = [width] * n if width is None or np.ndim(width) == 0 else list(width)
    if len(widths) != n:
        raise ValueError(f"got {len(widths)} widths for {n} drawings")
    out = np.zeros((n, SIZE, SIZE), dtype=np.float32)
    for i, (strokes, w) in enumerate(zip(drawings, widths, strict=True)):
        out[i] = render(strokes, width=w)
    return out


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """Return the intensity-weighted centre ``[x, y]`` (column, row) of a (28, 28) image;
    the centre itself for a blank image."""
    total = float(image.sum())
    if total <= 0.0:
        return np.array([CENTRE, CENTRE])
    x = float(image.sum(axis=0) @ _INDEX) / total
    y = float(image.sum(axis=1) @ _INDEX) / total
    return np.array([x, y])


_INDEX = np.arange(SIZE, dtype=np.float32)


# --- inputs -----------------------------------------------------------------------


def _polylines(strokes) -> list[np.ndarray]:
    """Return the non-empty strokes as float64 (k, 2) arrays.

    Trusted input: strokes of finite [x, y] numbers, as ``webapp.protocol`` checks them
    at the web edge and as the training code makes them.
    """
    polylines = [np.asarray(stroke, dtype=np.float64).reshape(-1, 2) for stroke in strokes]
    return [points for points in polylines if len(points)]


def _validated_width(width) -> float:
    """Return the pen width as a float, or raise ValueError if it is not a sane number."""
    try:
        value = float(width)
    except (TypeError, ValueError) as exc:
        raise ValueError("width must be a number of pixels") from exc
    if not (MIN_WIDTH <= value <= MAX_WIDTH):
        raise ValueError(f"width must be between {MIN_WIDTH} and {MAX_WIDTH} pixels, got {width!r}")
    return value


# --- geometry ---------------------------------------------------------------------
# Points are kept coordinate-major, as (2, N) arrays of x in row 0 and y in row 1: the
# reductions over points then run along contiguous memory, which is several times faster
# for the few hundred points of a drawing.


def _segments(
    polylines: list[np.ndarray], side: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the strokes into a box of ``side`` pixels centred on 0, thin out their points,
    and return segment starts and ends (2, S) and the strokes' end points (2, E).

    All strokes are handled at once as one array of points with a stroke id per point.
    A stroke that keeps a single point becomes a zero-length segment: a dot.
    """
    points = _fitted(np.ascontiguousarray(np.concatenate(polylines).T), side)
    counts = np.array([len(p) for p in polylines])
    last = np.cumsum(counts) - 1  # index of each stroke's last point
    first = last - counts + 1
    # Arc length runs on through the whole drawing but stands still between strokes.
    delta = points[:, 1:] - points[:, :-1]
    step = np.hypot(delta[0], delta[1])
    step[last[:-1]] = 0.0
    arc = np.concatenate([[0.0], np.cumsum(step)])
    spacing = max(MIN_SPACING, float(arc[-1]) / MAX_POINTS)
    bucket = np.floor(arc / spacing)
    keep = np.empty(points.shape[1], dtype=bool)
    keep[0] = True
    keep[1:] = bucket[1:] != bucket[:-1]  # the first point of every `spacing` of arc
    keep[first] = True
    keep[last] = True
    is_last = np.zeros(points.shape[1], dtype=bool)
    is_last[last] = True
    kept, kept_last = points[:, keep], is_last[keep]
    joined = ~kept_last[:-1]  # consecutive kept points of the same stroke make a segment
    dots = points[:, first[counts == 1]]
    a = np.concatenate([kept[:, :-1][:, joined], dots], axis=1)
    b = np.concatenate([kept[:, 1:][:, joined], dots], axis=1)
    ends = np.concatenate([points[:, first], points[:, last]], axis=1)
    return a, b, ends


def _fitted(points: np.ndarray, side: float) -> np.ndarray:
    """Scale points (2, N) by one factor so their bounding box fits ``side``, centred on 0."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    # Halves first, so that coordinates near the float limits cannot overflow.
    centre = lo / 2 + hi / 2
    half = float((hi / 2 - lo / 2).max())
    if half == 0.0:
        return np.zeros_like(points)  # a dot, however many times repeated
    # Divide before multiplying: (p - centre) / half is in [-1, 1] even for tiny halves.
    return (points - centre[:, None]) / half * (side / 2)


def _estimated_centre_of_mass(
    a: np.ndarray, b: np.ndarray, ends: np.ndarray, pen: float
) -> np.ndarray:
    """Centre of mass [x, y] of the ink if nothing overlapped: each segment (2, S) weighs
    its length, each stroke end (2, E) half a disc of the pen."""
    length = np.hypot(b[0] - a[0], b[1] - a[1])
    cap = np.pi * pen / 8  # half a disc of diameter pen, as a length of pen-wide line
    moments = ((a + b) / 2) @ length + cap * ends.sum(axis=1)
    return moments / (length.sum() + cap * ends.shape[1])


# --- rasterisation ----------------------------------------------------------------


def _draw(a: np.ndarray, b: np.ndarray, pen: float) -> np.ndarray:
    """Return the padded (28 + 2 pad)^2 buffer with segments a->b (2, S), in pixel
    coordinates of the field, drawn with a round pen."""
    a, b = _split(a, b, PIECE)
    reach = pen / 2 + SOFTNESS / 2  # beyond this distance from the centre line: no ink
    # Each piece only touches a small square window of k x k pixels around it.
    d = b - a
    k = int(np.ceil(float(np.abs(d).max()) + 2 * reach)) + 1
    side = SIZE + 2 * _PAD
    origin = np.floor(np.minimum(a, b) - reach)
    _clip(origin, -_PAD, SIZE + _PAD - k)  # far-off pieces cannot reach the field
    window_x, window_y, window_index = _window(k)
    d = d.astype(np.float32)
    dx, dy = d[0][:, None], d[1][:, None]
    length2 = dx * dx + dy * dy
    inverse = 1.0 / np.where(length2 > 0, length2, np.inf)  # 0 for a dot: t = 0 below
    start = (origin - a).astype(np.float32)
    ex = window_x + start[0][:, None]  # (S, k*k) from each piece's start to each pixel centre
    ey = window_y + start[1][:, None]
    t = (ex * dx + ey * dy) * inverse  # the nearest point's place along the piece
    _clip(t, 0.0, 1.0)
    ex -= t * dx
    ey -= t * dy
    ink = np.sqrt(ex * ex + ey * ey)
    ink *= -1.0 / SOFTNESS
    ink += reach / SOFTNESS  # (reach - distance) / softness: 1 inside, a ramp at the edge
    _clip(ink, 0.0, 1.0)
    corner = ((origin[1] + _PAD) * side + origin[0] + _PAD).astype(np.int64)
    buffer = np.zeros(side * side, dtype=np.float32)
    # Where windows overlap, a pixel takes the ink of its nearest piece (the maximum).
    np.maximum.at(buffer, (corner[:, None] + window_index).ravel(), ink.ravel())
    return buffer.reshape(side, side)


_WINDOWS: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _window(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column and row offsets (float32 (k*k,)) of the pixels of a k x k window, and their
    offsets in the flattened drawing buffer."""
    if k not in _WINDOWS:
        rows, cols = np.divmod(np.arange(k * k), k)
        index = rows * (SIZE + 2 * _PAD) + cols
        _WINDOWS[k] = (cols.astype(np.float32), rows.astype(np.float32), index)
    return _WINDOWS[k]


def _split(a: np.ndarray, b: np.ndarray, longest: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut segments (2, S) longer than ``longest`` into equal pieces; returns the pieces."""
    d = b - a
    n = np.ceil(np.hypot(d[0], d[1]) / longest).astype(np.int64)
    if n.max() <= 1:
        return a, b
    np.maximum(n, 1, out=n)
    which = np.repeat(np.arange(len(n)), n)
    j = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n)  # piece index in its segment
    step = d[:, which] / n[which]
    start = a[:, which] + j * step
    return start, start + step


def _clip(x: np.ndarray, low: float, high: float) -> None:
    """Limit x to [low, high] in place: ``np.clip(x, low, high, out=x)`` as two ufunc
    calls, without the several microseconds np.clip's Python wrapper costs a call."""
    np.maximum(x, low, out=x)
    np.minimum(x, high, out=x)


def _shifted(buffer: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Return the field cut from the padded buffer after moving its content by ``shift``
    = [dx, dy] pixels, sub-pixel moves by linear interpolation between neighbours."""
    limit = _PAD - 2  # the largest move the padding allows
    sx, sy = (min(max(-float(v), -limit), limit) for v in shift)
    x0, y0 = int(np.floor(sx)), int(np.floor(sy))
    fx, fy = np.float32(sx - x0), np.float32(sy - y0)
    c, r = _PAD + x0, _PAD + y0
    band = (1 - fy) * buffer[r : r + SIZE, c : c + SIZE + 1] + fy * buffer[
        r + 1 : r + 1 + SIZE, c : c + SIZE + 1
    ]
    return (1 - fx) * band[:, :SIZE] + fx * band[:, 1:]
