"""Reading a drawing: the hidden features and calibrated probabilities a model gives.

The live model reads every drawing through ``read``: it returns the hidden features h
(the input of the last layer, where a writer's personal head adds its correction,
``network.online.personal``) and the shared model's calibrated probabilities, from
images or from trunk features already computed.  Ink that is still being drawn (the
pen is down) is read by a model trained on unfinished ink, at its own temperature
(``read_ink`` reads a batch of both kinds).
"""

from __future__ import annotations

import os

import numpy as np

from ..nn.losses import softmax
from ..nn.model import Sequential, load_model
from .features import forward
from .personal import hidden_end


def read(model: Sequential, x: np.ndarray, start: int,
         temperature=None) -> tuple[np.ndarray, np.ndarray]:
    """The hidden features h (N, H) and calibrated shared probabilities (N, 10) of x
    entering ``model.layers[start:]`` (images at 0, trunk features at ``head_start``);
    ``temperature`` (a number, or (N, 1) per row) defaults to the model's."""
    end = hidden_end(model)
    h = forward(model.layers[start:end], x)
    t = model.temperature if temperature is None else temperature
    return h, softmax(forward(model.layers[end:], h).astype(np.float64) / t)


def read_ink(model: Sequential, unfinished: Sequential | None, x: np.ndarray,
             points: np.ndarray) -> tuple[np.ndarray, list, np.ndarray]:
    """Read a batch of images x (N, 28, 28), row i drawn with ``points[i]`` points while
    the pen is still down (0: the pen is up, the drawing read as finished).

    Finished ink is read by ``model`` at its temperature.  Ink with the pen down is read
    by ``unfinished`` at its temperature for that many points, or, without one, by
    ``model`` at its unfinished temperature.  Returns the probabilities (N, 10), the
    hidden features h (H,) of each row ``model`` read (None for the others: a writer's
    head corrects only ``model``) and each row's temperature (N,).
    """
    n = len(x)
    down = points > 0
    pen_down_reader = unfinished if unfinished is not None else model
    t = np.full((n, 1), model.temperature)
    t[down] = unfinished_temperature(pen_down_reader, points[down, None])
    probabilities, hidden = np.empty((n, 10)), [None] * n
    by_model = ~down if unfinished is not None else np.ones(n, bool)
    rows = np.flatnonzero(by_model)
    if len(rows):
        h, probabilities[rows] = read(model, x[rows], 0, t[rows])
        for k, row in enumerate(rows):
            hidden[row] = h[k]
    rows = np.flatnonzero(~by_model)  # the pen-down rows, when ``unfinished`` reads them
    if len(rows):
        probabilities[rows] = read(unfinished, x[rows], 0, t[rows])[1]
    return probabilities, hidden, t[:, 0]


def unfinished_temperature(model: Sequential, points=None):
    """The temperature for ink that is unfinished for certain (the pen is down), fitted
    on drawings cut part-way (``network.training.loop``); the model's own otherwise.

    With ``points`` (the points drawn so far; a number or an (N, 1) array) and a fitted
    ``unfinished_points`` c, it is T (1 + c / points): higher while only a few points
    are there (``network.training.calibration.fit_points_temperature``)."""
    t = float(model.metadata.get("temperature_unfinished") or model.temperature)
    grow = float(model.metadata.get("unfinished_points") or 0.0)
    if points is None or not grow:
        return t
    return t * (1.0 + grow / np.maximum(np.asarray(points, dtype=np.float64), 1.0))


def load_unfinished(path) -> Sequential | None:
    """The model that reads ink while the pen is down (``pretrained.UNFINISHED``), or None
    when there is none (the live model reads it then, at its unfinished temperature)."""
    return load_model(path) if path is not None and os.path.exists(path) else None
