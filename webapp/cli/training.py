"""``inkling train``, ``evaluate``, ``export-json`` and ``make-subset``: the model's
commands, for whoever builds the shipped model (the README's recipe)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from network import pretrained
from network.durable import atomic_write_bytes
from network.ink.pixels import to_float
from network.nn.model import load_model, save_model
from network.training.calibration import evaluate_probabilities
from network.training.loop import Recipe, train
from network.training.mnist import load_mnist, make_subset
from network.training.styles import weighted_names

from .args import CliError, positive


def add_commands(sub) -> None:
    """The training commands' parsers, under ``inkling``'s subcommands."""
    t = sub.add_parser("train", help="train a model on MNIST and save it")
    t.add_argument("--data", required=True, help="folder with the MNIST IDX files (.gz or raw)")
    t.add_argument("--arch", choices=["mlp", "cnn"], default="cnn")
    t.add_argument("--hidden", type=positive(int), default=128,
                   help="hidden units: the MLP's hidden layer, the CNN's dense layer")
    t.add_argument("--filters", type=positive(int), nargs=2, default=[32, 64],
                   metavar=("F1", "F2"), help="the CNN's two convolutions' filters (32 64)")
    t.add_argument("--activation", choices=["relu", "sigmoid"], default="relu")
    t.add_argument("--epochs", type=positive(int), default=None)
    t.add_argument("--batch-size", type=positive(int), default=None)
    t.add_argument("--lr", type=positive(float), default=None)
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--redraw", type=float, default=None,
                   help="share of each batch re-drawn by the app's ink renderer (0..1; cnn 0.3)")
    t.add_argument("--styles", type=float, default=None,
                   help="share of each batch written in the world's styles (0..1; cnn 0.2)")
    t.add_argument("--style-weight", action="append", default=[], metavar="STYLE=K",
                   help="draw the named style (network/training/styles.py) K times as often "
                        "as each other style; repeatable")
    t.add_argument("--outliers", type=float, default=None,
                   help="non-digits per batch, as a share of it, taught as unsure (cnn 0.25)")
    t.add_argument("--prefixes", type=float, default=None,
                   help="share of each batch that is unfinished ink: pen-ordered digits cut "
                        "part-way, labelled with the digit they become (0..1; default 0; "
                        "1 for the pen-down model)")
    t.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this model's weights (fine-tuning) instead of new ones")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random warps, elastic distortion and stroke width (default on)")
    t.add_argument("--out", required=True, help="where to write the model (.npz)")

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy, confusion matrix, ECE")
    e.add_argument("--data", required=True)
    e.add_argument("--model", default=str(pretrained.CNN))
    e.add_argument("--json", action="store_true", help="one JSON object on stdout")

    x = sub.add_parser("export-json", help="write a model's weights as JSON")
    x.add_argument("--model", default=str(pretrained.CNN))
    x.add_argument("--out", required=True, help="output .json file ('-' for stdout)")

    s = sub.add_parser("make-subset", help="rebuild the shipped held-out/anchor MNIST subset")
    s.add_argument("--data", required=True)
    s.add_argument("--out", default=str(pretrained.SUBSET))
    s.add_argument("--seed", type=int, default=0)


def recipe_from_args(args) -> Recipe:
    """The training recipe: the architecture's defaults, overridden by the given flags."""
    # An MLP sees pixels, not shapes: big shifts and warps cost it more than they teach,
    # so its preset uses gentler augmentation than the CNN's.
    gentle = {"rotation": 8.0, "scale": [0.9, 1.1], "shear": 0.15, "shift": 1.5,
              "elastic_alpha": 1.5, "elastic_sigma": 4.0, "width_p": 0.4, "keep_p": 0.3}
    # The served CNN reads finished drawings only: pen-down ink has its own model
    # (the README's recipe for cnn_unfinished.npz, --prefixes 1).
    defaults = {"cnn": {"epochs": 20, "redraw": 0.3, "styles": 0.2, "outliers": 0.25,
                        "prefixes": 0.0},
                "mlp": {"epochs": 20, "dropout": 0.0, "lr": 2e-3, "augment_config": gentle},
                }[args.arch]
    recipe = Recipe(arch=args.arch, hidden=args.hidden, filters=tuple(args.filters),
                    activation=args.activation,
                    seed=args.seed, augment=args.augment, **defaults)
    for name in ("epochs", "batch_size", "lr", "dropout", "redraw", "styles", "outliers",
                 "prefixes", "init"):
        value = getattr(args, name)
        if value is not None:
            setattr(recipe, name, value)
    recipe.style_weights = style_weights(args.style_weight)
    if recipe.style_weights and not recipe.styles:
        raise CliError("--style-weight weighs the styled share of each batch, and --styles is "
                       "0 here: give --styles too")
    if not 0.0 <= recipe.dropout < 1.0:
        raise CliError(f"--dropout must be in [0, 1), got {recipe.dropout}")
    for name in ("redraw", "styles", "outliers", "prefixes"):
        if not 0.0 <= getattr(recipe, name) <= 1.0:
            raise CliError(f"--{name} must be in [0, 1], got {getattr(recipe, name)}")
    return recipe


def style_weights(given: list[str]) -> dict[str, int]:
    """``--style-weight STYLE=K`` flags as {style: K}, checked."""
    weights = {}
    for text in given:
        name, _, weight = text.partition("=")
        try:
            weights[name] = int(weight)
        except ValueError:
            raise CliError(f"--style-weight takes STYLE=K with K a whole number, got {text!r}") \
                from None
    try:
        weighted_names(weights)
    except ValueError as error:
        raise CliError(f"--style-weight: {error}") from None
    return weights


def cmd_train(args) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name such as model.npz")
    recipe = recipe_from_args(args)
    model = train(recipe, args.data, log=lambda line: print(line, flush=True))
    save_model(model, out)
    print(f"saved {out} ({model.n_parameters:,d} parameters)")
    return 0


def cmd_evaluate(args) -> int:
    model = load_model(args.model)
    images, labels = load_mnist(args.data, "test")
    report = evaluate_probabilities(model.predict_proba(to_float(images)), labels)
    report["model"] = str(args.model)
    report["temperature"] = model.temperature
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"model     {args.model}\ntest set  {report['n']} digits\n"
          f"accuracy  {report['accuracy']:.4f}\nECE       {report['ece']:.4f} (15 bins, "
          f"T={model.temperature:.3f})\n\nper class")
    for digit, acc in enumerate(report["per_class"]):
        print(f"  {digit}  {acc:.4f}")
    print("\nconfusion (rows: true digit, columns: predicted)")
    print("      " + "".join(f"{d:>6}" for d in range(10)))
    for digit, row in enumerate(report["confusion"]):
        print(f"  {digit}   " + "".join(f"{v:>6}" for v in row))
    return 0


def cmd_export_json(args) -> int:
    model = load_model(args.model)
    doc = {"architecture": model.architecture(), "temperature": model.temperature,
           "metadata": model.metadata,
           "input": "28x28 float32 image in [0,1], channels-last (N, H, W, C) inside",
           "layers": [{name: w.tolist() for name, w in layer.params.items()}
                      for layer in model.layers]}
    text = json.dumps(doc)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        atomic_write_bytes(args.out, text.encode())
        print(f"wrote {args.out} ({len(text) / 1e6:.1f} MB)")
    return 0


def cmd_make_subset(args) -> int:
    subset = make_subset(args.data, args.out, seed=args.seed)
    print(f"wrote {args.out}: {len(subset.heldout_y)} held-out test digits, "
          f"{len(subset.anchor_y)} anchor training digits")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "export-json": cmd_export_json,
            "make-subset": cmd_make_subset}
