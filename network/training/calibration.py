"""Calibration: make "94% sure" mean right about 94% of the time.

A network trained with cross-entropy is usually over-confident. Temperature scaling
(Guo et al. 2017) divides the logits by one scalar T > 1 fitted on held-out data by
minimising the negative log-likelihood; it never changes which digit wins, only how
sure the model says it is. Expected calibration error (ECE) measures the remaining
gap: bin predictions by confidence and average |accuracy - confidence| per bin,
weighted by how many predictions fall in it.
"""

from __future__ import annotations

import numpy as np

from ..nn.losses import log_softmax, softmax


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of labels under softmax(logits / T)."""
    logp = log_softmax(logits.astype(np.float64) / temperature)
    return -float(logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    lo: float = 0.05, hi: float = 20.0, iters: int = 60) -> float:
    """The T minimising NLL, by golden-section search on log T (NLL is unimodal in T)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def fit_points_temperature(logits: np.ndarray, labels: np.ndarray, points: np.ndarray,
                           grow: np.ndarray | None = None) -> tuple[float, float]:
    """(T, c) minimising NLL when row i is divided by T (1 + c / points_i): one temperature
    for ink that grows point by point, higher while only a few points are drawn.

    logits (N, 10), labels (N,), points (N,) >= 1 (the points drawn so far).  A grid over
    c (``grow``; c = 0 is plain temperature scaling), the best T for each by
    ``fit_temperature``.  Why: the first points of a drawing are a dot or a short line
    that the network cannot tell much from; how little ink there is is something the
    server knows, and one T for every length leaves the first points over-confident.
    """
    grow = np.arange(0.0, 16.25, 0.25) if grow is None else np.asarray(grow, np.float64)
    logits = logits.astype(np.float64)
    stretch = 1.0 / np.asarray(points, np.float64)[:, None]
    best = None
    for c in grow:
        scaled = logits / (1.0 + c * stretch)
        t = fit_temperature(scaled, labels)
        loss = nll(scaled, labels, t)
        if best is None or loss < best[0]:
            best = (loss, t, float(c))
    return best[1], best[2]


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = 15) -> float:
    """ECE over equal-width confidence bins: sum_b (n_b / N) |acc_b - conf_b|."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def calibrated_ece(probabilities: np.ndarray, rng: np.random.Generator, draws: int = 200,
                   bins: int = 15) -> float:
    """The ECE a perfectly calibrated model with these (N, 10) probabilities would show on
    N drawings: the median over ``draws`` sets of labels drawn from the probabilities
    themselves.  ECE is a mean of |accuracy - confidence| over finite bins, so it is
    above zero even for a perfect model; on few drawings with few mistakes, this floor
    says whether a measured ECE can be told apart from calibrated at all."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    floors = []
    for _ in range(draws):
        u = rng.random((len(probabilities), 1))
        labels = np.minimum((cumulative < u).sum(axis=1), probabilities.shape[1] - 1)
        floors.append(expected_calibration_error(probabilities, labels, bins))
    return float(np.median(floors))


def evaluate_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-class accuracy, the 10x10 confusion matrix (rows true) and ECE."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "per_class": [float(v) for v in per_class],
        "confusion": confusion.tolist(),
        "ece": expected_calibration_error(probabilities, labels),
        "n": int(len(labels)),
    }


__all__ = ["fit_temperature", "fit_points_temperature", "expected_calibration_error",
           "calibrated_ece", "evaluate_probabilities", "nll", "softmax"]
