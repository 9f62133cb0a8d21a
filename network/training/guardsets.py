"""The guard's fixed sets: drawn digits and non-digits every shared version is checked on.

The online guard (``network.online.guard``) measures each new version of the shared
model on sets that never change, so that a drift shows the same way whenever it
happens.  They are made once, by ``inkling make-subset``, and shipped in the subset:

- *drawn digits*: the held-out MNIST test digits re-drawn through the app's ink path
  in many hands, and as many digits written in the world's styles;
- *non-digits*: shapes of every family, those mixed into training (letters, symbols,
  random walks...) and those held out of it (scribbles, hearts, stars...).  The
  training families are answered "not sure" almost always, so a poisoned step barely
  moves their figure; the held-out ones sit nearer the edge and show it first.

These are the guard's own: nothing here is trained on, and the benchmarks measure on
sets drawn with other seeds.
"""

from __future__ import annotations

import numpy as np

from ..ink.render import render
from ..ink.skeleton import images_to_strokes
from .hands import in_any_hand
from .nondigits import HELDOUT, TRAINING, nondigit_images
from .styles import styled_images


def drawn_digits(images: np.ndarray, labels: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 digits (N, 28, 28) re-drawn in many hands, then N styled digits: uint8
    images (2N, 28, 28) and labels (2N,).  The guard reads every image on every teach,
    so the sets stay small: a few hundred per kind."""
    redrawn = np.zeros(images.shape, np.float32)
    for i, strokes in enumerate(images_to_strokes(images)):
        if strokes:
            drawn, kwargs, _ = in_any_hand(strokes, rng)
            redrawn[i] = render(drawn, **kwargs)
    styled, styled_labels, _ = styled_images(len(images), rng)
    out = np.concatenate([redrawn, styled])
    return (np.round(out * 255).astype(np.uint8),
            np.concatenate([labels, styled_labels]).astype(np.uint8))


def nondigits(n: int, rng: np.random.Generator) -> np.ndarray:
    """n non-digits of every family (training and held out), uint8 (n, 28, 28)."""
    return np.round(nondigit_images(n, rng, {**TRAINING, **HELDOUT}) * 255).astype(np.uint8)
