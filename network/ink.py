"""Ink to image: pen strokes become the 28x28 picture the network was trained on.

MNIST digits were prepared in a fixed way: the written digit was scaled so that its
bounding box fits a 20x20 box (aspect ratio kept), anti-aliased, and then moved so that
its centre of mass sits at the centre of the 28x28 field.  A person drawing on a canvas
produces strokes (lists of ``[x, y]`` points, y pointing down) in arbitrary units, so we
repeat that preparation on the strokes themselves:

1. validate (finite numbers, ``(k, 2)`` point lists), drop empty strokes;
2. scale the centre lines so that the *ink* (centre line plus pen) fits the 20x20 box,
   with one scale factor for both axes, so a vertical "1" stays a thin line;
3. drop points closer than a fraction of a pixel along each stroke, so that thousands of
   points cost about as much as a hundred;
4. draw every segment with a round pen of fixed width (in 28x28 pixels, independent of
   the drawing's size) by measuring, for each pixel centre near the ink, its distance to
   the nearest segment, and turning that distance into intensity with a soft edge;
5. place the drawing so its centre of mass lands on the centre, to a fraction of a pixel.

The trade-off: computing the distance from every nearby pixel to every segment is
O(pixels x segments), which is tiny after step 3 (a typical digit is ~40 segments and
~400 pixels), fully vectorised and exact, so we prefer it to a scan-line rasteriser that
would be faster for long strokes but needs a Python loop per segment.
The pen width and edge softness were tuned so re-drawn MNIST digits match MNIST's
stroke statistics (see ``benchmarks/ink.py``).
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

PIECE = 1.5
"""Segments are drawn in pieces at most this long, each touching only nearby pixels."""
"""Upper bound on the points kept in one drawing, so the cost of a drawing is bounded."""

COM_TOLERANCE = 0.05
"""If the centre of mass misses the centre by more than this (pixels), draw once more."""

NOT_SURE_BELOW = 0.6
"""The page says "not sure" when the top probability is below this (tuned by benchmarks/ink.py)."""


def render(strokes, *, width: float | None = None) -> np.ndarray:
    """Return the float32 (28, 28) image in [0, 1] (0 background, 1 ink) of the strokes."""
    polylines = _validated(strokes)
    pen = DEFAULT_WIDTH if width is None else _validated_width(width)
    image = np.zeros((SIZE, SIZE), dtype=np.float32)
    if not polylines:
        return image
    polylines = _fit_to_box(polylines, BOX - pen)
    polylines = _simplified(polylines)
    a, b = _segments(polylines)
    shift = CENTRE - _estimated_centre_of_mass(a, b, pen)
    _draw(image, a + shift, b + shift, pen)
    error = CENTRE - centre_of_mass(image)
    if np.all(np.isfinite(error)) and np.abs(error).max() > COM_TOLERANCE:
        # The estimate ignores overlaps and clipping; one corrected drawing fixes that.
        image[:] = 0.0
        shift = shift + error
        _draw(image, a + shift, b + shift, pen)
    return image


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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return the image as uint8 0..255 (round(255 x)), the wire format."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """Return the intensity-weighted centre ``[x, y]`` (column, row) of a (28, 28) image."""
    total = float(image.sum())
    if total <= 0.0:
        return np.array([np.nan, np.nan])
    index = np.arange(image.shape[0], dtype=np.float64)
    x = float(image.sum(axis=0) @ index) / total
    y = float(image.sum(axis=1) @ index) / total
    return np.array([x, y])


# --- validation -------------------------------------------------------------------


def _validated(strokes) -> list[np.ndarray]:
    """Return the non-empty strokes as float64 (k, 2) arrays, or raise ValueError."""
    if isinstance(strokes, (str, bytes)) or not hasattr(strokes, "__len__"):
        raise ValueError("strokes must be a list of strokes, each a list of [x, y] points")
    polylines = []
    for i, stroke in enumerate(strokes):
        try:
            points = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stroke {i} is not a list of [x, y] number pairs") from exc
        if points.size == 0:
            continue
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"stroke {i} must be a list of [x, y] points, got shape {points.shape}"
            )
        if not np.isfinite(points).all():
            raise ValueError(f"stroke {i} contains a coordinate that is not a finite number")
        polylines.append(points)
    return polylines


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


def _fit_to_box(polylines: list[np.ndarray], side: float) -> list[np.ndarray]:
    """Scale all strokes by one factor so their bounding box fits ``side``, centred on 0."""
    points = np.concatenate(polylines)
    lo, hi = points.min(axis=0), points.max(axis=0)
    # Halves first, so that coordinates near the float limits cannot overflow.
    centre = lo / 2 + hi / 2
    half = float((hi / 2 - lo / 2).max())
    if half == 0.0:
        return [np.zeros_like(p) for p in polylines]  # a dot, however many times repeated
    # Divide before multiplying: (p - centre) / half is in [-1, 1] even for tiny halves.
    return [(p - centre) / half * (side / 2) for p in polylines]


def _simplified(polylines: list[np.ndarray]) -> list[np.ndarray]:
    """Keep one point per ``spacing`` of arc length in each stroke (ends always kept)."""
    lengths = [np.hypot(*np.diff(p, axis=0).T) for p in polylines]
    total = sum(float(s.sum()) for s in lengths)
    spacing = max(MIN_SPACING, total / MAX_POINTS)
    kept = []
    for points, segment_lengths in zip(polylines, lengths, strict=True):
        if len(points) <= 2:
            kept.append(points)
            continue
        arc = np.concatenate([[0.0], np.cumsum(segment_lengths)])
        bucket = np.floor(arc / spacing)
        keep = np.empty(len(points), dtype=bool)
        keep[0] = True
        keep[1:] = bucket[1:] != bucket[:-1]
        keep[-1] = True
        kept.append(points[keep])
    return kept


def _segments(polylines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return segment starts and ends (S, 2); a one-point stroke is a zero-length segment."""
    starts, ends = [], []
    for p in polylines:
        if len(p) == 1:
            starts.append(p)
            ends.append(p)
        else:
            starts.append(p[:-1])
            ends.append(p[1:])
    return np.concatenate(starts), np.concatenate(ends)


def _estimated_centre_of_mass(a: np.ndarray, b: np.ndarray, pen: float) -> np.ndarray:
    """Centre of mass of the ink, counting each segment by its length plus a pen-sized cap."""
    length = np.hypot(*(b - a).T)
    # A round pen adds ink around each segment's ends too; weight pen/2 keeps dots counted.
    weight = length + pen / 2
    return (weight @ ((a + b) / 2)) / weight.sum()


# --- rasterisation ----------------------------------------------------------------


def _draw(image: np.ndarray, a: np.ndarray, b: np.ndarray, pen: float) -> None:
    """Draw the segments a->b (S, 2), in pixel coordinates, with a round pen into image."""
    a, b = _split(a, b, PIECE)
    reach = pen / 2 + SOFTNESS / 2  # beyond this distance from the centre line: no ink
    # Each piece only touches a small square window of pixels around it.
    extent = float(np.abs(b - a).max())
    k = int(np.ceil(extent + 2 * reach)) + 1
    origin = np.floor(np.minimum(a, b) - reach).astype(np.int64)  # (S, 2) window corner
    offset = np.arange(k)
    gx = origin[:, 0:1] + np.tile(offset, k)  # (S, k*k) pixel columns
    gy = origin[:, 1:2] + np.repeat(offset, k)  # (S, k*k) pixel rows
    d = (b - a).astype(np.float32)
    dx, dy = d[:, 0:1], d[:, 1:2]
    length2 = dx * dx + dy * dy
    inverse = np.divide(1.0, length2, out=np.zeros_like(length2), where=length2 > 0)
    ex = gx.astype(np.float32) - a[:, 0:1].astype(np.float32)  # from piece start to pixel
    ey = gy.astype(np.float32) - a[:, 1:2].astype(np.float32)
    t = np.clip((ex * dx + ey * dy) * inverse, 0.0, 1.0)  # nearest point's place on piece
    ex -= t * dx
    ey -= t * dy
    distance = np.sqrt(ex * ex + ey * ey)
    ink = np.clip((pen / 2 + SOFTNESS / 2 - distance) / SOFTNESS, 0.0, 1.0)
    inside = (ink > 0) & (gx >= 0) & (gx < SIZE) & (gy >= 0) & (gy < SIZE)
    # Where windows overlap, a pixel takes the ink of its nearest piece (the maximum).
    np.maximum.at(image.reshape(-1), gy[inside] * SIZE + gx[inside], ink[inside])


def _split(a: np.ndarray, b: np.ndarray, longest: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut segments longer than ``longest`` into equal pieces; returns the pieces' ends."""
    length = np.hypot(*(b - a).T)
    n = np.maximum(1, np.ceil(length / longest)).astype(np.int64)
    if n.max() == 1:
        return a, b
    which = np.repeat(np.arange(len(a)), n)
    j = np.arange(len(which)) - np.repeat(np.cumsum(n) - n, n)  # piece index in its segment
    step = (b - a)[which] / n[which][:, None]
    start = a[which] + j[:, None] * step
    return start, start + step
