"""The guard: what every new version of the shared model is checked on, and when it must
not be kept.

One number is easy to go around: an attacker who teaches drawn 7s as 1s leaves held-out
MNIST untouched while everyone's 7s turn into 1s.  So a version is measured on what
attackers aim at, on fixed sets that never change (``network.training.guardsets``):

- ``heldout``: accuracy on held-out MNIST test digits;
- ``drawn``: accuracy on digits drawn through the app's ink path (re-drawn MNIST and the
  world's styles), per class, so a targeted class shows;
- ``unsure``: the share of non-digits the page answers "not sure", so teaching
  scribbles as digits shows;
- ``ece``: calibration error on the drawn digits, so "94% sure" stays honest.

``verdict`` compares a candidate with the version it was learned from, the best recent
version and a *reference* (the version the deployment started from), and returns why
it must be set aside, or None.  Each limit bounds the cumulative drift below the
reference, not only one step, so many small poisoned steps cannot add up; a teach that
does not make a figure worse than its base is never refused for that figure.  A class
may always lose one drawing of the drawn set: a finer limit is below the set's resolution.  Pure
functions: the caller (``webapp.hub``) decides what to do with the answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..nn.losses import softmax


@dataclass(frozen=True)
class Checks:
    """One version's figures on the guard's sets (accuracies and shares in 0..1)."""

    heldout: float
    drawn: tuple[float, ...]  # per class 0..9 (empty when there is no drawn set)
    unsure: float | None  # None when there is no non-digit set
    ece: float | None
    drawn_size: int | None = None  # drawings of the smallest class in the drawn set

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Checks | None:
        if not data:
            return None
        return cls(float(data["heldout"]), tuple(float(v) for v in data["drawn"]),
                   None if data["unsure"] is None else float(data["unsure"]),
                   None if data["ece"] is None else float(data["ece"]),
                   data.get("drawn_size"))


@dataclass(frozen=True)
class Margins:
    """How far a version may fall, in points (hundredths)."""

    step: float = 0.5  # held-out accuracy lost by one teach
    drop: float = 2.0  # held-out accuracy below the best recent version
    drawn: float = 1.0  # any class's drawn accuracy below the reference (at least 1 drawing)
    unsure: float = 2.0  # the non-digit "not sure" share below the reference
    ece: float = 1.0  # calibration error above the reference


def measure(logits: np.ndarray, labels: np.ndarray, temperature: float,
            not_sure_below: float, segments: dict[str, slice]) -> Checks:
    """The checks of a version from its logits (N, 10) on the concatenated guard sets.

    ``segments`` names the slices of the rows: "heldout" and "drawn" (labels 0..9),
    "nondigits" (labels -1).
    """
    p = softmax(logits.astype(np.float64) / temperature)
    predicted, confidence = p.argmax(axis=1), p.max(axis=1)
    held = segments["heldout"]
    heldout = float((predicted[held] == labels[held]).mean())
    drawn_slice = segments.get("drawn", slice(0, 0))
    drawn, ece, size = (), None, None
    if drawn_slice.stop > drawn_slice.start:
        truth, guess = labels[drawn_slice], predicted[drawn_slice]
        drawn = tuple(float((guess[truth == c] == c).mean()) if (truth == c).any() else 1.0
                      for c in range(10))
        ece = expected_calibration_error(confidence[drawn_slice], guess == truth)
        counts = np.bincount(truth, minlength=10)
        size = int(counts[counts > 0].min())
    nondigits = segments.get("nondigits", slice(0, 0))
    unsure = None
    if nondigits.stop > nondigits.start:
        unsure = float((confidence[nondigits] < not_sure_below).mean())
    return Checks(heldout, drawn, unsure, ece, size)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = 15) -> float:
    """ECE over equal-width confidence bins: sum_b (n_b / N) |accuracy_b - confidence_b|."""
    which = np.clip((confidence * bins).astype(int), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    right = np.bincount(which, weights=correct.astype(float), minlength=bins)
    sure = np.bincount(which, weights=confidence, minlength=bins)
    used = counts > 0
    return float(np.abs(right[used] - sure[used]).sum() / len(confidence))


def verdict(label: int, new: Checks, base: Checks, best_heldout: float | None,
            reference: Checks | None, margins: Margins) -> str | None:
    """Why the new version must be set aside (a sentence a person understands), or None."""
    points = 100.0
    eps = 1e-9  # figures are multiples of 1/N: exactly at a limit is allowed
    a = "an" if label == 8 else "a"  # "as an 8"
    if new.heldout < base.heldout - margins.step / points - eps:
        return (f"learning it as {a} {label} would lower accuracy on held-out digits from "
                f"{points * base.heldout:.1f}% to {points * new.heldout:.1f}% in one step, "
                f"more than {margins.step:g} points. If it really is {a} {label}, try drawing "
                "it more clearly.")
    if best_heldout is not None and new.heldout < best_heldout - margins.drop / points - eps:
        return (f"learning it as {a} {label} would lower accuracy on held-out digits to "
                f"{points * new.heldout:.1f}%, more than {margins.drop:g} points below the best "
                f"recent version ({points * best_heldout:.1f}%).")
    if reference is None:
        return None
    # A class's figure moves in steps of one drawing: a limit finer than that would refuse
    # every teach that tips a single borderline drawing, honest or not.
    allowed = max(margins.drawn / points, 1.0 / new.drawn_size if new.drawn_size else 0.0)
    for digit, (now, before, ref) in enumerate(zip(new.drawn, base.drawn, reference.drawn,
                                                   strict=False)):
        floor = min(before, ref - allowed)
        if now < floor - eps:
            return (f"learning it as {a} {label} would make everyone's drawn {digit}s read "
                    f"right {points * now:.1f}% of the time, more than {margins.drawn:g} "
                    f"point below where they were ({points * ref:.1f}%).")
    if new.unsure is not None and base.unsure is not None and reference.unsure is not None:
        if new.unsure < min(base.unsure, reference.unsure - margins.unsure / points) - eps:
            return (f"learning it as {a} {label} would make the network sure of shapes that "
                    "are no digit: its \"not sure\" answers to them would fall to "
                    f"{points * new.unsure:.1f}% (from {points * reference.unsure:.1f}%).")
    if new.ece is not None and base.ece is not None and reference.ece is not None:
        if new.ece > max(base.ece, reference.ece + margins.ece / points) + eps:
            return (f"learning it as {a} {label} would make the network's confidence less "
                    f"honest (calibration error {points * new.ece:.1f}%, from "
                    f"{points * reference.ece:.1f}%).")
    return None
