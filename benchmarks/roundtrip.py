"""Round trip over /ws under gunicorn: a prediction against a bare echo, the inside
view, and a teach.

    python benchmarks/roundtrip.py [--messages 2000] [--teaches 30] [--workers 2]
                                   [--worker-class gevent|gthread]

Starts the README's ``gunicorn`` in the repository root on a free loopback port with a
fresh instance in a temporary folder and ``INKLING_BENCH_ECHO=1`` (which adds the bare
echo WebSocket ``/ws/echo`` on the same Flask + flask-sock + gunicorn stack), then:

1. *echo*: send a stroke message to /ws/echo and wait for it to come back;
2. *predict*: send the same kind of stroke message to /ws and wait for the prediction
   carrying its seq (one message in flight, so nothing is folded);

3. *inside*: the same on a connection that asked for the inside view
   (``{"type": "inside", "on": true}``: saliency, every layer, the classic network);
4. *predict beside inside*: the plain client again while another thread keeps a
   connection with the inside view busy, drawing without pause: what a client that did
   not ask pays for one that did;
5. *compute*: render + forward pass of the same drawings in this process,

alternating blocks of all five, so all see the same machine load; then
6. *teach*: ``ink`` + ``teach`` and the time from sending the teach to its ``taught``.
predict - echo - compute estimates what the web layer adds.

It prints p50/p99 of each and the same-run ratio predict/echo, then stops the server.
Loopback only, bounded by --messages/--teaches and --timeout; stops by itself.

The client is the tests' synchronous client (``support.wsclient``, websockets' sync
client): its reader thread hands each message over to the caller, a cost the echo
baseline carries too, so predict - echo still leaves the server's own work.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import WSClient  # noqa: E402

from network.ink.pixels import to_float, to_uint8  # noqa: E402
from network.ink.render import render  # noqa: E402
from network.nn.model import Sequential  # noqa: E402
from webapp.store.sqlite import SQLiteStore  # noqa: E402


def drawing_points(n: int = 60) -> list[list[float]]:
    """A "2"-like path of n points in canvas pixels, as a person's pen would send it."""
    t = np.linspace(0.0, 1.0, n)
    x = np.where(t < 0.6, 150 + 80 * np.cos(np.pi * (1 - t / 0.6)), 70 + 160 * (t - 0.6) / 0.4)
    y = np.where(t < 0.6, 120 - 60 * np.sin(np.pi * t / 0.6) + 150 * t, 300)
    return np.round(np.stack([x, y], axis=1), 1).tolist()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return (p50, p99) in milliseconds."""
    a = np.asarray(samples) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


class Compute:
    """Render + forward pass of growing drawings in this process: no network, no server.

    The model is the one the server serves (read from the instance's database), so
    predict - echo - compute estimates what the web layer itself adds.
    """

    def __init__(self, instance: str):
        with SQLiteStore.in_folder(instance) as store:
            self.model = Sequential.from_bytes(store.load_version().weights)
        self.points = np.asarray(drawing_points())
        self.i = 0

    def __call__(self) -> float:
        self.i += 1
        k = 1 + self.i % len(self.points)
        t0 = time.perf_counter()
        image = to_float(to_uint8(render([self.points[:k]])))
        self.model.predict_proba(image[None])
        return time.perf_counter() - t0


class BusyInside:
    """A connection with the inside view on, drawing without pause on its own thread."""

    def __init__(self, port: int):
        self.ws = WSClient(f"ws://127.0.0.1:{port}/ws", timeout=60)
        self.ws.recv_type("hello")
        self.ws.request({"type": "inside", "on": True})
        self.points = drawing_points()
        self.running = threading.Event()
        self.answered = 0
        self.thread = threading.Thread(target=self._draw, daemon=True)
        self.thread.start()

    def _draw(self) -> None:
        i = 0
        while True:
            self.running.wait()
            k = i % len(self.points)
            i += 1
            message = ({"type": "clear"} if k == 0 else
                       {"type": "stroke", "points": [self.points[k]]})
            if self.ws.request(message).get("saliency", 0) is not None:
                self.answered += 1


def measure(port: int, messages: int, teaches: int, block: int,
            compute: Compute) -> dict[str, list[float]]:
    """Return the latencies (seconds) of echo, predict, inside and teach round trips."""
    echo = WSClient(f"ws://127.0.0.1:{port}/ws/echo", timeout=60)
    live = WSClient(f"ws://127.0.0.1:{port}/ws", timeout=60)
    hello = live.recv()
    assert hello["type"] == "hello", hello
    looking = WSClient(f"ws://127.0.0.1:{port}/ws", timeout=60)
    looking.recv_type("hello")
    looking.request({"type": "inside", "on": True})
    busy = BusyInside(port)
    points = drawing_points()
    times: dict[str, list[float]] = {"echo": [], "predict": [], "inside": [], "beside": [],
                                     "teach": [], "compute": []}
    seq = 0
    i = 0

    def stroke_message() -> str:
        nonlocal seq, i
        seq += 1
        k = i % (len(points) + 1)
        i += 1
        if k == len(points):  # the drawing is done: start again
            return json.dumps({"type": "clear", "seq": seq})
        return json.dumps({"type": "stroke", "points": [points[k]], "seq": seq})

    def timed_predictions(ws: WSClient, name: str) -> None:
        """``block`` strokes on ``ws``, each timed until its own prediction comes back."""
        for _ in range(block):
            text = stroke_message()
            want = seq
            t0 = time.perf_counter()
            ws.send_text(text)
            while True:
                reply = ws.recv()
                if reply.get("type") == "prediction" and reply.get("seq") == want:
                    break
            times[name].append(time.perf_counter() - t0)

    # Warm up both paths (first prediction loads caches, first echo warms the thread).
    for _ in range(50):
        echo.send_text(stroke_message())
        echo.recv_raw()
        live.send_text(stroke_message())
        while live.recv().get("seq") != seq:
            pass

    while len(times["predict"]) < messages:
        for _ in range(block):
            text = stroke_message()
            t0 = time.perf_counter()
            echo.send_text(text)
            echo.recv_raw()
            times["echo"].append(time.perf_counter() - t0)
        timed_predictions(live, "predict")
        timed_predictions(looking, "inside")
        busy.running.set()
        timed_predictions(live, "beside")
        busy.running.clear()
        for _ in range(block):
            times["compute"].append(compute())

    outcomes = {"taught": 0, "rejected": 0}
    for _ in range(teaches):
        live.send_text(json.dumps({"type": "ink", "strokes": [points], "seq": seq + 1}))
        seq += 2
        want = seq
        t0 = time.perf_counter()
        live.send_text(json.dumps({"type": "teach", "label": 2, "seq": want}))
        while True:
            reply = live.recv()
            if reply.get("seq") == want:
                break
        times["teach"].append(time.perf_counter() - t0)
        kind = reply["type"] if reply["type"] == "taught" else reply.get("code", "?")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    echo.close()
    live.close()
    looking.close()
    times["outcomes"] = outcomes
    times["busy_answers"] = busy.answered
    return times


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="predictions (and echoes)")
    parser.add_argument("--teaches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["gevent", "gthread"], default="gevent")
    parser.add_argument("--block", type=int, default=100, help="messages per alternating block")
    parser.add_argument("--timeout", type=float, default=600, help="give up after (seconds)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="inkling-bench-") as folder:
        started = time.monotonic()
        server = Gunicorn(os.path.join(folder, "instance"), workers=args.workers,
                          INKLING_BENCH_ECHO=1, INKLING_RATE_LIMITS="off",
                          INKLING_WORKER_CLASS=args.worker_class).wait_ready()
        watchdog = threading.Timer(args.timeout, server.kill9)
        watchdog.start()
        try:
            compute = Compute(os.path.join(folder, "instance"))
            times = measure(server.port, args.messages, args.teaches, args.block, compute)
        finally:
            watchdog.cancel()
            server.stop()
        elapsed = time.monotonic() - started

    echo50, echo99 = percentiles(times["echo"])
    pred50, pred99 = percentiles(times["predict"])
    ins50, ins99 = percentiles(times["inside"])
    bes50, bes99 = percentiles(times["beside"])
    print(f"gunicorn {args.worker_class}, {args.workers} workers, loopback; "
          f"{len(times['predict'])} predictions and {len(times['echo'])} echoes in "
          f"alternating blocks of {args.block}")
    print(f"  echo     round trip  p50 {echo50:8.3f} ms   p99 {echo99:8.3f} ms")
    print(f"  predict  round trip  p50 {pred50:8.3f} ms   p99 {pred99:8.3f} ms")
    print(f"  ratio predict/echo   p50 {pred50 / echo50:8.2f} x    "
          f"(prediction costs {pred50 - echo50:.3f} ms more at the median)")
    print(f"  inside   round trip  p50 {ins50:8.3f} ms   p99 {ins99:8.3f} ms   "
          f"(ratio to predict {ins50 / pred50:.2f} x)")
    print(f"  predict beside a busy inside client  p50 {bes50:8.3f} ms   p99 {bes99:8.3f} ms"
          f"   (ratio to predict alone {bes50 / pred50:.2f} x; it answered "
          f"{times['busy_answers']} inside views meanwhile)")
    comp50, comp99 = percentiles(times["compute"])
    print(f"  render + forward     p50 {comp50:8.3f} ms   p99 {comp99:8.3f} ms   "
          f"(in this process, same drawings, no network)")
    print(f"  web layer adds about {pred50 - echo50 - comp50:.3f} ms at the median "
          f"(predict - echo - render/forward)")
    if times["teach"]:
        t50, t99 = percentiles(times["teach"])
        print(f"  teach    latency     p50 {t50:8.3f} ms   p99 {t99:8.3f} ms   "
              f"({len(times['teach'])} teaches: {times['outcomes']})")
    print(f"  at the end: {common.header()}; total {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
