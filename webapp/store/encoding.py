"""How drawings are kept: images as 784 bytes, strokes as compact JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

IMAGE_SHAPE = (28, 28)
IMAGE_BYTES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


def images_from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    """Return uint8 (n,28,28) from n blobs of 784 bytes."""
    return np.frombuffer(b"".join(bytes(b) for b in blobs),
                         dtype=np.uint8).reshape(-1, *IMAGE_SHAPE).copy()


def image_to_bytes(image: np.ndarray) -> bytes:
    """Return the 784 bytes of a uint8 (28, 28) image, row-major."""
    return np.ascontiguousarray(image, dtype=np.uint8).tobytes()


MAX_STORED_POINTS = 1000
"""Points kept of a drawing's strokes: enough to redraw it, however much ink was sent."""


def strokes_to_json(strokes: Sequence) -> str:
    """Compact JSON of strokes ((k, 2) arrays), thinned evenly to MAX_STORED_POINTS
    points and rounded to 0.1: a stored drawing costs a few kB at most."""
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes]
    total = sum(len(a) for a in arrays)
    if total > MAX_STORED_POINTS:
        step = int(np.ceil(total / MAX_STORED_POINTS))
        arrays = [np.concatenate([a[:-1:step], a[-1:]]) if len(a) > 1 else a for a in arrays]
    lists = [np.round(a, 1).tolist() for a in arrays]
    return json.dumps(lists, allow_nan=False, separators=(",", ":"))
