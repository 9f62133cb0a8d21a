"""Personal adaptation: a writer's own drawings, remembered in the network's feature space.

Everyone's model must learn slowly and carefully; one person's handwriting should count
at once.  So each writer keeps a small memory of the drawings they taught, and their
predictions mix a vote of that memory into the shared model's answer:

    h      = the drawing's hidden features (the first dense layer's activations), unit length
    h_i    = the same for each remembered drawing i, under the same model
    w_i    = exp((h . h_i - 1) / tau)           how like drawing i it is (1 for a copy)
    e_c    = sum of w_i over remembered drawings of digit c
    p      = (prior * p_shared + e) / (prior + sum_c e_c)

Far from everything the writer taught, every w_i is tiny and p is the shared answer; on
a near-copy of a taught drawing, w_i is near 1 and outweighs the ``prior``, so the
writer's label wins.  This is a kernel density vote with the shared model as its prior:
instant (a teach only adds a row), bounded (the newest ``capacity`` drawings), and it
cannot hurt anyone else, since it lives in this writer's predictions only.

The memory keeps *trunk* features (the convolutions' output), which online learning
never changes; the hidden features are recomputed from them for each model version
(one small product), so the memory follows the shared model as it learns.
"""

from __future__ import annotations

import numpy as np

from ..nn.layers import Dense
from ..nn.model import Sequential
from .features import forward, head_start

TAU = 0.05
"""Width of the kernel in cosine: a drawing 0.05 less alike than a copy weighs 1/e."""

PRIOR = 0.3
"""Weight of the shared model's answer against the memory's votes."""


def hidden_end(model: Sequential) -> int:
    """Index after the first Dense layer and its activation: where hidden features end."""
    start = head_start(model)
    return start + 2 if start + 1 < len(model.layers) and \
        not isinstance(model.layers[start + 1], Dense) else start + 1


def hidden_features(model: Sequential, trunk: np.ndarray) -> np.ndarray:
    """Unit-length hidden features (N, H) float32 from trunk features (N, D)."""
    h = forward(model.layers[head_start(model):hidden_end(model)], trunk.astype(np.float32))
    return h / (np.linalg.norm(h, axis=1, keepdims=True) + 1e-6)


class Memory:
    """One writer's remembered drawings: trunk features (n, D) float16 and labels (n,)."""

    def __init__(self, trunk: np.ndarray, labels: np.ndarray, capacity: int = 100):
        self.trunk = np.asarray(trunk, np.float16)[-capacity:]
        self.labels = np.asarray(labels, np.int64)[-capacity:]
        self.capacity = capacity
        self._hidden: tuple[int, np.ndarray] | None = None  # (model version, (n, H))

    def __repr__(self) -> str:
        return f"Memory(drawings={len(self.labels)}, capacity={self.capacity})"

    def __len__(self) -> int:
        return len(self.labels)

    def added(self, trunk: np.ndarray, label: int) -> Memory:
        """A new memory with one more drawing (the oldest goes beyond ``capacity``)."""
        return Memory(np.concatenate([self.trunk, np.asarray(trunk, np.float16)[None]]),
                      np.append(self.labels, label), self.capacity)

    def hidden(self, model: Sequential, version: int) -> np.ndarray:
        """The remembered drawings' unit hidden features under ``model``, (n, H); kept
        until a model of another ``version`` asks."""
        if self._hidden is None or self._hidden[0] != version:
            self._hidden = (version, hidden_features(model, self.trunk))
        return self._hidden[1]

    def mix(self, model: Sequential, version: int, h: np.ndarray,
            shared: np.ndarray) -> np.ndarray:
        """Probabilities (10,) for a drawing with hidden features h (H,) (made unit length
        here), whose shared probabilities are ``shared`` (10,)."""
        if not len(self):
            return shared
        unit = h / (np.linalg.norm(h) + 1e-6)
        weights = np.exp((self.hidden(model, version) @ unit - 1.0) / TAU)  # (n,)
        votes = np.bincount(self.labels, weights=weights, minlength=10)
        return (PRIOR * shared + votes) / (PRIOR + votes.sum())
