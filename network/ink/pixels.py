"""Pixels: the one place where images change between uint8 and float.

The network reads float32 images in [0, 1] (0 background, 1 ink); the wire, the
database and MNIST's files hold uint8 0..255.  ``to_uint8`` rounds, so an image sent to
a client, stored by a teach and fed to the network are the same pixels.
"""

from __future__ import annotations

import numpy as np

SIDE = 28
"""Side of the square image the network reads, in pixels."""


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Return uint8 pixels 0..255 (any shape) as float32 in [0, 1]."""
    return pixels.astype(np.float32) / np.float32(255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Return a float image in [0, 1] (any shape) as uint8 0..255: round(255 x), clipped."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def as_float_images(images: np.ndarray) -> np.ndarray:
    """Return images (N, 28, 28) or one (28, 28), uint8 or float, as float32 (N, 28, 28)."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.dtype == np.uint8:
        return to_float(images)
    return images.astype(np.float32, copy=False)
