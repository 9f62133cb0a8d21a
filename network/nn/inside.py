"""Looking inside: what each layer computes for a drawing, and which pixels mattered.

Two questions a person asks of a prediction:

*What does the network compute?*  ``activations`` runs the forward pass and keeps the
output of every nonlinearity: for the CNN the 32 feature maps of the first convolution
(28x28 each), the 64 of the second (14x14) and the 128 units of the dense layer.

*Which pixels made it say that?*  A saliency map ``s`` (28, 28), signed, positive where
a pixel pushed the network toward the digit.  Three ways to compute one, all from
the network's own backward pass or forward passes:

    gradient x input        s = x * dz_d/dx                    one backward pass
    integrated gradients    s = x * mean_k dz_d/dx (alpha_k x)  m backward passes, one batch
    occlusion               s_ij = log p_d(x) - log p_d(x with pixel ij wiped)
                                                                one forward pass per ink pixel

where z_d is the logit of the digit d and p_d its probability.  Integrated gradients
sum to z_d(x) - z_d(0) (completeness): the map accounts for the whole logit.  Which one
the app shows is chosen by a measure of faithfulness, not by looks (``benchmarks/
saliency.py``: wiping the most salient ink must hurt the answer more than wiping as
much random ink), and then by cost: ``saliency``'s default is the cheapest method that
passes.

Backward passes need the forward caches that only ``training=True`` keeps, so they run
on a *tape*: fresh layers that share the model's weight arrays (no copy), with dropout
switched off.  The live model itself is never touched, so explanations run beside
predictions on other threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import DTYPE, Conv2D, Dense, Dropout, Layer, ReLU, Sigmoid, layer_from_config
from .losses import softmax
from .model import Sequential

METHODS = ("gradient_x_input", "integrated_gradients", "occlusion")

STEPS = 16
"""Integrated gradients: points on the path from the black image to the drawing."""


@dataclass(frozen=True)
class Activation:
    """One layer's output for one drawing: ``values`` has ``shape`` ((H, W, C) or (n,))."""

    name: str  # "conv1", "conv2", "dense1", ...
    kind: str  # "conv" or "dense"
    values: np.ndarray


def activations(model: Sequential, x: np.ndarray) -> list[Activation]:
    """The hidden activations of one float image x (28, 28), in network order.

    Each convolution or dense layer followed by its nonlinearity is one entry, taken
    after the nonlinearity (ReLU, sigmoid); the logits are not included.
    """
    a = np.asarray(x, dtype=DTYPE)[None]
    out: list[Activation] = []
    counts = {"conv": 0, "dense": 0}
    kind = None
    for layer in model.layers:
        a = layer.forward(a)
        if isinstance(layer, Conv2D | Dense):
            kind = "conv" if isinstance(layer, Conv2D) else "dense"
        elif isinstance(layer, ReLU | Sigmoid) and kind is not None:
            counts[kind] += 1
            out.append(Activation(f"{kind}{counts[kind]}", kind, a[0]))
            kind = None
    return out


def tape(model: Sequential) -> Sequential:
    """A copy of the model's layers that share its weights (no copy) and drop nothing,
    for forward(training=True) / backward without touching the model's own layers."""
    layers: list[Layer] = []
    for config, layer in zip(model.architecture(), model.layers, strict=True):
        if isinstance(layer, Dropout):
            layers.append(Dropout(0.0))
            continue
        twin = layer_from_config(config)
        twin.params = layer.params  # the same arrays: reading only
        layers.append(twin)
    return Sequential(layers, model.temperature)


def logit_gradient(model: Sequential, x: np.ndarray, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """(dz_d/dx (N, 28, 28), logits (N, 10)) for images x (N, 28, 28): one backward pass."""
    t = tape(model)
    logits = t.forward(x, training=True)  # float64 stays float64: gradient checks use it
    dlogits = np.zeros_like(logits)
    dlogits[:, digit] = 1.0
    return t.backward(dlogits).reshape(x.shape), logits


def gradient_x_input(model: Sequential, x: np.ndarray, digit: int) -> np.ndarray:
    """s = x * dz_d/dx for one image x (28, 28)."""
    grad, _ = logit_gradient(model, x[None], digit)
    return x * grad[0]


def integrated_gradients(model: Sequential, x: np.ndarray, digit: int,
                         steps: int = STEPS) -> np.ndarray:
    """s = x * mean over alpha_k = (k + 1/2) / steps of dz_d/dx at alpha_k x (midpoint rule
    for the path integral from the black image), all steps in one batch."""
    alphas = (np.arange(steps, dtype=DTYPE) + 0.5) / steps
    grads, _ = logit_gradient(model, alphas[:, None, None] * x[None], digit)
    return x * grads.mean(axis=0)


def occlusion(model: Sequential, x: np.ndarray, digit: int) -> np.ndarray:
    """s_ij = log p_d(x) - log p_d(x with ink pixel ij set to 0); 0 off the ink."""
    rows, cols = np.nonzero(x)
    wiped = np.repeat(x[None], len(rows) + 1, axis=0)
    wiped[np.arange(1, len(rows) + 1), rows, cols] = 0.0
    logp = np.log(model.predict_proba(wiped)[:, digit].astype(np.float64) + 1e-12)
    s = np.zeros(x.shape, np.float64)
    s[rows, cols] = logp[0] - logp[1:]
    return s


def saliency(model: Sequential, x: np.ndarray, digit: int,
             method: str = "gradient_x_input") -> np.ndarray:
    """The saliency map (28, 28) float64 of image x toward ``digit`` by ``method``."""
    x = np.asarray(x, dtype=DTYPE)
    if method == "gradient_x_input":
        s = gradient_x_input(model, x, digit)
    elif method == "integrated_gradients":
        s = integrated_gradients(model, x, digit)
    elif method == "occlusion":
        s = occlusion(model, x, digit)
    else:
        raise ValueError(f"unknown saliency method {method!r}; one of {METHODS}")
    return np.asarray(s, dtype=np.float64)


def deletion_drop(model: Sequential, x: np.ndarray, digit: int, pixels: np.ndarray) -> float:
    """How much p_digit falls when the given flat pixel indices are wiped (set to 0)."""
    wiped = x.copy().reshape(-1)
    wiped[pixels] = 0.0
    p = softmax(model.predict_logits(np.stack([x, wiped.reshape(x.shape)])).astype(np.float64)
                / model.temperature)
    return float(p[0, digit] - p[1, digit])
