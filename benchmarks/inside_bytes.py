"""Bytes per prediction on the wire, with and without the inside view, as browsers connect.

    python benchmarks/inside_bytes.py [--drawings 20] [--points 4] [--seed 3] [--repeat 3]

A browser's WebSocket asks for permessage-deflate, and the server (simple-websocket)
grants it; this benchmark's clients connect the same way (``websockets``,
``compression="deflate"``) and, for comparison, without compression.  Each client draws
the same styled digits, ``--points`` points a frame, each prediction awaited, once with
the inside view off and once on.  The bytes are the server's own count of what it sent
(``inkling_websocket_sent_bytes_total`` on ``/metrics``, after compression), divided by
the predictions answered; beside it, the JSON size of the answers received and the
server's CPU time per prediction (the gunicorn processes' own, from ``/proc``).
Aim (issue 23): with the inside view open, at most 10 KB a prediction.  One gunicorn
worker on loopback.
"""

from __future__ import annotations

import json
import tempfile

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from serverstats import cpu_seconds, delta, scrape  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from network.training import styles  # noqa: E402


def draw(port: int, drawings, points: int, inside: bool, compression) -> tuple[int, int]:
    """Stream the drawings on one connection; (predictions answered, JSON bytes received)."""
    answered = received = 0
    with connect(f"ws://127.0.0.1:{port}/ws", compression=compression,
                 open_timeout=30, max_size=None) as ws:
        json.loads(ws.recv(timeout=30))  # hello
        if inside:
            ws.send(json.dumps({"type": "inside", "on": True}))
            ws.recv(timeout=30)
        for strokes in drawings:
            for stroke in strokes:
                for start in range(0, len(stroke), points):
                    ws.send(json.dumps({"type": "stroke",
                                        "points": stroke[start:start + points].tolist()}))
                    text = ws.recv(timeout=30)
                    received += len(text.encode())
                    answered += 1
                ws.send(json.dumps({"type": "end"}))
                received += len(ws.recv(timeout=30).encode())
                answered += 1
            ws.send(json.dumps({"type": "clear"}))
            ws.recv(timeout=30)
    return answered, received


def measure(server, drawings, points: int, inside: bool, compression) -> tuple:
    """(predictions, JSON bytes received, bytes the server sent, server CPU seconds)."""
    before, cpu = scrape(server.port), cpu_seconds(server.pids())
    answered, received = draw(server.port, drawings, points, inside, compression)
    cpu = cpu_seconds(server.pids()) - cpu
    sent = delta(before, scrape(server.port), "inkling_websocket_sent_bytes_total")
    return answered, received, sent, cpu


def main(argv: list[str] | None = None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--drawings", type=int, default=20)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(common.header())
    rng = np.random.default_rng(args.seed)
    drawings = [[np.asarray(s, dtype=np.float64) for s in d.strokes]
                for d in styles.styled_drawings(args.drawings, rng)]
    with tempfile.TemporaryDirectory(prefix="inkling-bytes-") as folder:
        server = Gunicorn(folder + "/instance", workers=1, INKLING_RATE_LIMITS="off")
        server.wait_ready()
        try:
            print(f"{args.drawings} styled drawings, {args.points} points a frame, "
                  "one gunicorn worker\n")
            print(f"{'inside view':<12} {'compression':<12} {'predictions':>11} "
                  f"{'JSON KB/prediction':>19} {'wire KB/prediction':>19} {'server CPU ms':>15}"
                  f"   (medians of {args.repeat} runs each)")
            draw(server.port, drawings[:2], args.points, True, None)  # warm up, unmeasured
            draw(server.port, drawings[:2], args.points, False, "deflate")
            rows: dict = {}
            for _ in range(args.repeat):  # alternating, so a busy moment hits all alike
                for inside in (False, True):
                    for compression in ("deflate", None):
                        rows.setdefault((inside, compression), []).append(
                            measure(server, drawings, args.points, inside, compression))
            for (inside, compression), runs in rows.items():
                answered, received, sent, cpu = np.median(np.array(runs), axis=0)
                print(f"{'open' if inside else 'closed':<12} {compression or 'none':<12} "
                      f"{answered:>11.0f} {received / answered / 1000:>19.2f} "
                      f"{sent / answered / 1000:>19.2f} {1000 * cpu / answered:>15.2f}")
        finally:
            server.stop()
    print(common.header())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
