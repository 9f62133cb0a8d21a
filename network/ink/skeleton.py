"""Skeletons: a digit image thinned to one-pixel lines, then traced into pen strokes.

This turns scanned MNIST digits back into what a person's pen would have produced, so the
ink pipeline (``network.ink.render``) can be measured and trained on drawn ink:

* ``thin`` is Zhang-Suen thinning.  Whether a pixel may be peeled off depends only on its
  eight neighbours, so we encode the neighbourhood as one byte per pixel and look the
  decision up in a 256-entry table; each pass is a handful of whole-array operations over
  a batch of images, with no Python loop over pixels.
* ``network.ink.tracing`` turns the skeleton into ordered strokes.
* ``images_to_strokes`` magnifies digits three times before thinning them, so the
  skeleton keeps corners, ends and small loops that thinning at 28x28 would eat.

Coordinates of strokes are pixel coordinates ``[x, y] = [column, row]``.
"""

from __future__ import annotations

import numpy as np

from .pixels import as_float_images
from .tracing import RING, trace

THRESHOLD = 0.6
"""A pixel of the magnified image (in [0, 1]) counts as ink above this value; higher
than half keeps small loops open (tuned on re-drawn MNIST accuracy: 0.4-0.8 tried)."""

UPSAMPLE = 3
"""Digits are magnified this many times (bilinear) before thinning.  At 28x28 a stroke
is two or three pixels wide and thinning eats its corners and ends and fills small loops;
at 84x84 the skeleton keeps the digit's shape, for about three times the cost."""

CHUNK = 500
"""Images magnified and thinned at once by ``images_to_strokes``, bounding its memory."""

# Zhang-Suen's neighbours P2..P9 are tracing's RING: N, NE, E, SE, S, SW, W, NW.


def _deletion_tables() -> tuple[np.ndarray, np.ndarray]:
    """Return the two Zhang-Suen sub-iterations' decisions for all 256 neighbourhoods."""
    code = np.arange(256)
    p = [(code >> i) & 1 for i in range(8)]  # p[0] = P2 (north), ..., p[7] = P9 (north-west)
    neighbours = sum(p)
    transitions = sum((p[i] == 0) & (p[(i + 1) % 8] == 1) for i in range(8))
    common = (neighbours >= 2) & (neighbours <= 6) & (transitions == 1)
    p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
    first = common & (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
    second = common & (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
    return first.astype(bool), second.astype(bool)


_DELETE_FIRST, _DELETE_SECOND = _deletion_tables()


def _neighbourhood_codes(padded: np.ndarray) -> np.ndarray:
    """Return each interior pixel's neighbourhood byte for a padded (N, H+2, W+2) uint8 batch."""
    h, w = padded.shape[1] - 2, padded.shape[2] - 2
    code = np.zeros((padded.shape[0], h, w), dtype=np.uint8)
    for bit, (dr, dc) in enumerate(RING):
        code |= padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] << np.uint8(bit)
    return code


def thin(binary: np.ndarray) -> np.ndarray:
    """Return the Zhang-Suen skeleton (bool, same shape) of a (H, W) or (N, H, W) binary image."""
    binary = np.asarray(binary)
    single = binary.ndim == 2
    batch = binary[None] if single else binary
    if batch.ndim != 3:
        raise ValueError(f"expected a (H, W) or (N, H, W) image, got shape {binary.shape}")
    padded = np.pad(batch.astype(bool), ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
    active = np.arange(len(padded))  # images that still changed in the last pass
    while active.size:
        work = padded[active]
        changed = np.zeros(len(active), dtype=bool)
        for table in (_DELETE_FIRST, _DELETE_SECOND):
            inner = work[:, 1:-1, 1:-1]
            delete = table[_neighbourhood_codes(work)] & (inner == 1)
            inner[delete] = 0
            changed |= delete.any(axis=(1, 2))
        padded[active] = work
        active = active[changed]
    skeleton = padded[:, 1:-1, 1:-1].astype(bool)
    return skeleton[0] if single else skeleton


def image_to_strokes(image: np.ndarray) -> list[np.ndarray]:
    """Return the strokes, in the image's pixel coordinates, of a (28, 28) digit image
    (uint8 0..255 or float in [0, 1])."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected one (H, W) image, got shape {image.shape}")
    return images_to_strokes(image[None])[0]


def images_to_strokes(images: np.ndarray) -> list[list[np.ndarray]]:
    """Return the strokes of each (N, H, W) image: magnified, thinned and traced, with
    the points mapped back to the image's pixel coordinates."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
    drawings = []
    for begin in range(0, len(images), CHUNK):
        chunk = as_float_images(images[begin : begin + CHUNK])
        for skeleton in thin(magnified(chunk, UPSAMPLE) > THRESHOLD):
            strokes = trace(skeleton, smooth=UPSAMPLE)
            drawings.append([(s + 0.5) / UPSAMPLE - 0.5 for s in strokes])
    return drawings


def magnified(images: np.ndarray, factor: int) -> np.ndarray:
    """Return (N, H, W) images magnified to (N, factor H, factor W) by bilinear interpolation."""
    if factor == 1:
        return images
    _, h, w = images.shape
    rows, cols = _interpolation(h, factor), _interpolation(w, factor)
    return (rows @ images.astype(np.float32) @ cols.T).astype(np.float32)


def _interpolation(n: int, factor: int) -> np.ndarray:
    """The (factor n, n) matrix that linearly interpolates n samples at factor n points
    (pixel centres aligned, edges held)."""
    position = np.clip((np.arange(n * factor) + 0.5) / factor - 0.5, 0, n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = position - low
    matrix = np.zeros((n * factor, n), dtype=np.float32)
    matrix[np.arange(n * factor), low] += 1 - weight
    matrix[np.arange(n * factor), high] += weight
    return matrix
