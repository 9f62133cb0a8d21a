"""Re-drawing: MNIST digits as the app would see them drawn, an augmentation.

Each digit is thinned to its skeleton, traced into pen strokes
(``network.ink.skeleton``) and rendered again by the app's own renderer
(``network.ink.render``) with a random pen width, so the network learns what canvas
ink looks like after our rendering, not only scanned pen strokes.
"""

from __future__ import annotations

import numpy as np

from ..ink import render as ink
from ..ink.pixels import to_float
from ..ink.skeleton import images_to_strokes


def redraw_batch(
    images: np.ndarray,
    rng: np.random.Generator,
    width_range: tuple[float, float] = (1.2, 4.0),
) -> np.ndarray:
    """Re-render each uint8 (N, 28, 28) digit from its skeleton with a random pen width
    drawn uniformly from ``width_range`` (28x28 pixels; MNIST's own strokes are about
    1.5 to 4.4 px wide, the default pen 2.6).

    Returns float32 (N, 28, 28) in [0, 1].  A digit whose skeleton is empty is returned
    as it was (scaled to [0, 1]), so the augmentation never blanks a training example.
    """
    low, high = width_range
    if not ink.MIN_WIDTH <= low <= high <= ink.MAX_WIDTH:
        raise ValueError(f"width_range must be within [{ink.MIN_WIDTH}, {ink.MAX_WIDTH}]")
    widths = rng.uniform(low, high, size=len(images))
    out = np.empty(images.shape, dtype=np.float32)
    for i, strokes in enumerate(images_to_strokes(images)):
        out[i] = ink.render(strokes, width=widths[i]) if strokes else to_float(images[i])
    return out
