"""Confidence while drawing, over the real /ws: is "90% sure" true before the pen is lifted?

    python benchmarks/live_confidence.py [--model FILE] [--mnist 400] [--styled 300]
                                         [--points 4] [--seed 7] [--clients 2]

Drawings training never used, in people's pen order (``network.training.penorder``):

- ``--mnist`` MNIST *test* digits, thinned, traced and put in pen order, each drawn in a
  hand of its own (size, slant, rotation, tremor; ``network.training.hands.draw``);
- ``--styled`` digits in the world's styles (``network.training.styles``), their edit
  styles editing traced *test* digits, each in one of the ways people draw.

Each drawing is streamed to a fresh gunicorn (the README's command, one worker, the
given model, rate limits off) over ``/ws``, ``--points`` points a frame, and every
frame's prediction is awaited before the next frame is sent.  Each prediction is
scored against the digit the drawing becomes, in four stages: the first half of the
ink, 50-80%, 80-100% while still drawing, and after the last pen-up.  Per stage:
accuracy, ECE (15 bins), the ECE a perfectly calibrated model would show on as many
predictions with the same confidences (ECE is never zero on a finite sample: a measured
ECE near this floor cannot be told apart from calibrated), and the share of
predictions at least 90% sure and wrong;
then the first three again, split into predictions made with the pen down (read as
unfinished ink) and those made when the pen was lifted between strokes (read as a
finished drawing: the server cannot know yet whether another stroke follows).
Then *when the answer settles*: the share of the ink after which the page shows the
right digit (at least ``not_sure_below`` sure, ``network.pretrained``) and keeps
showing it to the end; median and 90th percentile over drawings that end right.

With few drawings and few mistakes that floor is near the aims themselves: measure on
more, e.g. ``--mnist 4000 --styled 3000 --seed 11`` (ten times the drawings, about six
minutes on two cores).

Aims (issue 19): every stage ECE <= 3% and >= 90%-sure mistakes <= 2%; finished
drawings lose nothing; the answer settles earlier.  Bounded and loopback only.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support.mnist_files import MNIST_DIR  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import WSClient  # noqa: E402

from network import pretrained  # noqa: E402
from network.ink.skeleton import images_to_strokes  # noqa: E402
from network.training import hands, styles  # noqa: E402
from network.training.calibration import calibrated_ece, expected_calibration_error  # noqa: E402
from network.training.mnist import load_mnist  # noqa: E402
from network.training.penorder import in_pen_order, ink_length  # noqa: E402

STAGES = ("first half of the ink", "50-80% of the ink", "80-100%, still drawing",
          "after the last pen-up")
SHORT = ("first half", "50-80%", "80-100%")


def held_back(n_mnist: int, n_styled: int, rng: np.random.Generator, data) -> list:
    """(canvas strokes in pen order, digit, source, hand) of drawings training never used:
    source ``mnist`` or the style's name, hand the styled drawing's hand (``traced`` for
    the MNIST digits, drawn in a hand of their own)."""
    test_x, test_y = load_mnist(data, "test")
    chosen = rng.choice(len(test_x), size=n_mnist, replace=False)
    drawings = []
    for strokes, digit in zip(images_to_strokes(test_x[chosen]), test_y[chosen], strict=True):
        if not strokes:
            continue
        ordered = in_pen_order(strokes, int(digit), rng)
        canvas = hands.draw(ordered, rng, size=rng.uniform(110, 210),
                            shear=rng.uniform(-0.25, 0.25), rotation=rng.uniform(-0.12, 0.12),
                            jitter=rng.uniform(0, 1.5))
        drawings.append((canvas, int(digit), "mnist", "traced"))
    bases = styles.traced_bases(test_x, test_y, 40, rng)
    for d in styles.styled_drawings(n_styled, rng, bases=bases):
        drawings.append((d.strokes, d.label, d.style, d.hand))
    return drawings


def stage_of(share: float) -> int:
    """The stage of a prediction made with the pen down (or between strokes)."""
    return 0 if share < 0.5 else 1 if share < 0.8 else 2


def stream(url: str, drawing: list, points: int) -> list[tuple[float, int, bool, np.ndarray]]:
    """Send one drawing a few points a frame; (ink share, stage, pen down, probabilities)
    of every prediction, each awaited before the next frame."""
    total = max(ink_length(drawing), 1e-9)
    out, done = [], 0.0
    ws = WSClient(url, timeout=60)
    try:
        assert ws.recv()["type"] == "hello"
        for index, stroke in enumerate(drawing):
            stroke = np.asarray(stroke, dtype=np.float64)
            for start in range(0, len(stroke), points):
                sent = stroke[max(start - 1, 0):start + points]  # from the last point sent
                done += float(np.hypot(*np.diff(sent, axis=0).T).sum())
                reply = ws.request({"type": "stroke",
                                    "points": stroke[start:start + points].tolist()})
                share = min(done / total, 1.0)
                out.append((share, stage_of(share), reply))
            reply = ws.request({"type": "end"})
            share = min(done / total, 1.0)
            out.append((share, 3 if index == len(drawing) - 1 else stage_of(share), reply))
    finally:
        ws.close()
    return [(share, stage, bool(m.get("pen_down")),
             np.asarray(m["probabilities"], dtype=np.float64))
            for share, stage, m in out if m.get("probabilities") is not None]


def settle(frames, digit: int, threshold: float) -> float | None:
    """The ink share from which every prediction shows the right digit; None if the last
    one is not right."""
    shown_right = [p.argmax() == digit and p.max() >= threshold for *_, p in frames]
    if not shown_right or not shown_right[-1]:
        return None
    k = len(shown_right)
    while k > 0 and shown_right[k - 1]:
        k -= 1
    return frames[k][0] if k < len(frames) else 1.0


def table_row(name: str, scored: list) -> None:
    """One stage's line: predictions, accuracy, mean confidence, ECE, the ECE a calibrated
    model would show on as many predictions (the measurement's noise floor), confident
    mistakes."""
    if not scored:
        return
    p = np.array([p for p, _ in scored])
    y = np.array([d for _, d in scored])
    right = p.argmax(axis=1) == y
    confident_wrong = float(np.mean((p.max(axis=1) >= 0.9) & ~right))
    print(f"{name:<24} {len(y):>11} {100 * right.mean():8.1f}% "
          f"{100 * p.max(axis=1).mean():10.1f}% "
          f"{100 * expected_calibration_error(p, y):6.2f}% "
          f"{100 * calibrated_ece(p, np.random.default_rng(0)):14.2f}% "
          f"{100 * confident_wrong:20.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--model", default=str(pretrained.CNN))
    parser.add_argument("--unfinished", default=None,
                        help="the model that reads ink while the pen is down (default the "
                             "shipped one, if any; 'none': the served model reads it too)")
    parser.add_argument("--data", default=str(MNIST_DIR))
    parser.add_argument("--mnist", type=int, default=400)
    parser.add_argument("--styled", type=int, default=300)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args(argv)
    print(common.header())
    rng = np.random.default_rng(args.seed)
    drawings = held_back(args.mnist, args.styled, rng, args.data)
    print(f"{len(drawings)} drawings ({sum(s == 'mnist' for _, _, s, _ in drawings)} MNIST test "
          f"digits traced, the rest styled), {args.points} points a frame; model "
          f"{os.path.relpath(args.model)}, pen down: {args.unfinished or 'the shipped one'}")

    results: list = [None] * len(drawings)
    with tempfile.TemporaryDirectory(prefix="inkling-live-") as folder:
        env = {"INKLING_INITIAL_MODEL": os.path.abspath(args.model),
               "INKLING_RATE_LIMITS": "off"}
        if args.unfinished is not None:
            env["INKLING_UNFINISHED_MODEL"] = ("" if args.unfinished == "none"
                                               else os.path.abspath(args.unfinished))
        server = Gunicorn(os.path.join(folder, "instance"), workers=1, **env).wait_ready()
        try:
            url = f"ws://127.0.0.1:{server.port}/ws"
            cursor = iter(range(len(drawings)))
            lock = threading.Lock()

            def work():
                while True:
                    with lock:
                        i = next(cursor, None)
                    if i is None:
                        return
                    results[i] = stream(url, drawings[i][0], args.points)

            threads = [threading.Thread(target=work) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.stop()

    threshold = pretrained.NOT_SURE_BELOW
    print(f"\n{'stage':<24} {'predictions':>11} {'accuracy':>9} {'confidence':>11} "
          f"{'ECE':>7} {'if calibrated':>15} {'>=90% sure and wrong':>21}")
    rows = [(stage, down, p, digit, hand)
            for frames, (_, digit, _, hand) in zip(results, drawings, strict=True)
            for _, stage, down, p in frames]
    for stage, name in enumerate(STAGES):
        table_row(name, [(p, d) for s, _, p, d, _ in rows if s == stage])
    print("  of which with the pen down (read as unfinished) / lifted between strokes:")
    for stage in range(3):
        for down in (True, False):
            table_row(f"  {SHORT[stage]}, pen {'down' if down else 'up'}",
                      [(p, d) for s, pen, p, d, _ in rows if s == stage and pen == down])
    # Most lifts between strokes come from one hand that draws in dashes; how the stages
    # read without it says what a page sees from people who lift the pen as most do.
    dashes = "many_short_strokes"
    lifts = Counter(hand for s, pen, *_, hand in rows if s < 3 and not pen)
    print(f"  lifts between strokes: {sum(lifts.values())}, {lifts[dashes]} of them from the "
          f"{dashes} hand ({sum(h == dashes for *_, h in drawings)} drawings); "
          f"without that hand:")
    for stage in range(3):
        table_row(f"  {SHORT[stage]}, all", [(p, d) for s, _, p, d, hand in rows
                                             if s == stage and hand != dashes])
    settled = [settle(frames, digit, threshold)
               for frames, (_, digit, *_) in zip(results, drawings, strict=True)]
    known = np.array([s for s in settled if s is not None])
    median, p90 = 100 * np.median(known), 100 * np.quantile(known, 0.9)
    print(f"\nthe answer settles (right, at least {threshold:.0%} sure, and stays so) after "
          f"{median:.0f}% of the ink (median), {p90:.0f}% (90th percentile), over the "
          f"{len(known)} of {len(settled)} drawings that end right")
    for source in ("mnist", "styled"):
        pick = [i for i, d in enumerate(drawings) if (d[2] == "mnist") == (source == "mnist")]
        final = [results[i][-1][-1].argmax() == drawings[i][1] for i in pick if results[i]]
        print(f"finished drawings, {source}: {100 * np.mean(final):.1f}% right "
              f"({len(final)} drawings)")
    print(common.header())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
