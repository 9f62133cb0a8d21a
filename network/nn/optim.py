"""Optimisers: SGD with momentum and Adam, both with decoupled weight decay.

An optimiser holds a list of ``(layer, name)`` parameter references, reads
``layer.grads[name]`` and updates ``layer.params[name]`` in place. Weight decay
(``w -= lr * wd * w``, as in AdamW) applies to weights only, never to biases,
because shrinking a bias towards zero regularises nothing useful.
"""

from __future__ import annotations

import numpy as np


def _decays(name: str) -> bool:
    return name != "b"


class Optimizer:
    """Common bookkeeping: the parameter references and a learning rate."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)

    def step(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """v <- mu v - lr g;  w <- w + v  (plain SGD when momentum mu = 0)."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(layer.params[name]) for layer, name in self.params]

    def step(self) -> None:
        for (layer, name), v in zip(self.params, self.velocity, strict=True):
            w, g = layer.params[name], layer.grads[name]
            if self.weight_decay and _decays(name):
                w -= self.lr * self.weight_decay * w
            v *= self.momentum
            v -= self.lr * g
            w += v


class Adam(Optimizer):
    """Adam: per-parameter steps from bias-corrected first and second moments of g.

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
    w <- w - lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).
    """

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(layer.params[name]) for layer, name in self.params]
        self.v = [np.zeros_like(layer.params[name]) for layer, name in self.params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # fold both bias corrections into one step size
        # a Python float, so that step * m stays float32
        step = float(self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t))
        for (layer, name), m, v in zip(self.params, self.m, self.v, strict=True):
            w, g = layer.params[name], layer.grads[name]
            if self.weight_decay and _decays(name):
                w -= self.lr * self.weight_decay * w
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            w -= step * m / (np.sqrt(v) + self.eps)
