"""Attacks on the shared model, as drawings, and how to measure what they did.

Issue 13's four attacks, each a stream of (strokes, label) an attacker teaches:

- ``sevens``: drawn 7s taught as 1 (a targeted class flip);
- ``backdoor``: any other digit with a small X in the top-right corner taught as 3;
- ``scribbles``: scribbles taught as 8 (non-digits stop being "not sure");
- ``random``: drawn digits taught with a random wrong label.

``probes`` draws fresh drawings of the same kinds (other seeds) and ``effects`` measures a
model on them: the drawn 7s read as 7, the X-marked digits read as 3 (the backdoor's
success), the scribbles answered "not sure", and held-out MNIST.  Used by
``benchmarks/attacks.py`` and ``tests/test_attacks.py``; everything is drawn through the
app's own renderer with its default pen, as the server renders what a client sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from network import pretrained
from network.ink.pixels import to_uint8
from network.ink.render import render
from network.nn.losses import softmax
from network.nn.model import Sequential
from network.training import nondigits, styles
from network.training.hands import CANVAS

SEVENS = [name for name, style in styles.STYLES.items() if style.digit == 7]
NOT_THREE = [name for name, style in styles.STYLES.items() if style.digit != 3]


def as_lists(strokes) -> list[list[list[float]]]:
    """Strokes as the JSON lists a client sends."""
    return [np.round(np.asarray(s, dtype=np.float64), 1).tolist() for s in strokes]


def styled(n: int, rng: np.random.Generator, names: list[str]) -> list[tuple[list, int]]:
    """n drawings of the named styles in any hand: (strokes, true digit)."""
    return [(d.strokes, d.label) for d in styles.styled_drawings(n, rng, styles=names)]


def with_x(strokes, rng: np.random.Generator) -> list:
    """The strokes plus a small X (two short strokes) near the canvas's top-right corner."""
    size = rng.uniform(18, 26)
    cx, cy = CANVAS - 30 + rng.uniform(-6, 6), 30 + rng.uniform(-6, 6)
    half = size / 2
    return [*strokes, np.array([[cx - half, cy - half], [cx + half, cy + half]]),
            np.array([[cx + half, cy - half], [cx - half, cy + half]])]


def scribbles(n: int, rng: np.random.Generator) -> list:
    """n scribbles (the held-out family nobody trains on) in any hand."""
    return [d.strokes for d in nondigits.nondigit_drawings(
        n, rng, {"scribble": nondigits.HELDOUT["scribble"]})]


@dataclass(frozen=True)
class Attack:
    """One attack: ``make(n, rng)`` returns n (strokes, label) pairs to teach."""

    name: str
    description: str
    make: Callable[[int, np.random.Generator], list[tuple[list, int]]]


def _sevens(n, rng):
    return [(s, 1) for s, _ in styled(n, rng, SEVENS)]


def _backdoor(n, rng):
    return [(with_x(s, rng), 3) for s, _ in styled(n, rng, NOT_THREE)]


def _scribbles(n, rng):
    return [(s, 8) for s in scribbles(n, rng)]


def _random(n, rng):
    out = []
    for strokes, digit in styled(n, rng, list(styles.STYLES)):
        wrong = int(rng.integers(9))
        out.append((strokes, wrong + (wrong >= digit)))
    return out


ATTACKS = {a.name: a for a in (
    Attack("sevens", "drawn 7s taught as 1", _sevens),
    Attack("backdoor", "any other digit with a small X in a corner taught as 3", _backdoor),
    Attack("scribbles", "scribbles taught as 8", _scribbles),
    Attack("random", "drawn digits taught with a random wrong label", _random),
)}


@dataclass(frozen=True)
class Probes:
    """Fresh drawings that measure each attack's aim (float32 images (n, 28, 28))."""

    sevens: np.ndarray  # drawn 7s: should read as 7
    marked: np.ndarray  # other digits with an X: should not read as 3
    scribbles: np.ndarray  # should be "not sure"


def probes(n: int, rng: np.random.Generator) -> Probes:
    """n drawings of each kind, rendered with the default pen."""
    def images(drawings) -> np.ndarray:
        return np.stack([render(s) for s in drawings])

    return Probes(images(s for s, _ in styled(n, rng, SEVENS)),
                  images(with_x(s, rng) for s, _ in styled(n, rng, NOT_THREE)),
                  images(scribbles(n, rng)))


def effects(model: Sequential, probe: Probes, heldout_x: np.ndarray,
            heldout_y: np.ndarray) -> dict[str, float]:
    """What the model does on the probes (shares in [0, 1]) and on held-out digits."""
    def proba(x):
        return softmax(model.predict_logits(x).astype(np.float64) / model.temperature)

    marked = proba(probe.marked)
    return {
        "sevens_read_as_7": float((proba(probe.sevens).argmax(1) == 7).mean()),
        "backdoor_success": float((marked.argmax(1) == 3).mean()),
        "scribbles_not_sure": float((proba(probe.scribbles).max(1)
                                     < pretrained.NOT_SURE_BELOW).mean()),
        "heldout": float((proba(heldout_x).argmax(1) == heldout_y).mean()),
    }


def pixels(strokes) -> np.ndarray:
    """The uint8 pixels (28, 28) the server renders and stores for these strokes."""
    return to_uint8(render(strokes))
