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

    logits: (N, K); labels: (N,) ints in [0, K), or -1 for "none of these": its target
    is the uniform distribution 1/K (outlier exposure, see ``network.training.nondigits``).
    Returns (loss, grad (N, K)) with grad = (softmax(logits) - target) / N.
    """
    n, k = logits.shape
    labels = np.asarray(labels)
    logp = log_softmax(logits)
    target = np.zeros_like(logp)
    known = labels >= 0
    target[np.flatnonzero(known), labels[known]] = 1.0
    target[~known] = 1.0 / k
    loss = -float((target * logp).sum(axis=1).mean())
    grad = (np.exp(logp) - target) / n
    return loss, grad.astype(logits.dtype, copy=False)
