"""How long ink takes to become an image: ``network.ink.render.render`` latency, and the speed
of the re-drawing augmentation ``network.redraw_batch``.

    python benchmarks/ink_render.py [--data DIR] [--repeat R] [--seed S] [--redraw N]

Render times are medians and 99th percentiles over many calls of the same drawings in
the same run: typical digits as the canvas sends them (~100-300 points), the same
digits with thousands of points (a fast pointer or a stylus), and a 10,000-point
random scribble and 200 random strokes (the largest drawings the web edge accepts); the
ratios to the typical digit show that the cost stays bounded.
"""

from __future__ import annotations

import time
from pathlib import Path

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support.mnist_files import MNIST_DIR  # noqa: E402

from network.ink import render as ink  # noqa: E402
from network.ink import skeleton  # noqa: E402
from network.training import hands  # noqa: E402
from network.training.mnist import load_mnist  # noqa: E402
from network.training.redraw import redraw_batch  # noqa: E402

DEFAULT_DATA = MNIST_DIR


def main(argv: list[str] | None = None) -> int:
    """Time rendering and re-drawing, and print the table."""
    parser = common.parser(__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST folder")
    parser.add_argument("--repeat", type=int, default=1000, help="render calls per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redraw", type=int, default=3000, help="images for redraw_batch")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    images, _ = load_mnist(args.data, "test")
    digits = [skeleton.image_to_strokes(im) for im in images[:50]]
    typical = [hands.natural(d, rng)[0] for d in digits]
    dense = [[_densified(s, 0.25) for s in drawing] for drawing in typical]
    # The worst drawings the web edge accepts (10,000 points, 200 strokes): random points
    # all over the canvas, so every segment is long and nothing can be thinned out.
    scribble = [[rng.uniform(0, 280, size=(10000, 2))] for _ in range(5)]
    confetti = [[rng.uniform(0, 280, size=(50, 2)) for _ in range(200)] for _ in range(5)]

    cases = {
        "typical digit": typical,
        "thousands of points": dense,
        "10k random points": scribble,
        "200 random strokes": confetti,
    }
    print(f"network.ink.render, {args.repeat} calls per case (times in microseconds; wall "
          "clock, and CPU time of this process, which a busy shared machine disturbs less)")
    print(f"{'case':22s} {'points':>8s} {'median':>8s} {'p99':>8s} {'CPU med':>8s} "
          f"{'CPU p99':>8s} {'x typical':>9s}")
    typical = None
    for name, drawings in cases.items():
        points = np.median([sum(len(s) for s in d) for d in drawings])
        wall, cpu = _times(drawings, args.repeat)
        median, p99 = np.median(wall) * 1e6, np.percentile(wall, 99) * 1e6
        cpu_median, cpu_p99 = np.median(cpu) * 1e6, np.percentile(cpu, 99) * 1e6
        typical = typical or cpu_median
        print(f"{name:22s} {points:8.0f} {median:8.0f} {p99:8.0f} {cpu_median:8.0f} "
              f"{cpu_p99:8.0f} {cpu_median / typical:9.2f}")

    batch = images[: args.redraw]
    redraw_batch(batch[:50], rng)  # warm up
    clock = time.process_time  # CPU time of this process: steadier on a shared machine
    started = clock()
    skeleton.images_to_strokes(batch)
    strokes_seconds = clock() - started
    started = clock()
    redraw_batch(batch, rng)
    seconds = clock() - started
    per_image = seconds / len(batch)
    print(f"\nredraw_batch on {len(batch)} MNIST digits (CPU time): "
          f"{1e3 * per_image:.2f} ms per image, of which "
          f"{1e3 * strokes_seconds / len(batch):.2f} ms magnifying, thinning and tracing "
          f"and the rest rendering; 60,000 images: {60000 * per_image:.0f} s on one core")
    return 0


def _times(drawings: list, repeat: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the wall and CPU durations of ``repeat`` render calls, cycling through
    the drawings."""
    for d in drawings[:5]:
        ink.render(d)  # warm up
    wall, cpu = np.empty(repeat), np.empty(repeat)
    for i in range(repeat):
        d = drawings[i % len(drawings)]
        started, started_cpu = time.perf_counter(), time.process_time()
        ink.render(d)
        cpu[i] = time.process_time() - started_cpu
        wall[i] = time.perf_counter() - started
    return wall, cpu


def _densified(points: np.ndarray, spacing: float) -> np.ndarray:
    """Return the polyline with a point every ``spacing`` canvas pixels."""
    if len(points) < 2:
        return points
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    at = np.linspace(0, arc[-1], max(2, int(arc[-1] / spacing)))
    return np.stack([np.interp(at, arc, points[:, k]) for k in (0, 1)], axis=1)


if __name__ == "__main__":
    raise SystemExit(main())
