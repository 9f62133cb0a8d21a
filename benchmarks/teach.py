"""Teaching, measured: latency of a teach, drift of held-out accuracy, learning a new style.

One command, in-process, on the real path (ModelHub -> OnlineLearner -> SQLiteStore with
WAL and synchronous=FULL in a temporary instance folder):

    python benchmarks/teach.py [--model FILE] [--data DIR] [--teaches 200] [--style hollow]

1. Latency: ``hub.teach`` end to end (the writer's memory, learn, check, serialise,
   commit) over N teaches of ordinary MNIST training digits with correct labels (never
   anchors), p50/p99, by stage: the learner alone, serialising a version, and a
   prediction in the same run for scale.  The teaches come from the trusted path (no
   writer, address or prefix, so no budget binds); a writer's teach adds its memory.
2. Drift: held-out accuracy (the 1,000 shipped test digits) before and after those N
   correct teaches.  Aim: down by at most 0.5 points.
3. A new style: MNIST test digits (never the held-out ones) redrawn by a deterministic
   transform; accuracy on 1,000 digits of that style before and after teaching 5 of
   each digit (50 teaches) of the same style, and the held-out accuracy after.

MNIST: LeCun, Cortes & Burges, CC BY-SA 3.0.  The data set is read, never copied.
"""

from __future__ import annotations

import sys
import tempfile
import time

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support.mnist_files import MNIST_DIR  # noqa: E402

from network import pretrained  # noqa: E402
from network.nn.model import load_model  # noqa: E402
from network.online.learner import OnlineLearner  # noqa: E402
from network.training.mnist import load_mnist, load_subset  # noqa: E402
from webapp.hub import ModelHub  # noqa: E402
from webapp.store import TeachRequest  # noqa: E402

STROKES = [[[0.0, 0.0], [1.0, 1.0]]]  # the strokes column is not what is measured here


# -- deterministic styles -------------------------------------------------------------------
def _neighbourhood_max(x: np.ndarray) -> np.ndarray:
    """3x3 grey dilation of float images (N, 28, 28)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    shifts = [padded[:, i:i + 28, j:j + 28] for i in range(3) for j in range(3)]
    return np.max(shifts, axis=0)


def _shear(x: np.ndarray, slope: float) -> np.ndarray:
    """Slant images (N, 28, 28): row r moves right by slope * (14 - r) pixels (linear interp)."""
    out = np.empty_like(x)
    columns = np.arange(28, dtype=np.float32)
    for r in range(28):
        source = columns - slope * (14 - r)
        left = np.floor(source).astype(int)
        frac = (source - left).astype(np.float32)
        valid_l = (left >= 0) & (left < 28)
        valid_r = (left + 1 >= 0) & (left + 1 < 28)
        a = np.where(valid_l, x[:, r, np.clip(left, 0, 27)], 0)
        b = np.where(valid_r, x[:, r, np.clip(left + 1, 0, 27)], 0)
        out[:, r] = a * (1 - frac) + b * frac
    return out


def hollow(images: np.ndarray) -> np.ndarray:
    """Bubble writing: thick strokes drawn as outlines (float (N, 28, 28) -> same)."""
    x = images.astype(np.float32) / 255.0
    thick = _neighbourhood_max(_neighbourhood_max(x))
    inner = np.clip(x * 1.5, 0, 1)
    return np.clip(thick - inner, 0, 1)


def thick_backslant(images: np.ndarray) -> np.ndarray:
    """A heavy pen leaning left: dilated twice and slanted backwards."""
    x = images.astype(np.float32) / 255.0
    return _shear(_neighbourhood_max(_neighbourhood_max(x)), -0.6)


STYLES = {"hollow": hollow, "thick-backslant": thick_backslant}


# -- measuring ------------------------------------------------------------------------------
def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms"


def per_class(labels: np.ndarray, n: int, rng: np.random.Generator,
              exclude: np.ndarray) -> np.ndarray:
    """Indices of n digits of each class, not in exclude, shuffled."""
    allowed = np.setdiff1d(np.arange(len(labels)), exclude)
    picks = [rng.choice(allowed[labels[allowed] == d], n, replace=False) for d in range(10)]
    order = np.concatenate(picks)
    return order[rng.permutation(len(order))]


def main(argv: list[str] | None = None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--model", default=str(pretrained.CNN))
    parser.add_argument("--data", default=str(MNIST_DIR))
    parser.add_argument("--teaches", type=int, default=200)
    parser.add_argument("--style", choices=sorted(STYLES), default="hollow")
    parser.add_argument("--per-digit", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = load_model(args.model)
    subset = load_subset()
    with np.load(pretrained.SUBSET) as z:
        heldout_index, anchor_index = z["heldout_test_index"], z["anchor_train_index"]
    train_x, train_y = load_mnist(args.data, "train")
    test_x, test_y = load_mnist(args.data, "test")
    rng = np.random.default_rng(args.seed)
    print(f"model {args.model}: {model!r}")
    print(f"learner: {OnlineLearner.from_subset(subset, rng=rng)!r}")

    # 1 + 2: latency and drift over N correct teaches of ordinary digits.
    with tempfile.TemporaryDirectory() as folder:
        hub = ModelHub.from_instance(folder, initial_model=model, seed=args.seed)
        try:
            hub.learner.warm_up(hub.model)
            start = hub.info()["accuracy"]["heldout"]
            order = per_class(train_y, args.teaches // 10 + 1, rng, anchor_index)[:args.teaches]
            teach_s, outcomes = [], []
            for k, i in enumerate(order):
                writer = f"bench-writer-{k % 10:04d}" if k % 2 else None
                t0 = time.perf_counter()
                outcomes.append(hub.teach(TeachRequest(STROKES, train_x[i], int(train_y[i]),
                                                       writer)))
                teach_s.append(time.perf_counter() - t0)
            end = hub.info()["accuracy"]["heldout"]
            predict_s = []
            for i in order[:200]:
                image = train_x[i].astype(np.float32) / 255.0
                t0 = time.perf_counter()
                hub.predict(image)
                predict_s.append(time.perf_counter() - t0)
            learner = OnlineLearner.from_subset(subset, rng=np.random.default_rng(1))
            learn_s, bytes_s, chained = [], [], hub.model
            replay = (train_x[order[-learner.taught:]],
                      train_y[order[-learner.taught:]].astype(np.int64))
            for i in order[:100]:
                t0 = time.perf_counter()
                chained = learner.teach(chained, train_x[i], int(train_y[i]), *replay).model
                learn_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                chained.to_bytes()
                bytes_s.append(time.perf_counter() - t0)
        finally:
            hub.close()
    rejected = sum(not o.accepted for o in outcomes)
    print(common.header())
    print(f"\n1. teach latency over {len(teach_s)} teaches (in-process, SQLite FULL sync)")
    print(f"   hub.teach (learn + commit)   {percentiles(teach_s)}")
    print(f"   learner.teach alone          {percentiles(learn_s)}")
    print(f"   model.to_bytes (a version)   {percentiles(bytes_s)}")
    rest = np.median(teach_s) - np.median(learn_s) - np.median(bytes_s)
    print(f"   the rest (store, memory)     p50 ~{1e3 * rest:.1f} ms (hub - learner - bytes)")
    print(f"   hub.predict, for scale       {percentiles(predict_s)}")
    print(f"   teach / predict p50 ratio    {np.median(teach_s) / np.median(predict_s):.1f}x")
    print(f"\n2. held-out accuracy over {len(outcomes)} correct teaches ({rejected} set aside)")
    print(f"   before {100 * start:.2f}%   after {100 * end:.2f}%   "
          f"change {100 * (end - start):+.2f} points (aim: >= -0.50)")

    # 3: a new style, taught 5 per digit.
    style = STYLES[args.style]
    pool = per_class(test_y, args.per_digit + 100, rng, heldout_index)
    by_class = {d: pool[test_y[pool] == d] for d in range(10)}
    teach_idx = np.concatenate([by_class[d][:args.per_digit] for d in range(10)])
    teach_idx = teach_idx[rng.permutation(len(teach_idx))]
    eval_idx = np.concatenate([by_class[d][args.per_digit:] for d in range(10)])
    eval_x, eval_y = style(test_x[eval_idx]), test_y[eval_idx]
    with tempfile.TemporaryDirectory() as folder:
        hub = ModelHub.from_instance(folder, initial_model=model, seed=args.seed)
        try:
            before = hub.learner.accuracy(hub.model, eval_x, eval_y)
            original = hub.learner.accuracy(hub.model, test_x[eval_idx], eval_y)
            heldout_before = hub.info()["accuracy"]["heldout"]
            styled = style(test_x[teach_idx])
            outcomes = [hub.teach(TeachRequest(STROKES, np.round(styled[k] * 255).astype(
                np.uint8), int(test_y[i]))) for k, i in enumerate(teach_idx)]
            after = hub.learner.accuracy(hub.model, eval_x, eval_y)
            heldout_after = hub.info()["accuracy"]["heldout"]
        finally:
            hub.close()
    rejected = sum(not o.accepted for o in outcomes)
    print(f"\n3. new style '{args.style}': taught {len(outcomes)} drawings "
          f"({args.per_digit} per digit, {rejected} set aside), "
          f"evaluated on {len(eval_y)} other digits of that style")
    print(f"   same digits unstyled {100 * original:.2f}%")
    print(f"   style accuracy  before {100 * before:.2f}%   after {100 * after:.2f}%   "
          f"rise {100 * (after - before):+.2f} points")
    print(f"   held-out        before {100 * heldout_before:.2f}%   after "
          f"{100 * heldout_after:.2f}%   change {100 * (heldout_after - heldout_before):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
