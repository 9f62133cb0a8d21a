"""Softmax and cross-entropy, fused so the gradient is the famous ``p - y``.

Computing softmax and then log separately loses precision (log of a tiny p) and
can overflow (exp of a large logit). Shifting by the row maximum and using
log-sum-exp keeps both finite for any float32 logits.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p for logits (N, K), stable: z - max - log(sum(exp(z - max)))."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities (N, K) from logits (N, K); every row sums to 1."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and dL/dlogits.

    logits: (N, K); labels: (N,) ints in [0, K). Returns (loss, grad (N, K)),
    grad = (softmax(logits) - onehot(labels)) / N.
    """
    n = logits.shape[0]
    logp = log_softmax(logits)
    rows = np.arange(n)
    loss = -float(logp[rows, labels].mean())
    grad = np.exp(logp)
    grad[rows, labels] -= 1.0
    return loss, (grad / n).astype(logits.dtype, copy=False)
