"""Training throughput of the NumPy engine, in samples per second, with same-run ratios.

Usage: python benchmarks/train_speed.py [--threads N] [--windows W] [--seconds S]

Measures one full training step (forward, backward, Adam with weight decay; the
recipe ``inkling train`` uses) for the MLP 784-128-10 at batch 64 and the default
CNN (``build_cnn``) at batch 128 and 64. Each figure is the median over several
timed windows after a warm-up, so one noisy window (another process waking up on
this shared 2-core machine) does not move it.

If PyTorch is importable (it is not a dependency of Inkling) the same MLP is
trained in torch on the CPU with the same batch, optimiser (AdamW, decoupled
weight decay like ours) and thread count; its windows are interleaved with
NumPy's so that both see the same background load, and the ratio is printed.
The trade-off of this design: synthetic random inputs instead of MNIST, so the
benchmark needs no data set; the arithmetic does not depend on the pixel values.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import common


def parse_args(argv=None):
    parser = common.parser(__doc__)
    parser.add_argument("--windows", type=int, default=7, help="timed windows per figure")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="target length of one timed window")
    return parser.parse_args(argv)


ARGS = parse_args()

import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)

from network.nn.architectures import build_cnn, build_mlp  # noqa: E402
from network.nn.optim import Adam  # noqa: E402

LR, WEIGHT_DECAY = 1e-3, 1e-4
POOL = 4096  # distinct synthetic images cycled through, like an epoch's worth of batches


class Timed:
    """A training step under the stopwatch: warmed up once, then timed window by window."""

    def __init__(self, step, batch_size, seconds, warmup=0.5):
        self.step, self.batch_size, self.i = step, batch_size, 0
        # the warm-up (caches, allocator, BLAS threads) also sizes a window
        started = time.perf_counter()
        while time.perf_counter() - started < warmup or self.i < 2:
            self.run(1)
        per_step = (time.perf_counter() - started) / self.i
        self.steps = max(1, round(seconds / per_step))   # a slow step bounds the run time

    def run(self, steps):
        for _ in range(steps):
            self.step(self.i)
            self.i += 1

    def window(self):
        """Samples/s over one window."""
        t0 = time.perf_counter()
        self.run(self.steps)
        return self.steps * self.batch_size / (time.perf_counter() - t0)


def numpy_stepper(model, batch_size, rng):
    """A closure running one training step on the i-th synthetic batch."""
    x = rng.random((POOL, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, POOL)
    opt = Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    n_batches = POOL // batch_size

    def step(i):
        j = (i % n_batches) * batch_size
        model.train_step(x[j:j + batch_size], y[j:j + batch_size], opt)

    return step


def torch_stepper(torch, batch_size, rng, threads):
    """The same MLP, loss and optimiser in PyTorch on the CPU."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    x = torch.from_numpy(rng.random((POOL, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, POOL))
    n_batches = POOL // batch_size
    loss_fn = nn.CrossEntropyLoss()

    def step(i):
        j = (i % n_batches) * batch_size
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[j:j + batch_size]), y[j:j + batch_size])
        loss.backward()
        opt.step()

    return step


def interleaved(steppers, n_windows, seconds):
    """Alternate windows of several (step, batch_size) so that they share the background load."""
    timed = {name: Timed(step, batch, seconds) for name, (step, batch) in steppers.items()}
    rates = {name: [] for name in steppers}
    for _ in range(n_windows):
        for name, t in timed.items():
            rates[name].append(t.window())
    return rates


def line(name, batch_size, rates):
    med = statistics.median(rates)
    print(f"  {name:<28} batch {batch_size:>4}  {med:>9,.0f} samples/s  "
          f"({1000 * batch_size / med:7.2f} ms/step; windows {min(rates):,.0f}..{max(rates):,.0f})",
          flush=True)
    return med


def main():
    try:
        import torch
    except ImportError:
        torch = None
    cpus = os.cpu_count() or 1
    threads = ARGS.threads or cpus
    print(f"python {sys.version.split()[0]}; " + common.header())
    print(f"median of {ARGS.windows} windows of ~{ARGS.seconds:g} s each, after warm-up; "
          "one step = forward + backward + Adam (weight decay)\n")
    rng = np.random.default_rng(0)
    results = {}

    print("MLP 784-128-10 (relu)")
    mlp = numpy_stepper(build_mlp(np.random.default_rng(0), hidden=128), 64, rng)
    if torch is not None:
        steppers = {"numpy": (mlp, 64), "torch": (torch_stepper(torch, 64, rng, threads), 64)}
        rates = interleaved(steppers, ARGS.windows, ARGS.seconds)
        results["mlp"] = line("numpy MLP", 64, rates["numpy"])
        results["torch"] = line(f"torch {torch.__version__} MLP ({threads} thr)", 64,
                                rates["torch"])
    else:
        rates = interleaved({"numpy": (mlp, 64)}, ARGS.windows, ARGS.seconds)
        results["mlp"] = line("numpy MLP", 64, rates["numpy"])
        print("  torch comparison skipped: torch is not importable "
              "(pip install torch to measure it; it is not an Inkling dependency)")

    print("\nCNN (build_cnn: conv32-pool-conv64-pool-dense128, dropout 0.25)")
    steppers = {b: (numpy_stepper(build_cnn(np.random.default_rng(0)), b, rng), b)
                for b in (128, 64)}
    rates = interleaved(steppers, ARGS.windows, ARGS.seconds)
    for b in (128, 64):
        results[f"cnn{b}"] = line("numpy CNN", b, rates[b])

    print("\nsame-run ratios")
    if "torch" in results:
        print(f"  numpy MLP / torch MLP          {results['mlp'] / results['torch']:.2f}x "
              "(> 1: NumPy trains this MLP faster)")
    print(f"  CNN batch 64 / batch 128       {results['cnn64'] / results['cnn128']:.2f}x")
    print(f"  MLP / CNN (batch 64)           {results['mlp'] / results['cnn64']:.1f}x")
    print(f"  a 55,000-image CNN epoch at batch 128 takes about "
          f"{55000 / results['cnn128']:.0f} s without augmentation")


if __name__ == "__main__":
    main()
