"""Online learning: one teach is a few backprop steps on the drawing plus a replay minibatch.

A person teaches one drawing at a time.  Training on that drawing alone would
make the network forget everything else (catastrophic forgetting), so every
step mixes it with a *replay* minibatch: a few drawings taught earlier (from
the store) and a few MNIST *anchor* digits.  The minibatch has a fixed size,
so a teach costs the same after ten teaches or after a million.

The trade-off that makes a teach cost milliseconds: we train only the *head*,
the layers from the first Dense layer onward, and keep the convolutional
*trunk* before it fixed (``network.online.features``).  The trunk's features of the
anchors and of the guard's sets (held-out MNIST, drawn digits, non-digits: see
``network.online.guard``) are then computed once per trunk and cached, so a step is a
small head forward/backward and checking a new version is a product on cached features
instead of thousands of convolutions.  The head is where a person's style is told apart
anyway; what we give up is adapting the low-level stroke detectors, which offline
training made generic.

Even that check avoids its one big product: an SGD step changes the first Dense
layer's weights by x^T C (x: the n batch features, C: n x hidden), so the guard sets'
hidden layer moves by (F x^T) C, where F x^T needs only the fresh drawings' columns
(the anchors' are a cached Gram matrix).  The hidden layer is kept per model and
recomputed exactly every REFRESH_EVERY teaches to stop rounding drift; tests check the
result against a full forward pass.

The optimiser is plain SGD with momentum, re-created for every teach: no
optimiser state survives between teaches, so a stored model version fully
determines the next one.  Each Dense layer's learning rate is divided by its
inputs' mean squared norm (normalised LMS), so ``lr`` is a dimensionless step
that suits any trunk.  Dropout is off during online steps (it would need its
own random state and only adds noise to a 65-sample batch).

Defaults were tuned with ``benchmarks/teach.py`` on the shipped CNN: lr 1.6,
two steps, a batch of the drawing (30% of the weight), 8 taught and 56 anchor
digits.  Smaller steps learn a new style more slowly; larger ones, or fewer
anchors, cost more held-out accuracy for the same gain (and trip the guard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ink.pixels import as_float_images
from ..nn.layers import DTYPE, Dense, Dropout, Layer
from ..nn.losses import softmax, softmax_cross_entropy
from ..nn.model import Sequential
from ..nn.optim import SGD
from ..training.mnist import Subset, load_subset
from .features import (
    cached,
    data_fingerprint,
    forward,
    head_start,
    trunk_features,
    trunk_fingerprint,
)
from .guard import Checks, measure
from .personal import NONDIGIT_EVERY, hidden_features, pick_anchors


@dataclass(frozen=True)
class TeachResult:
    """What one teach produced.

    model: the new model (a copy; the model passed in is never modified).
    predicted, probabilities (10,): the old model's answer for the drawing.
    after (10,): the new model's probabilities for the drawing.
    checks: the new model's figures on the guard's sets.
    features (D,): the drawing's trunk features (the same under both models).
    loss: the weighted cross-entropy of the replay batch before the first step.
    """

    model: Sequential
    predicted: int
    probabilities: np.ndarray
    after: np.ndarray
    checks: Checks
    features: np.ndarray
    loss: float

    def __repr__(self) -> str:
        return (f"TeachResult(predicted={self.predicted}, heldout={self.checks.heldout:.4f}, "
                f"loss={self.loss:.4f})")


class OnlineLearner:
    """Teaches a model one drawing at a time, with replay, training only its head.

    Not thread-safe: one owner (the ModelHub's teacher thread) calls it.
    """

    REFRESH_EVERY = 64  # incremental updates of the guard sets' hidden layer before an exact one

    def __init__(self, subset: Subset, *, rng: np.random.Generator,
                 not_sure_below: float = 0.6, lr: float = 1.6, momentum: float = 0.5,
                 steps: int = 2, anchors: int = 56, taught: int = 8,
                 new_share: float = 0.3) -> None:
        if not 0.0 < new_share <= 1.0:
            raise ValueError(f"new_share must be in (0, 1], got {new_share}")
        if steps < 1 or anchors < 0 or taught < 0:
            raise ValueError("steps must be >= 1 and replay sizes >= 0")
        self.anchor_x, self.anchor_y = subset.anchor_x, np.asarray(subset.anchor_y, np.int64)
        if len(self.anchor_x) == 0 and anchors:
            raise ValueError("anchors > 0 needs anchor digits")
        # The guard's sets, one array: held-out MNIST, drawn digits, non-digits (label -1).
        parts = [("heldout", subset.heldout_x, subset.heldout_y),
                 ("drawn", subset.drawn_x, subset.drawn_y),
                 ("nondigits", subset.nondigit_x, np.full(len(subset.nondigit_x), -1))]
        self.segments, start = {}, 0
        for name, x, _ in parts:
            self.segments[name] = slice(start, start + len(x))
            start += len(x)
        self.check_x = np.concatenate([x for _, x, _ in parts])
        self.check_y = np.concatenate([np.asarray(y, np.int64) for _, _, y in parts])
        self.not_sure_below = float(not_sure_below)
        self.rng = rng
        self.lr, self.momentum, self.steps = float(lr), float(momentum), int(steps)
        self.anchors, self.taught, self.new_share = int(anchors), int(taught), float(new_share)
        self._check_key = data_fingerprint(self.check_x)
        self._anchor_key = data_fingerprint(self.anchor_x)
        self._hidden_cache: list[tuple[Sequential, np.ndarray, int]] = []
        self._personal_cache: tuple[Sequential, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_subset(cls, subset: Subset | None = None, *, rng: np.random.Generator,
                    **options) -> OnlineLearner:
        """Build on the shipped subset (held-out, anchors and the guard's sets)."""
        return cls(subset if subset is not None else load_subset(), rng=rng, **options)

    def config(self) -> dict:
        """The hyperparameters, for the metadata of every version this learner makes."""
        return {"lr": self.lr, "momentum": self.momentum, "steps": self.steps,
                "anchors": self.anchors, "taught": self.taught, "new_share": self.new_share}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return (f"OnlineLearner({args}, checked on {len(self.check_x)}, "
                f"anchors={len(self.anchor_x)})")

    # -- features -------------------------------------------------------------------
    def features(self, model: Sequential, images: np.ndarray) -> np.ndarray:
        """Trunk features (N, D) of images (N, 28, 28), uint8 or float; batched for speed.

        Inference leaves no state in the layers, so the model may be in use elsewhere.
        """
        return trunk_features(model, as_float_images(images))

    def check_features(self, model: Sequential, trunk_key: str | None = None) -> np.ndarray:
        """Cached trunk features of the guard's sets, (N_check, D)."""
        key = (trunk_key or trunk_fingerprint(model), self._check_key)
        return cached(key, lambda: self.features(model, self.check_x))

    def anchor_features(self, model: Sequential, trunk_key: str | None = None) -> np.ndarray:
        """Cached trunk features of the anchor digits, (N_anchor, D)."""
        key = (trunk_key or trunk_fingerprint(model), self._anchor_key)
        return cached(key, lambda: self.features(model, self.anchor_x))

    def check_anchor_gram(self, model: Sequential, trunk_key: str | None = None) -> np.ndarray:
        """Cached inner products of the guard sets' and the anchors' features."""
        trunk_key = trunk_key or trunk_fingerprint(model)
        key = (trunk_key, self._check_key, self._anchor_key, "gram")
        return cached(key, lambda: self.check_features(model, trunk_key)
                      @ self.anchor_features(model, trunk_key).T)

    def warm_up(self, model: Sequential) -> None:
        """Compute (or find cached) everything a teach needs, ahead of the first teach."""
        trunk_key = trunk_fingerprint(model)
        self.check_features(model, trunk_key)
        if self.anchors:
            self.check_anchor_gram(model, trunk_key)

    def personal_anchors(self, model: Sequential) -> tuple[np.ndarray, np.ndarray]:
        """What a writer's personal head replays besides their drawings: fixed anchor
        digits and non-digits (label -1), as hidden features (m, H) under ``model`` and
        labels (m,).  The last model's are kept (the teacher and the follower may both
        ask: each computes the same, and the tuple is swapped in whole)."""
        known = self._personal_cache
        if known is not None and known[0] is model:
            return known[1], known[2]
        picks = pick_anchors(self.anchor_y)
        trunk_key = trunk_fingerprint(model)  # online learning leaves the trunk: cached
        nondigits = self.check_features(model, trunk_key)[
            self.segments["nondigits"]][::NONDIGIT_EVERY]
        trunk = np.concatenate([self.anchor_features(model, trunk_key)[picks], nondigits])
        labels = np.concatenate([self.anchor_y[picks], np.full(len(nondigits), -1)])
        self._personal_cache = (model, hidden_features(model, trunk), labels)
        return self._personal_cache[1], labels

    # -- evaluation -----------------------------------------------------------------
    def _hidden(self, model: Sequential, trunk_key: str) -> tuple[np.ndarray, int]:
        """The first head layer's output on the guard's sets, (N_check, H) float64.

        Remembered for the last two models taught from or made (by identity), with
        the number of incremental updates since it was computed exactly.
        """
        for known, hidden, updates in self._hidden_cache:
            if known is model:
                return hidden, updates
        dense = model.layers[head_start(model)]  # reading weights only: no copy needed
        features = self.check_features(model, trunk_key)
        return (features @ dense.params["W"] + dense.params["b"]).astype(np.float64), 0

    def _remember_hidden(self, model: Sequential, hidden: np.ndarray, updates: int) -> None:
        self._hidden_cache = [(model, hidden, updates), *self._hidden_cache[:1]]

    def _checks_from_hidden(self, model: Sequential, hidden: np.ndarray) -> Checks:
        logits = forward(model.layers[head_start(model) + 1:], hidden)
        return measure(logits, self.check_y, model.temperature, self.not_sure_below,
                       self.segments)

    def checks(self, model: Sequential) -> Checks:
        """The model's figures on the guard's sets (cached trunk features)."""
        hidden, _ = self._hidden(model, trunk_fingerprint(model))
        return self._checks_from_hidden(model, hidden)

    def accuracy(self, model: Sequential, images: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy (0..1) of the model on any images (N, 28, 28) (not cached)."""
        logits = forward(model.layers[head_start(model):], self.features(model, images))
        return float((logits.argmax(axis=1) == np.asarray(labels, dtype=np.int64)).mean())

    # -- teaching -------------------------------------------------------------------
    def _optimizers(self, layers: list[Layer], inputs: list[np.ndarray]) -> list[SGD]:
        """One SGD per layer with parameters, its lr normalised by its inputs' mean |a|^2.

        A step on a Dense layer changes its output for an input a by about
        lr * |a|^2 * gradient, so dividing by the batch's mean |a|^2 (+1 for the
        bias) makes ``self.lr`` a dimensionless step that does not depend on how
        large a trunk's features happen to be (normalised least mean squares).
        """
        optimizers = []
        for layer, a in zip(layers, inputs, strict=True):
            scale = float(np.mean(np.einsum("ij,ij->i", a, a))) + 1.0 \
                if isinstance(layer, Dense) else 1.0
            optimizers.append(SGD([(layer, name) for name in layer.params],
                                  lr=self.lr / scale, momentum=self.momentum))
        return optimizers

    def teach(self, model: Sequential, image: np.ndarray, label: int,
              replay_x: np.ndarray | None = None, replay_y: np.ndarray | None = None,
              features: np.ndarray | None = None) -> TeachResult:
        """Learn that image (28, 28) is the digit label; return the new model and the numbers.

        Trusted input: ``label`` is an int 0..9 and the images hold pixels, as the web
        edge (``webapp.protocol``) guarantees.

        replay_x (n, 28, 28), replay_y (n,): past taught drawings to mix in; at most
        ``self.taught`` of them are used.  ``features`` (D,): the drawing's trunk
        features under ``model``, when the caller has them already.  The batch is
        [drawing, taught..., anchors...]; the drawing carries ``new_share`` of the
        batch's weight, the rest share the rest.
        """
        new = model.copy()
        start = head_start(new)
        trunk_key = trunk_fingerprint(new)
        head = new.layers[start:]
        # Dropout is the identity at inference; leaving it out makes the teach steps
        # deterministic and lets the remaining layers record their caches for backward.
        dense, rest = head[0], [layer for layer in head[1:] if not isinstance(layer, Dropout)]

        # Features of the drawing and the taught replay in one trunk pass.
        drawing = as_float_images(image)
        if replay_x is not None and len(replay_x):
            taught_x = as_float_images(replay_x)[:self.taught]
            taught_y = np.asarray(replay_y, dtype=np.int64)[:len(taught_x)]
        else:
            taught_x, taught_y = np.zeros((0, 28, 28), DTYPE), np.zeros(0, np.int64)
        if features is None:
            fresh = trunk_features(new, np.concatenate([drawing, taught_x]))
        else:
            fresh = np.concatenate([np.asarray(features, DTYPE)[None],
                                    trunk_features(new, taught_x)])
        picks = self.rng.integers(0, len(self.anchor_x), size=self.anchors) if self.anchors \
            else np.zeros(0, np.int64)
        anchor_f = self.anchor_features(new, trunk_key)[picks] if self.anchors else fresh[:0]

        x = np.concatenate([fresh, anchor_f]).astype(DTYPE, copy=False)
        y = np.concatenate([[int(label)], taught_y, self.anchor_y[picks]]).astype(np.int64)
        n = len(y)
        # Per-sample weights summing to n, so the mean-reduced gradient is a weighted mean.
        weights = np.full(n, (1.0 - self.new_share) * n / max(n - 1, 1), DTYPE)
        weights[0] = self.new_share * n if n > 1 else 1.0

        # Gradient steps.  The first Dense layer's weight gradient is x^T G, so every SGD
        # (momentum) update of its W is x^T times a small (n, H) matrix; we add those up
        # in `coefficients`, which lets the held-out evaluation below skip the big product.
        trained = [layer for layer in [dense, *rest] if layer.params]
        optimizers: list[SGD] = []
        b_before = dense.params["b"].copy()
        velocity = np.zeros((n, dense.n_out), np.float64)
        coefficients = np.zeros_like(velocity)
        for step in range(self.steps):
            a, inputs = dense.forward(x, True), [x]
            for layer in rest:
                if layer.params:
                    inputs.append(a)
                a = layer.forward(a, True)
            logits = a
            _, dlogits = softmax_cross_entropy(logits, y)
            if step == 0:  # the model before the teach: its answer, loss and step sizes
                probabilities = softmax(logits[:1] / DTYPE(new.temperature))[0]
                p = softmax(logits)
                first_loss = float(-(weights * np.log(p[np.arange(n), y] + 1e-12)).mean())
                optimizers = self._optimizers(trained, inputs)
                lr_dense = optimizers[0].lr
            grad = dlogits * weights[:, None]
            for layer in reversed(rest):
                grad = layer.backward(grad)
            # dense.backward would also compute dL/dx, which nothing needs
            dense.grads["W"], dense.grads["b"] = x.T @ grad, grad.sum(axis=0)
            for optimizer in optimizers:
                optimizer.step()
            velocity = self.momentum * velocity - lr_dense * grad
            coefficients += velocity
        predicted = int(probabilities.argmax())
        new.metadata["online_teaches"] = int(new.metadata.get("online_teaches", 0)) + 1

        # The guard sets' hidden layer: hidden_new = F (W + x^T C) + b_new
        #                                       = hidden_old + (F x^T) C + (b_new - b_old),
        # where F x^T needs only the fresh columns (anchors' are a cached Gram matrix).
        hidden, updates = self._hidden(model, trunk_key)
        self._remember_hidden(model, hidden, updates)  # a rejected teach comes back to it
        if updates >= self.REFRESH_EVERY:
            hidden, updates = self._hidden(new, trunk_key)  # exact, to stop rounding drift
        else:
            features = self.check_features(new, trunk_key)
            kernel = np.empty((len(features), n), features.dtype)  # (N_check, n): F x^T
            np.matmul(features, fresh.T, out=kernel[:, :len(fresh)])
            if self.anchors:
                np.take(self.check_anchor_gram(new, trunk_key), picks, axis=1,
                        out=kernel[:, len(fresh):])
            hidden = hidden + kernel @ coefficients + (dense.params["b"] - b_before)
            updates += 1
        self._remember_hidden(new, hidden, updates)
        after_logits = forward(head, fresh[:1])
        after = softmax(after_logits / DTYPE(new.temperature))[0]
        return TeachResult(new, predicted, probabilities, after,
                           self._checks_from_hidden(new, hidden), fresh[0], first_loss)
