"""The architectures Inkling ships: a small CNN (the app's reader) and MLPs (the classics).

Each builder takes the ``numpy.random.Generator`` that draws the initial weights (and
the dropout masks), so one seed fixes a whole training run.
"""

from __future__ import annotations

import numpy as np

from .layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU, Reshape, Sigmoid
from .model import Sequential


def build_cnn(rng: np.random.Generator, dropout: float = 0.25, filters: tuple[int, int] = (32, 64),
              hidden: int = 128) -> Sequential:
    """conv3x3(f1) relu pool -> conv3x3(f2) relu pool -> dense ``hidden`` relu -> dense 10;
    (f1, f2) = ``filters``.  The app's reader is (32, 64) and 128; a narrower one costs
    less per prediction (the forward pass is mostly the second convolution, f1 f2 9
    multiply-adds per pixel, and the first dense layer's 49 f2 x hidden weights)."""
    f1, f2 = (int(f) for f in filters)
    return Sequential([
        Reshape((28, 28, 1)),
        Conv2D(1, f1, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),     # 14x14xf1
        Conv2D(f1, f2, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),    # 7x7xf2
        Flatten(),
        Dropout(dropout, rng=rng),
        Dense(7 * 7 * f2, hidden, rng=rng), ReLU(),
        Dropout(dropout, rng=rng),
        Dense(hidden, 10, rng=rng, init="xavier"),
    ])


def build_mlp(rng: np.random.Generator, hidden: int = 128, activation: str = "relu",
              dropout: float = 0.0) -> Sequential:
    """784 -> hidden -> 10; ``hidden=15, activation='sigmoid'`` is the textbook network."""
    if activation not in ("relu", "sigmoid"):
        raise ValueError(f"activation must be relu or sigmoid, not {activation!r}")
    act, init = (ReLU, "he") if activation == "relu" else (Sigmoid, "xavier")
    layers: list[Layer] = [Flatten(), Dense(784, hidden, rng=rng, init=init), act()]
    if dropout:
        layers.append(Dropout(dropout, rng=rng))
    layers.append(Dense(hidden, 10, rng=rng, init="xavier"))
    return Sequential(layers)
