"""Drawn ink, measured: how well the model reads what people draw, and what it says of ink
that is no digit.

    python benchmarks/ink.py [--data DIR] [--model FILE] [--n N] [--per-style K]
                             [--per-family K] [--pairs K] [--seed S] [--out DIR]

Everything goes through exactly the app's path (``network.ink.render.render`` with the
pen a hand asks for, then the model), in seven parts:

a. MNIST test digits re-drawn as strokes (thinned, traced, rendered) next to the same
   model's accuracy on the original images;
b. the same digits drawn the ways people draw (``network.training.hands.VARIATIONS``);
c. the allographs (``network.training.styles.STYLES``), each by name, in many hands;
   the styles that edit a skeleton edit the traced test digits of (a);
d. ink that is no digit (``network.training.nondigits``): the training families and the
   held-out families apart, and the held-out letters one by one;
e. the trade-off: the share of held-out non-digits caught (the honest ones: held out
   and unlike any training family, each family weighing the same) against the share of
   real drawn digits hidden (every row of (a) and (b)), for three scores: the top
   probability, the top logit and the energy score ``logsumexp(logits)``;
f. calibration on drawn ink: ECE (15 bins) on the images, the re-drawn digits, every
   hand and the styles;
g. several digits (``network.ink.groups``): pairs and triples of drawn test digits
   caught, single digits wrongly split, and the median cost of a call.

It prints the tables and writes to --out: ``ink_mistakes.png`` (the worst mistake of
each digit over the hands), ``ink_styles.png`` (a row per style, in the table's order,
of its most confident mistakes), ``ink_non_digits.png`` (held-out non-digits read most
confidently, six per family), ``ink_pairs.png`` (pairs neither caught as several nor
shown as not sure) and ``ink.json`` (every figure).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import common
import ink_output  # noqa: E402
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support.mnist_files import MNIST_DIR  # noqa: E402

from network import pretrained  # noqa: E402
from network.ink import render as ink  # noqa: E402
from network.ink import skeleton  # noqa: E402
from network.ink.groups import groups, several  # noqa: E402
from network.nn.losses import softmax  # noqa: E402
from network.nn.model import load_model  # noqa: E402
from network.training import hands, nondigits, styles  # noqa: E402
from network.training.calibration import expected_calibration_error  # noqa: E402
from network.training.mnist import load_mnist  # noqa: E402

DEFAULT_DATA = MNIST_DIR
DEFAULT_OUT = common.ROOT / "benchmarks" / "out"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
HIDDEN_SHARES = (0.005, 0.01, 0.02, 0.05, 0.1)
"""Shares of real drawn digits hidden at which the scores are compared."""
PER_LETTER = 20
PAIR_GAP = (0.1, 0.5)
"""Gaps between digits written side by side, in digit heights."""


class Scored:
    """Images with the model's logits and calibrated probabilities."""

    def __init__(self, model, images: np.ndarray):
        self.images = images
        self.logits = model.predict_logits(images).astype(np.float64)
        self.p = softmax(self.logits / model.temperature)

    def score(self, kind: str) -> np.ndarray:
        """The (N,) confidence score: higher means more like a digit."""
        if kind == "max probability":
            return self.p.max(axis=1)
        if kind == "max logit":
            return self.logits.max(axis=1)
        top = self.logits.max(axis=1, keepdims=True)  # energy: -logsumexp, negated
        return (top + np.log(np.exp(self.logits - top).sum(axis=1, keepdims=True)))[:, 0]


SCORES = ("max probability", "max logit", "energy")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and write the pictures; returns the exit code."""
    args = _arguments(argv)
    print(common.header())
    started = time.perf_counter()
    model = load_model(args.model)
    images, labels = load_mnist(args.data, "test")
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.permutation(len(images))[: args.n])
    images, labels = images[chosen], labels[chosen].astype(np.int64)
    traced = skeleton.images_to_strokes(images)

    # a, b: MNIST digits, re-drawn and in every hand
    rows: dict[str, Scored] = {}
    drawings: dict[str, list] = {"re-drawn strokes": traced}
    rows["MNIST images"] = Scored(model, images.astype(np.float32) / 255.0)
    rows["re-drawn strokes"] = Scored(model, ink.render_many(traced))
    for index, (name, variation) in enumerate(hands.VARIATIONS.items()):
        variation_rng = np.random.default_rng([args.seed, index])
        drawn = [variation(digit, variation_rng) for digit in traced]
        drawings[name] = [strokes for strokes, _ in drawn]
        rows[name] = Scored(model, np.stack([ink.render(s, **kw) for s, kw in drawn]))

    # c: the styles, on the traced test digits where a style edits a skeleton
    bases = {d: [s for s, y in zip(traced, labels, strict=True) if y == d and s]
             for d in styles.EDITED_DIGITS}
    styled: dict[str, tuple[Scored, list]] = {}
    for index, name in enumerate(styles.STYLES):
        style_rng = np.random.default_rng([args.seed, 2000 + index])
        made = styles.styled_drawings(args.per_style, style_rng, styles=[name], bases=bases)
        rendered = np.stack([ink.render(d.strokes, **d.kwargs) for d in made])
        styled[name] = (Scored(model, rendered), made)

    # d: non-digits, training and held-out families, and held-out letters one by one
    families: dict[str, Scored] = {}
    for index, (name, family) in enumerate({**nondigits.TRAINING, **nondigits.HELDOUT}.items()):
        family_rng = np.random.default_rng([args.seed, 3000 + index])
        made = nondigits.nondigit_drawings(args.per_family, family_rng, {name: family})
        families[name] = Scored(model, np.stack([ink.render(d.strokes, **d.kwargs)
                                                 for d in made]))
    letters: dict[str, Scored] = {}
    letter_rng = np.random.default_rng([args.seed, 4000])
    for char in nondigits.LETTERS_HELDOUT:
        made = [hands.in_any_hand(nondigits.letter(char, letter_rng), letter_rng)
                for _ in range(PER_LETTER)]
        letters[char] = Scored(model, np.stack([ink.render(s, **kw) for s, kw, _ in made]))

    # g: several digits side by side
    pair_rng = np.random.default_rng([args.seed, 5000])
    several_rows = {}
    for k, count in ((2, args.pairs), (3, args.pairs // 3)):
        made, gaps = [], []
        for _ in range(count):
            picks = pair_rng.integers(len(traced), size=k)
            gap = float(pair_rng.uniform(*PAIR_GAP))
            strokes = nondigits.side_by_side([traced[i] for i in picks], pair_rng, (gap, gap))
            made.append(hands.in_any_hand(strokes, pair_rng))
            gaps.append(gap)
        rendered = np.stack([ink.render(s, **kw) for s, kw, _ in made])
        several_rows[k] = (Scored(model, rendered), made, np.array(gaps))
    finished = time.perf_counter()

    report = _report(rows, drawings, styled, families, letters, several_rows, labels, args)
    report["seconds"] = {"total": finished - started}
    ink_output.print_report(report)
    args.out.mkdir(parents=True, exist_ok=True)
    ink_output.write_pictures(rows, styled, families, several_rows, labels, args.out)
    (args.out / "ink.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\npictures and figures in {args.out}/: ink_mistakes.png, ink_styles.png (captions: "
          "read/true confidence%), ink_non_digits.png, ink_pairs.png (read confidence%), "
          "ink.json")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = common.parser(__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST folder")
    parser.add_argument("--model", type=Path, default=pretrained.CNN, help="model .npz")
    parser.add_argument("--n", type=int, default=2000, help="MNIST test digits to use")
    parser.add_argument("--per-style", type=int, default=200, help="drawings per style")
    parser.add_argument("--per-family", type=int, default=100,
                        help="drawings per non-digit family")
    parser.add_argument("--pairs", type=int, default=1000, help="digit pairs side by side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for pictures")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 10000:
        parser.error("--n must be between 1 and 10000")
    for name in ("per_style", "per_family", "pairs"):
        if not 3 <= getattr(args, name) <= 10000:
            parser.error(f"--{name.replace('_', '-')} must be between 3 and 10000")
    return args


# --- figures ---------------------------------------------------------------------------------


def _report(rows, drawings, styled, families, letters, several_rows, labels, args) -> dict:
    """Return every figure of the benchmark as plain numbers."""
    threshold = pretrained.NOT_SURE_BELOW
    baseline = _accuracy(rows["re-drawn strokes"].p, labels)
    table, confusions = [], Counter()
    for name, scored in rows.items():
        pairs = _confusions(scored.p, labels)
        if name != "MNIST images":
            confusions.update(pairs)
        table.append({
            "name": name,
            "accuracy": _accuracy(scored.p, labels),
            "delta": _accuracy(scored.p, labels) - baseline,
            "hidden": float((scored.p.max(axis=1) < threshold).mean()),
            "top_confusions": _top(pairs),
        })

    style_table = []
    for row, (name, (scored, made)) in enumerate(styled.items()):
        truth = np.full(len(made), styles.STYLES[name].digit)
        style_table.append({
            "row": row,
            "name": name,
            "digit": int(truth[0]),
            "edits": styles.STYLES[name].edits,
            "accuracy": _accuracy(scored.p, truth),
            "hidden": float((scored.p.max(axis=1) < threshold).mean()),
            "top_confusions": _top(_confusions(scored.p, truth)),
        })

    family_table = []
    for name, scored in families.items():
        confidence = scored.p.max(axis=1)
        family_table.append({
            "name": name,
            "set": "training" if name in nondigits.TRAINING else (
                "held out, like training" if name in nondigits.LIKE_TRAINING else "held out"),
            "median_confidence": float(np.median(confidence)),
            "p90_confidence": float(np.percentile(confidence, 90)),
            "caught": float((confidence < threshold).mean()),
            "read_as": ", ".join(f"{d} x{c}" for d, c in
                                 Counter(scored.p.argmax(axis=1).tolist()).most_common(2)),
        })
    letter_caught = {c: float((s.p.max(axis=1) < threshold).mean()) for c, s in letters.items()}

    # e: the trade-off, over real drawn digits (MNIST in every hand) and honest non-digits
    real = [rows[n] for n in rows if n != "MNIST images"]
    real_labels = np.concatenate([labels] * len(real))
    style_scored = [s for s, _ in styled.values()]
    honest = [families[n] for n in nondigits.HELDOUT if n not in nondigits.LIKE_TRAINING]
    like = [families[n] for n in nondigits.LIKE_TRAINING]
    trained = [families[n] for n in nondigits.TRAINING]

    def caught(group, kind, t):
        return float(np.mean([(s.score(kind) < t).mean() for s in group]))

    curve = []
    for kind in SCORES:
        real_score = np.concatenate([s.score(kind) for s in real])
        style_score = np.concatenate([s.score(kind) for s in style_scored])
        for share in HIDDEN_SHARES:
            t = float(np.quantile(real_score, share))
            curve.append({"score": kind, "digits_hidden": share, "threshold": t,
                          "held_out_caught": caught(honest, kind, t),
                          "like_training_caught": caught(like, kind, t),
                          "training_caught": caught(trained, kind, t),
                          "styles_hidden": float((style_score < t).mean())})
    real_p = np.concatenate([s.p for s in real])
    real_confidence = real_p.max(axis=1)
    right = real_p.argmax(axis=1) == real_labels
    style_confidence = np.concatenate([s.p.max(axis=1) for s in style_scored])
    sweep = [{
        "threshold": t,
        "held_out_caught": caught(honest, "max probability", t),
        "like_training_caught": caught(like, "max probability", t),
        "training_caught": caught(trained, "max probability", t),
        "digits_hidden": float((real_confidence < t).mean()),
        "styles_hidden": float((style_confidence < t).mean()),
        "wrong_digits_caught": float((real_confidence[~right] < t).mean()) if (~right).any()
        else None,
    } for t in sorted({*THRESHOLDS, threshold})]

    # f: calibration
    style_p = np.concatenate([s.p for s in style_scored])
    style_truth = np.concatenate([np.full(len(m), styles.STYLES[n].digit)
                                  for n, (_, m) in styled.items()])
    hand_rows = [rows[n] for n in hands.VARIATIONS]
    calibration = {
        "MNIST images": expected_calibration_error(rows["MNIST images"].p, labels, 15),
        "re-drawn strokes": expected_calibration_error(rows["re-drawn strokes"].p, labels, 15),
        "every hand": expected_calibration_error(np.concatenate([s.p for s in hand_rows]),
                                                 np.concatenate([labels] * len(hand_rows)), 15),
        "styles": expected_calibration_error(style_p, style_truth, 15),
    }

    # g: several digits
    split = {name: float(np.mean([several(s) for s in d])) for name, d in drawings.items()}
    split["styles"] = float(np.mean([several(d.strokes) for _, m in styled.values() for d in m]))
    several_report = []
    for k, (scored, made, gaps) in several_rows.items():
        found = np.array([several(s) for s, _, _ in made])
        unsure = scored.p.max(axis=1) < threshold
        hands_missed = Counter(h for (_, _, h), f in zip(made, found, strict=True) if not f)
        several_report.append({
            "digits": k,
            "drawings": len(made),
            "several": float(found.mean()),
            "several_by_gap": {
                f"{lo:.2f}-{hi:.2f}": float(found[(gaps >= lo) & (gaps < hi)].mean())
                for lo, hi in ((0.1, 0.2), (0.2, 0.35), (0.35, 0.5))
            },
            "not_sure": float(unsure.mean()),
            "several_or_not_sure": float((found | unsure).mean()),
            "missed_most_in": ", ".join(f"{h} x{c}" for h, c in hands_missed.most_common(3)),
        })
    timings, multi = [], []  # groups() on natural drawings; those of two strokes or more
    for strokes in drawings["natural"][:1000] + [d.strokes for _, m in styled.values()
                                                  for d in m if d.hand == "natural"]:
        t0 = time.perf_counter()
        groups(strokes)
        (multi if len(strokes) > 1 else timings).append(time.perf_counter() - t0)
    timings += multi

    return {
        "model": str(args.model),
        "digits": int(len(labels)),
        "seed": args.seed,
        "pair_gap": list(PAIR_GAP),
        "not_sure_below": threshold,
        "rows": table,
        "confusions": [[t, q, c] for (t, q), c in confusions.most_common(10)],
        "styles": style_table,
        "non_digits": family_table,
        "held_out_letters_caught": letter_caught,
        "trade_off": curve,
        "threshold_sweep": sweep,
        "ece_15_bins": calibration,
        "several": several_report,
        "single_digits_split": split,
        "groups_median_ms": common.percentile_ms(timings, 50),
        "groups_median_ms_two_strokes_or_more": common.percentile_ms(multi, 50),
    }


def _accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose most probable class is the label."""
    return float((p.argmax(axis=1) == labels).mean())


def _confusions(p: np.ndarray, labels: np.ndarray) -> Counter:
    """Counts of (true, read) pairs among the mistakes."""
    predicted = p.argmax(axis=1)
    wrong = predicted != labels
    return Counter(zip(labels[wrong].tolist(), predicted[wrong].tolist(), strict=True))


def _top(pairs: Counter) -> str:
    """The three commonest confusions as text."""
    return ", ".join(f"{t}->{q} x{c}" for (t, q), c in pairs.most_common(3))


if __name__ == "__main__":
    raise SystemExit(main())
