"""Drawn ink, measured: how well the model reads what people actually draw.

    python benchmarks/ink.py [--data DIR] [--model FILE] [--n N] [--seed S] [--out DIR]

Three measurements, all through exactly the app's path (``network.ink.render.render`` with its
defaults, then ``model.predict_proba``) unless a variation asks for another pen width:

a. MNIST test digits re-drawn as strokes (thinned to a skeleton, traced, rendered), next
   to the same model's accuracy on the original images;
b. the same stroke digits drawn the ways people draw (``network.hands.VARIATIONS``):
   accuracy per variation and the confusions that dominate the errors;
c. shapes that are not digits (``network.nondigits.HELDOUT``): the confidence the model
   gives them, the share the page's "not sure" threshold (``network.pretrained.NOT_SURE_BELOW``)
   catches, and the share of real re-drawn digits the same threshold wrongly hides.
   Shapes of the kinds the network is trained to be unsure of
   (``network.nondigits.LIKE_TRAINING``) are told apart from held-out ones.

It prints a table, and writes to --out a PNG grid of the worst mistakes, a grid of the
non-digits the model was surest about, and the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support import png  # noqa: E402
from support.mnist_files import MNIST_DIR  # noqa: E402

from network import pretrained  # noqa: E402
from network.ink import render as ink  # noqa: E402
from network.ink import skeleton  # noqa: E402
from network.nn.model import load_model  # noqa: E402
from network.training import hands, nondigits  # noqa: E402
from network.training.mnist import load_mnist  # noqa: E402

DEFAULT_DATA = MNIST_DIR
DEFAULT_OUT = common.ROOT / "benchmarks" / "out"
NON_DIGITS_PER_SHAPE = 60
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the pictures; returns the exit code."""
    args = _arguments(argv)
    started = time.perf_counter()
    model = load_model(args.model)
    images, labels = load_mnist(args.data, "test")
    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.permutation(len(images))[: args.n])
    images, labels = images[chosen], labels[chosen]

    strokes = skeleton.images_to_strokes(images)
    traced = time.perf_counter()

    rows = {}  # name -> (images, predicted probabilities)
    original = images.astype(np.float32) / 255.0
    rows["MNIST images"] = (original, model.predict_proba(original))
    redrawn = ink.render_many(strokes)
    rows["re-drawn strokes"] = (redrawn, model.predict_proba(redrawn))
    for index, (name, variation) in enumerate(hands.VARIATIONS.items()):
        variation_rng = np.random.default_rng([args.seed, index])
        drawings, widths = [], []
        for digit in strokes:
            drawn_strokes, kwargs = variation(digit, variation_rng)
            drawings.append(drawn_strokes)
            widths.append(kwargs.get("width", ink.DEFAULT_WIDTH))
        rendered = ink.render_many(drawings, width=widths)
        rows[name] = (rendered, model.predict_proba(rendered))

    shapes = {}
    shape_rng = np.random.default_rng([args.seed, 1000])
    for name, make in nondigits.HELDOUT.items():
        made = [make(shape_rng) for _ in range(NON_DIGITS_PER_SHAPE)]
        rendered = np.stack([ink.render(s, **kw) for s, kw in made])
        shapes[name] = (rendered, model.predict_proba(rendered))
    finished = time.perf_counter()

    report = _report(rows, shapes, labels, args)
    report["seconds"] = {"trace": traced - started, "total": finished - started}
    _print(report)
    _write_pictures(rows, shapes, labels, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ink.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\npictures and figures in {args.out}/: ink_mistakes.png (captions: read/true "
          "confidence%), ink_non_digits.png (read confidence%), ink.json")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = common.parser(__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST folder")
    parser.add_argument("--model", type=Path, default=pretrained.CNN, help="model .npz")
    parser.add_argument("--n", type=int, default=2000, help="MNIST test digits to use")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for pictures")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 10000:
        parser.error("--n must be between 1 and 10000")
    return args


def _report(rows: dict, shapes: dict, labels: np.ndarray, args) -> dict:
    """Return every figure of the benchmark as plain numbers."""
    threshold = pretrained.NOT_SURE_BELOW
    baseline = _accuracy(rows["re-drawn strokes"][1], labels)
    table = []
    confusions: Counter = Counter()
    for name, (_, p) in rows.items():
        predicted = p.argmax(axis=1)
        wrong = predicted != labels
        pairs = Counter(zip(labels[wrong].tolist(), predicted[wrong].tolist(), strict=True))
        if name != "MNIST images":
            confusions.update(pairs)
        top = ", ".join(f"{t}->{q} x{c}" for (t, q), c in pairs.most_common(3))
        table.append(
            {
                "name": name,
                "accuracy": _accuracy(p, labels),
                "delta": _accuracy(p, labels) - baseline,
                "hidden": float((p.max(axis=1) < threshold).mean()),
                "top_confusions": top,
            }
        )
    real = np.concatenate([rows["re-drawn strokes"][1], rows["natural"][1]])
    real_labels = np.concatenate([labels, labels])
    real_confidence = real.max(axis=1)
    real_correct = real.argmax(axis=1) == real_labels
    every_shape = np.concatenate([p for _, p in shapes.values()]).max(axis=1)
    held_out = np.concatenate(
        [p for name, (_, p) in shapes.items() if name not in nondigits.LIKE_TRAINING]
    ).max(axis=1)
    sweep = [
        {
            "threshold": t,
            "non_digits_caught": float((every_shape < t).mean()),
            "held_out_caught": float((held_out < t).mean()),
            "digits_hidden": float((real_confidence < t).mean()),
            "correct_digits_hidden": float((real_confidence[real_correct] < t).mean()),
            "wrong_digits_caught": float((real_confidence[~real_correct] < t).mean())
            if (~real_correct).any()
            else None,
        }
        for t in sorted({*THRESHOLDS, threshold})
    ]
    non_digits = []
    for name, (_, p) in shapes.items():
        confidence = p.max(axis=1)
        guesses = Counter(p.argmax(axis=1).tolist()).most_common(2)
        non_digits.append(
            {
                "name": name,
                "held_out": name not in nondigits.LIKE_TRAINING,
                "median_confidence": float(np.median(confidence)),
                "p90_confidence": float(np.percentile(confidence, 90)),
                "caught": float((confidence < threshold).mean()),
                "read_as": ", ".join(f"{d} x{c}" for d, c in guesses),
            }
        )
    return {
        "model": str(args.model),
        "digits": int(len(labels)),
        "seed": args.seed,
        "not_sure_below": threshold,
        "rows": table,
        "confusions": [[t, q, c] for (t, q), c in confusions.most_common(10)],
        "non_digits": non_digits,
        "threshold_sweep": sweep,
    }


def _accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose most probable class is the label."""
    return float((p.argmax(axis=1) == labels).mean())


def _print(report: dict) -> None:
    """Print the report as tables a person can read."""
    threshold = report["not_sure_below"]
    print(
        f"Inkling ink benchmark: {report['digits']} MNIST test digits, seed {report['seed']}, "
        f"model {report['model']}"
    )
    print(f"\n{'drawn as':22s} {'accuracy':>8s} {'vs re-drawn':>11s} "
          f"{'not sure':>8s}  top confusions (true->read)")
    for row in report["rows"]:
        delta = "" if row["name"] == "re-drawn strokes" else f"{100 * row['delta']:+.2f}"
        print(
            f"{row['name']:22s} {100 * row['accuracy']:7.2f}% {delta:>11s} "
            f"{100 * row['hidden']:7.1f}%  {row['top_confusions']}"
        )
    pairs = ", ".join(f"{t}->{q} x{c}" for t, q, c in report["confusions"])
    print(f"\ndominant confusions over all drawn rows: {pairs}")
    print(f"\n{'non-digit':14s} {'held out':>8s} {'median conf':>11s} {'p90 conf':>8s} "
          f"{'caught <' + format(threshold, '.2f'):>12s}  read as")
    for row in report["non_digits"]:
        print(
            f"{row['name']:14s} {'yes' if row['held_out'] else 'no':>8s} "
            f"{row['median_confidence']:11.2f} {row['p90_confidence']:8.2f} "
            f"{100 * row['caught']:11.0f}%  {row['read_as']}"
        )
    print(f"\n{'threshold':>9s} {'non-digits caught':>17s} {'held out caught':>15s} "
          f"{'real digits hidden':>18s} {'correct hidden':>14s} {'wrong caught':>12s}")
    for row in report["threshold_sweep"]:
        mark = "  <- NOT_SURE_BELOW" if row["threshold"] == threshold else ""
        caught = row["wrong_digits_caught"]
        wrong = "-" if caught is None else f"{100 * caught:.0f}%"
        print(
            f"{row['threshold']:9.2f} {100 * row['non_digits_caught']:16.0f}% "
            f"{100 * row['held_out_caught']:14.0f}% "
            f"{100 * row['digits_hidden']:17.1f}% {100 * row['correct_digits_hidden']:13.1f}% "
            f"{wrong:>12s}{mark}"
        )
    print("\nreal digits = the re-drawn and natural rows; held out = non-digits unlike the "
          "shapes network.training.nondigits trains the network to be unsure of (a fair test of "
          f"generalisation); {report['seconds']['total']:.0f} s in all")


def _write_pictures(rows: dict, shapes: dict, labels: np.ndarray, out: Path) -> None:
    """Write the worst mistakes and the most confident non-digits as PNG grids."""
    worst_of_digit = {}  # digit index -> (confidence in the wrong digit, image, read, true)
    for name, (images, p) in rows.items():
        if name == "MNIST images":
            continue
        predicted = p.argmax(axis=1)
        for i in np.nonzero(predicted != labels)[0]:
            confidence = float(p[i, predicted[i]])
            if confidence > worst_of_digit.get(i, (0.0,))[0]:
                worst_of_digit[i] = (confidence, images[i], int(predicted[i]), int(labels[i]))
    # One picture per digit (its most confident mistake), the most confident first.
    mistakes = sorted(worst_of_digit.values(), key=lambda m: -m[0])
    if mistakes:
        worst = mistakes[:60]
        picture = png.grid(
            np.stack([m[1] for m in worst]),
            [f"{m[2]}/{m[3]} {round(100 * m[0])}" for m in worst],
            columns=10,
            scale=4,
        )
        png.write(out / "ink_mistakes.png", picture)
    confident = []
    for images, p in shapes.values():
        order = np.argsort(-p.max(axis=1))[:6]
        confident += [(images[i], int(p[i].argmax()), float(p[i].max())) for i in order]
    picture = png.grid(
        np.stack([c[0] for c in confident]),
        [f"{c[1]} {round(100 * c[2])}" for c in confident],
        columns=6,
        scale=4,
    )
    png.write(out / "ink_non_digits.png", picture)


if __name__ == "__main__":
    raise SystemExit(main())
