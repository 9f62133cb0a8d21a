"""Round trip over /ws under gunicorn: a prediction against a bare echo, and a teach.

    python benchmarks/roundtrip.py [--messages 2000] [--teaches 30] [--workers 2]

Starts the README's ``gunicorn`` in the repository root on a free loopback port with a
fresh instance in a temporary folder and ``INKLING_BENCH_ECHO=1`` (which adds the bare
echo WebSocket ``/ws/echo`` on the same Flask + flask-sock + gunicorn stack), then:

1. *echo*: send a stroke message to /ws/echo and wait for it to come back;
2. *predict*: send the same kind of stroke message to /ws and wait for the prediction
   carrying its seq (one message in flight, so nothing is folded);

alternating blocks of the two, so both see the same machine load; then
3. *teach*: ``ink`` + ``teach`` and the time from sending the teach to its ``taught``;
4. *compute*: render + forward pass of the same drawings in this process (a third
   block in each round), so predict - echo - compute estimates what the web layer adds.

It prints p50/p99 of each and the same-run ratio predict/echo, then stops the server.
Loopback only, bounded by --messages/--teaches and --timeout; stops by itself.

The trade-off in the client: a tiny synchronous wsproto client (no thread hand-off, as
simple_websocket has) so the echo baseline measures the server's stack, not the client's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time

# One BLAS thread, as gunicorn.conf.py gives the workers: the in-process compute
# baseline must run the forward pass the way the server does.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
from gunicorn_server import Server  # noqa: E402
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import (  # noqa: E402
    AcceptConnection,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)


class Client:
    """A minimal synchronous WebSocket client (text frames only)."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 60.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[str] = []
        self.parts: list[str] = []
        self.sock.sendall(self.ws.send(Request(host=f"{host}:{port}", target=path)))
        while True:
            self.ws.receive_data(self.sock.recv(65536))
            events = list(self.ws.events())
            if any(isinstance(e, AcceptConnection) for e in events):
                self._handle(events)
                break
            if events:
                raise ConnectionError(f"handshake refused: {events[0]!r}")

    def _handle(self, events) -> None:
        for event in events:
            if isinstance(event, TextMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    self.pending.append("".join(self.parts))
                    self.parts = []
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise ConnectionError(f"closed by the server: {event.code}")

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def recv(self) -> str:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection lost")
            self.ws.receive_data(data)
            self._handle(self.ws.events())
        return self.pending.pop(0)

    def close(self) -> None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        except Exception:
            pass
        self.sock.close()


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
        from network.model import Sequential
        from webapp.store import SQLiteStore

        with SQLiteStore.in_folder(instance) as store:
            self.model = Sequential.from_bytes(store.load_version().weights)
        self.points = np.asarray(drawing_points())
        self.i = 0

    def __call__(self) -> float:
        from network.ink import render, to_uint8

        self.i += 1
        k = 1 + self.i % len(self.points)
        t0 = time.perf_counter()
        image = to_uint8(render([self.points[:k]])).astype(np.float32) / np.float32(255)
        self.model.predict_proba(image[None])
        return time.perf_counter() - t0


def measure(port: int, messages: int, teaches: int, block: int,
            compute: Compute) -> dict[str, list[float]]:
    """Return the latencies (seconds) of echo, predict and teach round trips."""
    echo = Client("127.0.0.1", port, "/ws/echo")
    live = Client("127.0.0.1", port, "/ws")
    hello = json.loads(live.recv())
    assert hello["type"] == "hello", hello
    points = drawing_points()
    times: dict[str, list[float]] = {"echo": [], "predict": [], "teach": [], "compute": []}
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

    # Warm up both paths (first prediction loads caches, first echo warms the thread).
    for _ in range(50):
        echo.send(stroke_message())
        echo.recv()
        live.send(stroke_message())
        while json.loads(live.recv()).get("seq") != seq:
            pass

    while len(times["predict"]) < messages:
        for _ in range(block):
            text = stroke_message()
            t0 = time.perf_counter()
            echo.send(text)
            echo.recv()
            times["echo"].append(time.perf_counter() - t0)
        for _ in range(block):
            text = stroke_message()
            want = seq
            t0 = time.perf_counter()
            live.send(text)
            while True:
                reply = json.loads(live.recv())
                if reply.get("type") == "prediction" and reply.get("seq") == want:
                    break
            times["predict"].append(time.perf_counter() - t0)
        for _ in range(block):
            times["compute"].append(compute())

    outcomes = {"taught": 0, "rejected": 0}
    for _ in range(teaches):
        live.send(json.dumps({"type": "ink", "strokes": [points], "seq": seq + 1}))
        seq += 2
        want = seq
        t0 = time.perf_counter()
        live.send(json.dumps({"type": "teach", "label": 2, "seq": want}))
        while True:
            reply = json.loads(live.recv())
            if reply.get("seq") == want:
                break
        times["teach"].append(time.perf_counter() - t0)
        kind = reply["type"] if reply["type"] == "taught" else reply.get("code", "?")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    echo.close()
    live.close()
    times["outcomes"] = outcomes
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="predictions (and echoes)")
    parser.add_argument("--teaches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--block", type=int, default=100, help="messages per alternating block")
    parser.add_argument("--timeout", type=float, default=600, help="give up after (seconds)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="inkling-bench-") as folder:
        started = time.monotonic()
        server = Server(os.path.join(folder, "instance"), args.workers, min(args.timeout, 180),
                        INKLING_BENCH_ECHO="1")
        watchdog = threading.Timer(args.timeout, server.kill)
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
    print(f"gunicorn gthread, {args.workers} workers, loopback; {len(times['predict'])} "
          f"predictions and {len(times['echo'])} echoes in alternating blocks of {args.block}")
    print(f"  echo     round trip  p50 {echo50:8.3f} ms   p99 {echo99:8.3f} ms")
    print(f"  predict  round trip  p50 {pred50:8.3f} ms   p99 {pred99:8.3f} ms")
    print(f"  ratio predict/echo   p50 {pred50 / echo50:8.2f} x    "
          f"(prediction costs {pred50 - echo50:.3f} ms more at the median)")
    comp50, comp99 = percentiles(times["compute"])
    print(f"  render + forward     p50 {comp50:8.3f} ms   p99 {comp99:8.3f} ms   "
          f"(in this process, same drawings, no network)")
    print(f"  web layer adds about {pred50 - echo50 - comp50:.3f} ms at the median "
          f"(predict - echo - render/forward)")
    if times["teach"]:
        t50, t99 = percentiles(times["teach"])
        print(f"  teach    latency     p50 {t50:8.3f} ms   p99 {t99:8.3f} ms   "
              f"({len(times['teach'])} teaches: {times['outcomes']})")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"total {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
