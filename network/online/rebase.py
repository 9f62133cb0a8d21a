"""Rebasing: an instance's taught drawings replayed onto a newly shipped model.

A deployment's versions descend from the model it was first seeded from.  When a better
model ships, the operator wants it *and* what people taught the old one.  ``replay``
teaches the new model each accepted drawing in the order it was taught, the way the
online learner taught the old one (one bounded step with replay of the drawings
replayed so far and of the anchors), and the guard (``network.online.guard``) checks
every step against the new model itself as the reference, so no drawing can cost the
new model more than a live teach could.  A drawing the guard refuses is left out of the
new model (the drawing itself stays in the store).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.model import Sequential
from .guard import Checks, Margins, verdict
from .learner import OnlineLearner


@dataclass(frozen=True)
class Rebased:
    """What replaying produced: the model, its figures, and which drawings it learned."""

    model: Sequential
    checks: Checks
    reference: Checks  # the new model's own figures before any drawing
    learned: int
    set_aside: int


def replay(model: Sequential, images: np.ndarray, labels: np.ndarray,
           learner: OnlineLearner, margins: Margins, rng: np.random.Generator) -> Rebased:
    """Teach ``model`` the drawings (uint8 (N, 28, 28), labels (N,)) one by one, in order,
    under the guard; the model passed in is not modified."""
    reference = learner.checks(model)
    checks, best = reference, reference.heldout
    learned_x, learned_y = [], []
    set_aside = 0
    for image, label in zip(images, np.asarray(labels, dtype=np.int64), strict=True):
        if learned_x:
            picks = rng.choice(len(learned_x), size=min(learner.taught, len(learned_x)),
                               replace=False)
            replay_x = np.stack([learned_x[i] for i in picks])
            replay_y = np.array([learned_y[i] for i in picks])
        else:
            replay_x = replay_y = None
        result = learner.teach(model, image, int(label), replay_x, replay_y)
        if verdict(int(label), result.checks, checks, best, reference, margins) is not None:
            set_aside += 1
            continue
        model, checks = result.model, result.checks
        best = max(best, checks.heldout)
        learned_x.append(image)
        learned_y.append(int(label))
    return Rebased(model, checks, reference, len(learned_x), set_aside)
