"""Personal adaptation: each writer's own output layer, learned by backprop with replay,
and a vote of their near-copies.

Everyone's model must learn slowly and carefully; one person's handwriting should count
at once.  So each writer gets a small head of their own: the shared model's logits plus a
linear correction of its hidden features,

    h        = the drawing's hidden features (the input of the shared model's last layer), (H,)
    z_shared = the shared model's logits, (10,)
    z        = z_shared + h @ dW + db                       dW (H, 10), db (10,): the writer's
    p_head   = softmax(z / T)                               T: the shared model's temperature

so with dW = 0 and db = 0 the writer's answers are everyone's.  A teach fits (dW, db) by
gradient descent on the writer's own drawings (all of them, newest ``capacity``: the
replay of their past teaches) together with a fixed set of MNIST *anchor* digits (the
replay that keeps the other digits) and of non-digits with a uniform target (so the
writer's model stays unsure of them), with weight decay pulling dW and db back to zero,
i.e. the writer's head back to the shared one (Kienzle and Chellapilla, ICML 2006: the
last stage of a writer-independent recogniser fine-tuned with its weights regularised
toward the writer-independent ones).  The loss and its gradient:

    L       = sum_i w_i * CE(softmax(z_i / T), y_i) + (decay / 2) * (|dW|^2 + |db|^2)
    dL/dz_i = w_i * (p_i - onehot(y_i)) / T                                   (N, 10)
    dL/ddW  = H^T (dL/dz) + decay * dW,     dL/ddb = sum_i dL/dz_i + decay * db

The writer's n drawings carry n / (n + ``PRIOR_DRAWINGS``) of the weight, the anchors the
rest: five drawings cannot outweigh everything else, fifty mostly do.  The step is
normalised by the features' mean squared norm (as in ``network.online.learner``), with
heavy-ball momentum.

A head fitted on one or two drawings barely moves, yet a person who just corrected a
drawing expects that drawing, and drawings like it, to read right at once.  So the
writer's drawings also *vote*, as a kernel density with the head's answer as its prior:

    u, u_i = unit hidden features of the drawing and of the writer's drawing i
    w_i    = exp((u . u_i - 1) / TAU)               1 for a copy, tiny for anything unlike
    p      = (PRIOR * p_head + sum_i w_i onehot(y_i)) / (PRIOR + sum_i w_i)

Far from everything the writer taught, p is the head's answer; on a near-copy the
writer's label wins.

The fit starts from zero every time, so a writer's head is a pure function of their
drawings and the shared model: any worker on any host that loads the writer's drawings
computes the same head, and nothing but the drawings is stored.  Only this writer's
predictions use it: it cannot hurt anyone else, so no guard limits it.  Measured with
``benchmarks/writers.py`` (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from ..nn.layers import Dense
from ..nn.losses import softmax
from ..nn.model import Sequential
from .features import forward, head_start

STEPS = 40
"""Gradient steps of one fit."""

LR = 16.0
"""Step size, dimensionless: divided by the mean squared norm of the features (+1)."""

MOMENTUM = 0.9

PRIOR_DRAWINGS = 12.0
"""How many drawings the anchors count as: n drawings of the writer carry n / (n + this)
of the loss's weight."""

DECAY = 0.1
"""Weight decay toward the shared head (dW = 0, db = 0)."""

TAU = 0.05
"""Width of the vote's kernel in cosine: a drawing 0.05 less alike than a copy weighs 1/e."""

PRIOR = 0.3
"""Weight of the head's answer against the votes of the writer's drawings."""

ANCHORS_PER_DIGIT = 20
"""MNIST anchor digits of each class replayed in every fit."""


def hidden_end(model: Sequential) -> int:
    """Index after the first Dense layer and its activation: where hidden features end."""
    start = head_start(model)
    return start + 2 if start + 1 < len(model.layers) and \
        not isinstance(model.layers[start + 1], Dense) else start + 1


def hidden_features(model: Sequential, trunk: np.ndarray) -> np.ndarray:
    """Hidden features h (N, H) float32 from trunk features (N, D)."""
    return forward(model.layers[head_start(model):hidden_end(model)],
                   np.asarray(trunk, np.float32))


NONDIGIT_EVERY = 10
"""One in this many of the shipped non-digits is replayed (uniform target) in every fit;
``benchmarks/writers.py`` measures "not sure" on the others."""


def pick_anchors(labels: np.ndarray, per_digit: int = ANCHORS_PER_DIGIT) -> np.ndarray:
    """Indices of the first ``per_digit`` anchors of each digit (a fixed choice, so every
    worker fits the same head)."""
    labels = np.asarray(labels)
    return np.concatenate([np.flatnonzero(labels == d)[:per_digit] for d in range(10)])


class PersonalHead:
    """One writer's drawings (trunk features (n, D) float16, labels (n,)) and the
    correction (dW (H, 10), db (10,)) fitted to them."""

    def __init__(self, trunk: np.ndarray, labels, capacity: int = 100,
                 dW: np.ndarray | None = None, db: np.ndarray | None = None,
                 unit: np.ndarray | None = None):
        self.trunk = np.asarray(trunk, np.float16)[-capacity:]
        self.labels = np.asarray(labels, np.int64)[-capacity:]
        self.capacity = capacity
        self.dW, self.db = dW, db  # None until fitted (or for a writer without drawings)
        self.unit = unit  # (n, H) unit hidden features of the drawings at the fit

    def __repr__(self) -> str:
        fitted = "fitted" if self.dW is not None else "not fitted"
        return f"PersonalHead(drawings={len(self.labels)}, capacity={self.capacity}, {fitted})"

    def __len__(self) -> int:
        return len(self.labels)

    def added(self, trunk: np.ndarray, label: int) -> PersonalHead:
        """A new, unfitted head with one more drawing (the oldest goes beyond capacity)."""
        row = np.asarray(trunk, np.float16)[None]
        rows = np.concatenate([self.trunk, row]) if len(self) else row
        return PersonalHead(rows, np.append(self.labels, label), self.capacity)

    def fitted(self, model: Sequential, anchor_h: np.ndarray,
               anchor_y: np.ndarray) -> PersonalHead:
        """This head with (dW, db) fitted to the drawings and the anchors under ``model``.

        anchor_h (m, H): the anchors' hidden features under ``model``; anchor_y (m,): their
        digits, or -1 for a non-digit, whose target is the uniform distribution (so that
        a writer's head stays unsure of what is not a digit).
        """
        if not len(self):
            return PersonalHead(self.trunk, self.labels, self.capacity)
        h = np.concatenate([hidden_features(model, self.trunk), anchor_h]).astype(np.float64)
        y = np.concatenate([self.labels, np.asarray(anchor_y, np.int64)])
        n, mine = len(y), len(self)
        share = mine / (mine + PRIOR_DRAWINGS) if n > mine else 1.0
        w = np.full(n, (1.0 - share) / max(n - mine, 1))
        w[:mine] = share / mine
        target = np.where(y[:, None] >= 0, np.eye(10)[np.maximum(y, 0)], 0.1)  # -1: uniform
        t = float(model.temperature)
        z_shared = forward(model.layers[hidden_end(model):], h.astype(np.float32)) \
            .astype(np.float64)
        lr = LR / (float(np.mean(np.einsum("ij,ij->i", h, h))) + 1.0)

        dW, db = np.zeros((h.shape[1], 10)), np.zeros(10)
        vW, vb = np.zeros_like(dW), np.zeros_like(db)
        for _ in range(STEPS):
            p = softmax((z_shared + h @ dW + db) / t)      # forward    (N, 10)
            dz = w[:, None] * (p - target) / t             # backward   (N, 10)
            vW = MOMENTUM * vW - lr * (h.T @ dz + DECAY * dW)
            vb = MOMENTUM * vb - lr * (dz.sum(axis=0) + DECAY * db)
            dW, db = dW + vW, db + vb
        unit = h[:mine] / (np.linalg.norm(h[:mine], axis=1, keepdims=True) + 1e-6)
        return PersonalHead(self.trunk, self.labels, self.capacity,
                            dW.astype(np.float32), db.astype(np.float32),
                            unit.astype(np.float32))

    def probabilities(self, h: np.ndarray, shared: np.ndarray,
                      temperature: float) -> np.ndarray:
        """The writer's probabilities (N, 10) for hidden features h (N, H) whose shared
        probabilities at ``temperature`` are ``shared`` (N, 10).

        The head: softmax(z_shared / t + c / t) with c = h dW + db, computed as
        softmax(log shared + c / t) (the shared logits are not needed again); then the
        vote of the writer's drawings.
        """
        if self.dW is None:
            return shared
        h = np.asarray(h, np.float32)
        p = softmax(np.log(np.maximum(shared, 1e-300)) + (h @ self.dW + self.db) / temperature)
        u = h / (np.linalg.norm(h, axis=1, keepdims=True) + 1e-6)
        weights = np.exp((u @ self.unit.T - 1.0) / TAU)           # (N, n)
        votes = weights @ np.eye(10, dtype=np.float32)[self.labels]  # (N, 10)
        return (PRIOR * p + votes) / (PRIOR + votes.sum(axis=1, keepdims=True))
