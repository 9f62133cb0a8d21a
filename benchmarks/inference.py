"""Inference speed of the shipped models: batch-1 latency p50/p99 and batch-1000 throughput.

    python benchmarks/inference.py [--threads N] [--seconds S] [--fresh]

The app classifies one drawing at a time while the user draws, so the number that
matters is the latency of ``predict_proba`` on a single 28x28 image (temperature and
softmax included); batch-1000 throughput matters for evaluation. Both are measured
on the shipped weights (network/pretrained/cnn.npz, mlp.npz) when present, otherwise
on freshly initialised networks of the same architecture (the arithmetic is the same;
the script says which). Percentiles come from one timing per call after a warm-up;
the trade-off is a few hundred nanoseconds of timer overhead per call, small next
to the ~0.1-1 ms being measured.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)

from network import pretrained  # noqa: E402
from network.ink.pixels import to_float  # noqa: E402
from network.nn.architectures import build_cnn, build_mlp  # noqa: E402
from network.nn.model import load_model  # noqa: E402
from network.training.mnist import load_subset  # noqa: E402


def parse_args(argv=None):
    parser = common.parser(__doc__)
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the shipped files and time freshly built networks")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="time budget for the batch-1 calls of each model")
    return parser.parse_args(argv)


ARGS = parse_args()


def shipped_or_fresh(path, build):
    """The model at path if it exists, else a fresh one; and words saying which and what."""
    if Path(path).is_file() and not ARGS.fresh:
        model, source = load_model(path), f"shipped {Path(path).name}"
    else:
        why = "--fresh" if ARGS.fresh else "no shipped file"
        model, source = build(np.random.default_rng(0)), f"fresh weights ({why})"
    kinds = [c["type"] for c in model.architecture()]
    shape = (f"{kinds.count('Conv2D')} conv + {kinds.count('Dense')} dense layers, "
             f"{model.n_parameters:,d} parameters")
    return model, f"{source}: {shape}"


def latencies(model, image, seconds, max_calls=20000, warmup=200):
    """Seconds per predict_proba call on one image, one timing per call."""
    for _ in range(warmup):
        model.predict_proba(image)
    times, deadline = [], time.perf_counter() + seconds
    while len(times) < max_calls and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        model.predict_proba(image)
        times.append(time.perf_counter() - t0)
    return np.array(times)


def throughput(model, images, repeats=5):
    """Median images/s of predict_proba on the whole batch."""
    model.predict_proba(images)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_proba(images)
        rates.append(len(images) / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    print(common.header() + "\n")
    subset = load_subset()
    batch = to_float(subset.heldout_x[:1000])            # real MNIST test digits
    image = batch[:1]                                      # (1, 28, 28): one drawing
    p50 = {}
    for name, path, build in (("CNN", pretrained.CNN, build_cnn),
                              ("MLP", pretrained.MLP, build_mlp)):
        model, source = shipped_or_fresh(path, build)
        t = latencies(model, image, ARGS.seconds)
        p50[name] = float(np.percentile(t, 50))
        rate = throughput(model, batch)
        print(f"{name} ({source})")
        if name == "CNN" and "Conv2D" not in str(model.architecture()):
            print("  WARNING: this file holds no convolution; it is not the CNN")
        p99 = float(np.percentile(t, 99))
        print(f"  batch 1:    p50 {1e3 * p50[name]:.3f} ms   p99 {1e3 * p99:.3f} ms"
              f"   ({len(t):,d} calls)")
        print(f"  batch 1000: {rate:,.0f} images/s ({1e3 * len(batch) / rate:.1f} ms per batch)")
        print(f"  batching gain: {rate * p50[name]:.1f}x the batch-1 rate\n", flush=True)
    print(f"same-run ratio: CNN / MLP batch-1 latency (p50) {p50['CNN'] / p50['MLP']:.1f}x")


if __name__ == "__main__":
    main()
