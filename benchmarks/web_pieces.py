"""The small pieces of a prediction's web work, each timed alone (issue 23, item 3).

    python benchmarks/web_pieces.py [--repeat 5] [--n 20000]

Two candidates the issue names, measured before building them: a fast JSON library
for the prediction message, and fewer metric updates per prediction.  In this process:

- the prediction message (a typical one: ten probabilities, the 784-pixel image in
  base64) encoded by the standard library's ``json`` as ``webapp.live`` does, and by
  orjson when it is installed (it is not a dependency);
- the message's parts: the image's base64, the probabilities' rounding;
- a prometheus-client histogram observation and a counter increment, in multiprocess
  mode (files under ``PROMETHEUS_MULTIPROC_DIR``, as under gunicorn) and in-process.

Each figure is the median of ``--repeat`` runs of ``--n`` calls, in microseconds,
next to its share of the 0.85 ms a prediction cost in the server profile
(``benchmarks/README.md``).  Runs in a child process per metrics mode, because
prometheus-client picks its mode when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import common  # noqa: F401  (first: BLAS threads are pinned before numpy loads)

PREDICTION_MS = 0.85
"""A prediction's server CPU in the py-spy profile at 50 drawers (benchmarks/README.md)."""

CHILD = r'''
import base64, json, statistics, sys, time
import numpy as np
from webapp import metrics

n, repeat = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
pixels = (rng.random(784) * 255).astype(np.uint8)
p = rng.dirichlet(np.ones(10))
message = {"type": "prediction", "seq": 123, "digit": 3, "confidence": round(float(p.max()), 6),
           "probabilities": [round(float(x), 6) for x in p], "model_version": 12,
           "image": base64.b64encode(pixels.tobytes()).decode("ascii"), "several": False,
           "pen_down": True}

def timed(call):
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(n):
            call()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)

pieces = {}
if sys.argv[3] == "encode":
    pieces["json.dumps the message"] = timed(
        lambda: json.dumps(message, separators=(",", ":"), allow_nan=False))
    try:
        import orjson
        pieces["orjson.dumps the message"] = timed(lambda: orjson.dumps(message))
    except ImportError:
        pass
    pieces["base64 of the image"] = timed(
        lambda: base64.b64encode(pixels.tobytes()).decode("ascii"))
    pieces["rounding the probabilities"] = timed(lambda: [round(float(x), 6) for x in p])
else:
    stage = metrics.STAGES["parse"]
    pieces[f"histogram observe ({sys.argv[3]})"] = timed(lambda: stage.observe(0.0003))
    pieces[f"counter inc ({sys.argv[3]})"] = timed(metrics.FRAMES_FOLDED.inc)
    pieces[f"labelled counter inc ({sys.argv[3]})"] = timed(
        lambda: metrics.PREDICTIONS.labels("ws").inc())
print(json.dumps(pieces))
'''

UPDATES_PER_PREDICTION = {"histogram observe": 6, "labelled counter inc": 1, "counter inc": 1}
"""Metric updates one /ws prediction makes (webapp/live.py, webapp/answers.py): the parse,
render, predict, fields and send stages and the prediction's latency; the predictions
counter; the sent bytes.  The forward pass's two are per batch, not counted here."""


def run(mode: str, n: int, repeat: int) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if mode == "multiprocess":
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
        done = subprocess.run([sys.executable, "-c", CHILD, str(n), str(repeat), mode],
                              env=env, cwd=common.ROOT, capture_output=True, text=True,
                              check=True, timeout=600)
    return json.loads(done.stdout)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    print(common.header())
    pieces = {}
    for mode in ("encode", "multiprocess", "in-process"):
        pieces.update(run(mode, args.n, args.repeat))
    print(f"\n{'piece':44s} {'us':>7s} {'share of a prediction':>22s}")
    for name, us in pieces.items():
        print(f"{name:44s} {us:7.2f} {us / 1000 / PREDICTION_MS:21.1%}")
    per_prediction = sum(pieces[f"{kind} (multiprocess)"] * count
                         for kind, count in UPDATES_PER_PREDICTION.items())
    print(f"\nmetric updates per /ws prediction under gunicorn: "
          f"{sum(UPDATES_PER_PREDICTION.values())}, {per_prediction:.1f} us "
          f"({per_prediction / 1000 / PREDICTION_MS:.1%} of a prediction)")
    if "orjson.dumps the message" in pieces:
        saved = pieces["json.dumps the message"] - pieces["orjson.dumps the message"]
        print(f"orjson would save {saved:.1f} us a prediction "
              f"({saved / 1000 / PREDICTION_MS:.1%})")


if __name__ == "__main__":
    main()
