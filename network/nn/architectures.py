"""The architectures Inkling ships: a small CNN (the app's reader) and MLPs (the classics).

Each builder takes the ``numpy.random.Generator`` that draws the initial weights (and
the dropout masks), so one seed fixes a whole training run.
"""

from __future__ import annotations

import numpy as np

from .layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU, Reshape, Sigmoid
from .model import Sequential


def build_cnn(rng: np.random.Generator, dropout: float = 0.25) -> Sequential:
    """conv3x3(32) relu pool -> conv3x3(64) relu pool -> dense 128 relu -> dense 10."""
    return Sequential([
        Reshape((28, 28, 1)),
        Conv2D(1, 32, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),    # 14x14x32
        Conv2D(32, 64, kernel=3, pad=1, rng=rng), ReLU(), MaxPool2D(2),   # 7x7x64
        Flatten(),
        Dropout(dropout, rng=rng),
        Dense(7 * 7 * 64, 128, rng=rng), ReLU(),
        Dropout(dropout, rng=rng),
        Dense(128, 10, rng=rng, init="xavier"),
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
