"""What ``benchmarks/ink.py`` shows: its tables, and its pictures (the worst mistakes,
per digit and per style, the held-out non-digits read most confidently and the pairs
nothing caught, as PNG grids in its --out folder)."""

from __future__ import annotations

from pathlib import Path

import common  # noqa: F401  (first: BLAS threads are pinned before numpy loads)
import numpy as np  # noqa: E402
from support import png  # noqa: E402

from network import pretrained  # noqa: E402
from network.ink.groups import several  # noqa: E402
from network.training import nondigits, styles  # noqa: E402


def print_report(report: dict) -> None:
    """Print the report as tables a person can read."""
    scores = list(dict.fromkeys(r["score"] for r in report["trade_off"]))
    gap = report["pair_gap"]
    threshold = report["not_sure_below"]
    print(f"Inkling ink benchmark: {report['digits']} MNIST test digits, seed {report['seed']}, "
          f"model {report['model']}; not sure below {threshold}")

    print(f"\na, b. {'drawn as':22s} {'accuracy':>8s} {'vs re-drawn':>11s} "
          f"{'not sure':>8s}  top confusions (true->read)")
    for row in report["rows"]:
        delta = "" if row["name"] == "re-drawn strokes" else f"{100 * row['delta']:+.2f}"
        print(f"      {row['name']:22s} {100 * row['accuracy']:7.2f}% {delta:>11s} "
              f"{100 * row['hidden']:7.1f}%  {row['top_confusions']}")
    pairs = ", ".join(f"{t}->{q} x{c}" for t, q, c in report["confusions"])
    print(f"      dominant confusions over all drawn rows: {pairs}")

    accuracies = [s["accuracy"] for s in report["styles"]]
    print(f"\nc. {'row':>3s} {'style':18s} {'made by':8s} {'accuracy':>8s} {'not sure':>8s}  "
          f"top confusions (true->read); median {100 * np.median(accuracies):.1f}%, "
          f"worst {100 * min(accuracies):.1f}%")
    for row in report["styles"]:
        made = "edit" if row["edits"] else "template"
        print(f"   {row['row']:3d} {row['name']:18s} {made:8s} {100 * row['accuracy']:7.1f}% "
              f"{100 * row['hidden']:7.1f}%  {row['top_confusions']}")

    print(f"\nd. {'non-digit':16s} {'set':24s} {'median conf':>11s} {'p90 conf':>8s} "
          f"{'caught':>7s}  read as")
    for row in sorted(report["non_digits"], key=lambda r: (r["set"] != "training", r["set"])):
        print(f"   {row['name']:16s} {row['set']:24s} {row['median_confidence']:11.2f} "
              f"{row['p90_confidence']:8.2f} {100 * row['caught']:6.0f}%  {row['read_as']}")
    letters = " ".join(f"{c} {100 * v:.0f}%" for c, v in report["held_out_letters_caught"].items())
    print(f"   held-out letters caught one by one: {letters}")

    print("\ne. trade-off (held out = held-out families unlike any training family, each weighing "
          "the same; digits = MNIST re-drawn and in every hand)")
    print(f"   {'digits hidden':>13s} " + " ".join(f"{k + ' caught':>24s}" for k in scores)
          + f" {'styles hidden (max p)':>22s}")
    by = {(r["score"], r["digits_hidden"]): r for r in report["trade_off"]}
    for share in dict.fromkeys(r["digits_hidden"] for r in report["trade_off"]):
        cells = " ".join(f"{100 * by[k, share]['held_out_caught']:12.0f}% "
                         f"(t {by[k, share]['threshold']:6.2f})" for k in scores)
        print(f"   {100 * share:12.1f}% {cells} "
              f"{100 * by['max probability', share]['styles_hidden']:21.1f}%")
    print(f"   {'max prob <':>10s} {'held out':>9s} {'like training':>13s} {'training':>9s} "
          f"{'digits hidden':>13s} {'styles hidden':>13s} {'wrong caught':>12s}")
    for row in report["threshold_sweep"]:
        mark = "  <- NOT_SURE_BELOW" if row["threshold"] == threshold else ""
        wrong = "-" if row["wrong_digits_caught"] is None else \
            f"{100 * row['wrong_digits_caught']:.0f}%"
        print(f"   {row['threshold']:10.2f} {100 * row['held_out_caught']:8.0f}% "
              f"{100 * row['like_training_caught']:12.0f}% {100 * row['training_caught']:8.0f}% "
              f"{100 * row['digits_hidden']:12.1f}% {100 * row['styles_hidden']:12.1f}% "
              f"{wrong:>12s}{mark}")

    ece = ", ".join(f"{k} {100 * v:.2f}%" for k, v in report["ece_15_bins"].items())
    print(f"\nf. ECE (15 bins): {ece}")

    print("\ng. several digits side by side (network.ink.groups), gaps "
          f"{gap[0]}-{gap[1]} digit heights, in every hand:")
    for row in report["several"]:
        gaps = ", ".join(f"gap {k}: {100 * v:.0f}%" for k, v in row["several_by_gap"].items())
        print(f"   {row['digits']} digits: several {100 * row['several']:.1f}% ({gaps}); "
              f"not sure {100 * row['not_sure']:.0f}%; "
              f"either {100 * row['several_or_not_sure']:.1f}%; "
              f"missed most in {row['missed_most_in'] or '-'}")
    split = report["single_digits_split"]
    worst = max(split, key=split.get)
    print(f"   single digits wrongly split: {100 * np.mean(list(split.values())):.3f}% on average "
          f"over {len(split)} rows (worst {worst} {100 * split[worst]:.2f}%); "
          f"groups() median {1000 * report['groups_median_ms']:.0f} us, "
          f"{1000 * report['groups_median_ms_two_strokes_or_more']:.0f} us with two strokes "
          "or more")
    print(f"\n{report['seconds']['total']:.0f} s in all")


def write_pictures(rows, styled, families, several_rows, labels, out: Path) -> None:
    """Write the worst mistakes, per digit and per style, the most confident held-out
    non-digits and the pairs nothing caught, as PNG grids."""
    worst_of_digit = {}  # digit index -> (confidence in the wrong digit, image, read, true)
    for name, scored in rows.items():
        if name == "MNIST images":
            continue
        predicted = scored.p.argmax(axis=1)
        for i in np.nonzero(predicted != labels)[0]:
            confidence = float(scored.p[i, predicted[i]])
            if confidence > worst_of_digit.get(i, (0.0,))[0]:
                worst_of_digit[i] = (confidence, scored.images[i], int(predicted[i]),
                                     int(labels[i]))
    mistakes = sorted(worst_of_digit.values(), key=lambda m: -m[0])[:60]
    if mistakes:
        png.write(out / "ink_mistakes.png", png.grid(
            np.stack([m[1] for m in mistakes]),
            [f"{m[2]}/{m[3]} {round(100 * m[0])}" for m in mistakes], columns=10, scale=4))

    cells, captions = [], []
    for name, (scored, _) in styled.items():  # one row of ten per style, blanks if fewer
        digit = styles.STYLES[name].digit
        read = scored.p.argmax(axis=1)
        wrong = np.nonzero(read != digit)[0]
        wrong = wrong[np.argsort(-scored.p[wrong, read[wrong]])][:10]
        for i in wrong:
            cells.append(scored.images[i])
            captions.append(f"{read[i]}/{digit} {round(100 * scored.p[i, read[i]])}")
        cells += [np.zeros((28, 28), np.float32)] * (10 - len(wrong))
        captions += [""] * (10 - len(wrong))
    png.write(out / "ink_styles.png", png.grid(np.stack(cells), captions, columns=10, scale=3))

    confident = []
    for name in nondigits.HELDOUT:
        scored = families[name]
        order = np.argsort(-scored.p.max(axis=1))[:6]
        confident += [(scored.images[i], int(scored.p[i].argmax()), float(scored.p[i].max()))
                      for i in order]
    png.write(out / "ink_non_digits.png", png.grid(
        np.stack([c[0] for c in confident]), [f"{c[1]} {round(100 * c[2])}" for c in confident],
        columns=6, scale=4))

    scored, made, _ = several_rows[2]
    confidence = scored.p.max(axis=1)
    missed = [i for i, (s, _, _) in enumerate(made) if not several(s)
              and confidence[i] >= pretrained.NOT_SURE_BELOW]
    missed = sorted(missed, key=lambda i: -confidence[i])[:40]
    if missed:
        png.write(out / "ink_pairs.png", png.grid(
            scored.images[missed],
            [f"{scored.p[i].argmax()} {round(100 * confidence[i])}" for i in missed],
            columns=10, scale=4))
