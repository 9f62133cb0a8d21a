"""Offline training: minibatch Adam on augmented MNIST, then temperature calibration.

The recipe is deliberately plain so it can be read in one sitting: shuffle, augment
each batch afresh, one Adam step per batch with a cosine-decaying learning rate,
evaluate on the test set after every epoch. The last ``val_size`` training images
are held back for fitting the temperature, so calibration never sees a digit the
weights were trained on. One seed fixes everything: initial weights, shuffling,
augmentation and dropout all draw from generators spawned from it.

With ``redraw > 0`` that share of every batch is replaced by the same digits re-drawn
the way the app renders ink (``network.training.redraw``); with ``styles > 0`` that share
by digits written the ways the world writes them (``network.training.styles``: a
continental 1, a crossed 7, a slashed 0...; ``style_weights`` draws named ones more
often), drawn in many hands.  With ``outliers > 0``
every batch also carries that share of non-digits (``network.training.nondigits``:
letters, symbols, shapes, digit pairs of the training families only) with a uniform
target, so the network learns to be unsure of ink that is no digit.  With
``prefixes > 0`` that share of every batch is unfinished ink: digits drawn on the canvas in
people's pen order (``network.training.penorder``), cut while the pen is down as often
as a page reads them, and labelled with the digit they become, so the network learns how
likely each digit is given the ink so far.  The temperature is fitted on held-back digits
as images, re-drawn and styled; with prefixes, a second one (``temperature_unfinished``)
on held-back digits cut the same way, for ink read while the pen is down.  The model
that reads that ink (``network.pretrained.UNFINISHED``) is trained on it alone
(``prefixes=1``): finished digits in its batches would teach it that a stroke shaped
like a finished 7 is a 7, when while drawing it is as often the start of a 3.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..ink.pixels import to_float
from ..nn.architectures import build_cnn, build_mlp
from ..nn.losses import softmax
from ..nn.model import Sequential, load_model
from ..nn.optim import Adam
from .augment import AugmentConfig, augment_batch
from .calibration import evaluate_probabilities, fit_points_temperature, fit_temperature
from .mnist import load_mnist, minibatches
from .nondigits import outlier_images
from .penorder import canvas_drawings, pen_down_frames
from .redraw import redraw_batch
from .styles import styled_images, traced_bases, weighted_names


@dataclass
class Recipe:
    """Everything that determines a trained model, stored in its metadata."""

    arch: str = "cnn"
    hidden: int = 128  # the MLP's hidden units, the CNN's dense layer
    filters: tuple[int, int] = (32, 64)  # the CNN's two convolutions
    activation: str = "relu"
    epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    lr_min: float = 1e-5
    weight_decay: float = 1e-4
    dropout: float = 0.25
    seed: int = 0
    augment: bool = True
    val_size: int = 5000
    redraw: float = 0.0
    styles: float = 0.0
    # named styles drawn that many times as often as each other style (styles.weighted_names)
    style_weights: dict = field(default_factory=dict)
    outliers: float = 0.0
    prefixes: float = 0.0
    init: str | None = None  # a model file to start from (fine-tuning) instead of new weights
    augment_config: dict = field(default_factory=lambda: AugmentConfig().to_dict())

    def build(self, rng: np.random.Generator) -> Sequential:
        if self.arch == "cnn":
            return build_cnn(rng, dropout=self.dropout, filters=self.filters,
                             hidden=self.hidden)
        if self.arch == "mlp":
            return build_mlp(rng, hidden=self.hidden, activation=self.activation,
                             dropout=self.dropout)
        raise ValueError(f"unknown architecture {self.arch!r} (use cnn or mlp)")


class Progress:
    """A one-line progress bar on a terminal; silence elsewhere (epoch lines suffice)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def update(self, epoch, epochs, done, total, loss, started) -> None:
        if not self.live:
            return
        elapsed = time.perf_counter() - started
        rate = done / max(elapsed, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\repoch {epoch}/{epochs} [{bar}] {rate:7.0f} samples/s "
                          f"loss {loss:.4f} ETA {eta:5.0f}s ")
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def provenance(path, metadata: dict) -> dict:
    """What a fine-tune started from: the file's SHA-256 and the recipe, metrics and
    training time in its metadata (with its own provenance, if it was a fine-tune too)."""
    return {"file": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            **{key: metadata.get(key) for key in
               ("recipe", "metrics", "training_seconds", "fine_tuned_from")}}


def accuracy(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict_logits(x).argmax(axis=1) == y).mean())


def train(recipe: Recipe, data_dir, log=print, progress: Progress | None = None) -> Sequential:
    """Train a model by the recipe on the MNIST folder; returns it calibrated, with metrics."""
    started_all = time.perf_counter()
    root = np.random.default_rng(recipe.seed)
    init_rng, shuffle_rng, augment_rng, dropout_rng = root.spawn(4)
    train_x, train_y = load_mnist(data_dir, "train")
    test_x, test_y = load_mnist(data_dir, "test")
    train_x, test_x = to_float(train_x), to_float(test_x)
    # never hold back more than a tenth: small data sets (tests) still train on most of it
    val_size = min(recipe.val_size, len(train_x) // 10)
    n_fit = len(train_x) - val_size
    fit_x, fit_y = train_x[:n_fit], train_y[:n_fit].astype(np.int64)
    val_x, val_y = train_x[n_fit:], train_y[n_fit:].astype(np.int64)

    # Pools computed once and mixed into batches: every training digit re-drawn as the app
    # would see it drawn, styled digits and non-digits (pools scale down for small data).
    redrawn = styled = outlier_pool = prefix_pool = None
    t0 = time.perf_counter()
    fit_pixels = np.round(fit_x * 255).astype(np.uint8)
    if recipe.redraw > 0:
        redrawn = redraw_batch(fit_pixels, augment_rng)
    bases = None
    if recipe.styles > 0 or recipe.prefixes > 0:
        bases = traced_bases(fit_pixels, fit_y, 300, augment_rng)
    if recipe.styles > 0:
        styled = styled_images(min(40_000, n_fit), augment_rng, bases=bases,
                               styles=weighted_names(recipe.style_weights))[:2]
    if recipe.outliers > 0:
        outlier_pool = outlier_images(min(30_000, 4 * n_fit), augment_rng)
        n_outliers = max(1, round(recipe.outliers * recipe.batch_size))
    if recipe.prefixes > 0:
        prefix_pool = pen_down_frames(canvas_drawings(fit_pixels, fit_y, min(40_000, n_fit),
                                                      augment_rng, bases=bases), augment_rng)[:2]
    log(f"drew the pools (re-drawn, styled, non-digits, unfinished) in "
        f"{time.perf_counter() - t0:.0f}s")

    fine_tuned_from = None
    if recipe.init:
        model = load_model(recipe.init)
        fine_tuned_from = provenance(recipe.init, model.metadata)
        model.metadata = {}
    else:
        model = recipe.build(init_rng)
    for layer in model.layers:                 # dropout draws from its own stream
        if hasattr(layer, "rng"):
            layer.rng = dropout_rng
    optimizer = Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    cfg = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in recipe.augment_config.items()})
    steps_per_epoch = math.ceil(n_fit / recipe.batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    progress = progress or Progress()
    history, step = [], 0
    for epoch in range(1, recipe.epochs + 1):
        started, losses = time.perf_counter(), []
        for done, idx in enumerate(minibatches(n_fit, recipe.batch_size, shuffle_rng), 1):
            # cosine decay from lr to lr_min over the whole run
            t = step / max(total_steps - 1, 1)
            span = recipe.lr - recipe.lr_min
            optimizer.lr = recipe.lr_min + 0.5 * span * (1 + math.cos(math.pi * t))
            x = fit_x[idx]
            y = fit_y[idx]
            if redrawn is not None:
                swap = augment_rng.random(len(idx)) < recipe.redraw
                x = np.where(swap[:, None, None], redrawn[idx], x)
            if styled is not None:
                swap = np.flatnonzero(augment_rng.random(len(idx)) < recipe.styles)
                pick = augment_rng.integers(0, len(styled[0]), len(swap))
                x, y = x.copy(), y.copy()
                x[swap], y[swap] = styled[0][pick], styled[1][pick]
            if prefix_pool is not None:
                swap = np.flatnonzero(augment_rng.random(len(idx)) < recipe.prefixes)
                pick = augment_rng.integers(0, len(prefix_pool[0]), len(swap))
                x, y = x.copy(), y.copy()
                x[swap], y[swap] = prefix_pool[0][pick], prefix_pool[1][pick]
            if outlier_pool is not None:
                pick = augment_rng.integers(0, len(outlier_pool), n_outliers)
                x = np.concatenate([x, outlier_pool[pick]])
                y = np.concatenate([y, np.full(n_outliers, -1)])
            if recipe.augment:
                x = augment_batch(x, augment_rng, cfg)
            losses.append(model.train_step(x, y, optimizer))
            step += 1
            if done % 20 == 0 or done == steps_per_epoch:
                progress.update(epoch, recipe.epochs, min(done * recipe.batch_size, n_fit),
                                n_fit, float(np.mean(losses[-50:])), started)
        seconds = time.perf_counter() - started
        progress.finish()
        test_acc = accuracy(model, test_x, test_y)
        history.append({"epoch": epoch, "seconds": round(seconds, 2),
                        "samples_per_s": round(n_fit / seconds, 1),
                        "train_loss": round(float(np.mean(losses)), 5),
                        "test_accuracy": round(test_acc, 5)})
        log(f"epoch {epoch:>2}/{recipe.epochs}  {seconds:6.1f}s  {n_fit / seconds:7.0f} samples/s  "
            f"train loss {np.mean(losses):.4f}  test accuracy {test_acc:.4f}")

    if val_size:
        # Calibrate on what the app sees: the held-back digits as images, re-drawn, styled
        # (every style as often as the others, whatever the training's weights).
        val_pixels = np.round(val_x * 255).astype(np.uint8)
        calib_x = [val_x, redraw_batch(val_pixels, augment_rng)]
        calib_y = [val_y, val_y]
        if recipe.styles > 0:
            styled_x, styled_y, _ = styled_images(val_size, augment_rng)
            calib_x.append(styled_x)
            calib_y.append(styled_y)
        model.temperature = fit_temperature(model.predict_logits(np.concatenate(calib_x)),
                                            np.concatenate(calib_y))
    unfinished_temperature = unfinished_points = None
    if val_size and recipe.prefixes > 0:
        # Ink with the pen still down is unfinished for certain: its own temperature,
        # fitted on held-back digits cut part-way, keeps "94% sure" true while drawing;
        # higher while only a few points are drawn (T (1 + c / points)).
        images, labels, points = pen_down_frames(canvas_drawings(val_pixels, val_y, val_size,
                                                                 augment_rng), augment_rng)
        unfinished_temperature, unfinished_points = fit_points_temperature(
            model.predict_logits(images), labels, points)
    test_logits = model.predict_logits(test_x)
    metrics = evaluate_probabilities(softmax(test_logits / model.temperature), test_y)
    raw = evaluate_probabilities(softmax(test_logits), test_y)
    model.metadata = {
        "recipe": asdict(recipe),
        "history": history,
        "metrics": {"test_accuracy": metrics["accuracy"], "test_ece": metrics["ece"],
                    "test_ece_uncalibrated": raw["ece"], "temperature": model.temperature},
        "temperature_unfinished": unfinished_temperature,
        "unfinished_points": unfinished_points,
        "training_seconds": round(time.perf_counter() - started_all, 1),
        "fine_tuned_from": fine_tuned_from,
        "trained_on": "MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), first "
                      f"{n_fit} training images; temperature fitted on the last {val_size} "
                      "(as images, re-drawn and styled)",
        "numpy": np.__version__,
    }
    log(f"temperature {model.temperature:.3f}  test accuracy {metrics['accuracy']:.4f}  "
        f"ECE {raw['ece']:.4f} -> {metrics['ece']:.4f}")
    return model
