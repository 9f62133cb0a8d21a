"""Floods: clients that send large ink frames as fast as TCP takes them, and one person.

    python benchmarks/flood.py [--flooders 10] [--seconds 60] [--points 3000]
                               [--worker-class gevent|gthread]

Starts the README's gunicorn with one worker on a free loopback port (so every socket
lands on the worker whose memory is measured), connects ``--flooders`` clients that
send ``ink`` frames of ``--points`` points each without reading anything, and one
person who draws (a stroke message, then waits for its prediction) all the while.

Printed every 10 s and at the end: the worker's resident memory (VmRSS), the person's
round-trip p50 and max; and how many flooders the server dropped (a client that never
reads is dropped after ``INKLING_SEND_TIMEOUT``).  Issue 10's aim: memory bounded
whatever the clients send (before the redesign it grew about 22 MB/s).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

import common
from support.servers import Gunicorn  # noqa: E402  (after common: BLAS threads are pinned first)
from support.wsclient import Closed, WSClient  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def flood(client: WSClient, text: str, stop: float, dropped: list) -> None:
    """Send the message until ``stop`` without reading; note if the server hung up.

    A send waits while TCP is full: the server reads this socket slower, as it should.
    "Without reading": the client library stops reading once 16 messages wait unread.
    """
    while time.monotonic() < stop:
        try:
            client.send_text(text)
        except Closed:
            dropped.append(1)
            return


def main(argv: list[str] | None = None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--flooders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--points", type=int, default=3000)
    parser.add_argument("--worker-class", choices=["gevent", "gthread"], default="gevent")
    args = parser.parse_args(argv)
    print(common.header())

    points = [[float(i % 280), float((7 * i) % 280)] for i in range(args.points)]
    with tempfile.TemporaryDirectory(prefix="inkling-flood-") as folder:
        server = Gunicorn(os.path.join(folder, "instance"), workers=1,
                          INKLING_RATE_LIMITS="off",
                          INKLING_WORKER_CLASS=args.worker_class).wait_ready()
        worker = min(server.worker_pids())
        try:
            person = WSClient(server.ws_url, timeout=60)
            person.recv_type("hello")
            for i in range(20):  # warm up: the first predictions load caches
                person.request({"type": "stroke", "points": [[i, 5.0]]})
            before = rss_mib(worker)
            flooders = [WSClient(server.ws_url, timeout=60) for _ in range(args.flooders)]
            for client in flooders:
                client.recv_type("hello")
            text = json.dumps({"type": "ink", "strokes": [points]})
            print(f"gunicorn {args.worker_class}, 1 worker; {args.flooders} flooders sending "
                  f"{len(text) / 1024:.0f} KiB ink frames, 1 person drawing; worker RSS "
                  f"before {before:.0f} MiB")
            start = time.monotonic()
            stop = start + args.seconds
            dropped: list = []
            threads = [threading.Thread(target=flood, args=(c, text, stop, dropped),
                                        daemon=True) for c in flooders]
            for thread in threads:
                thread.start()
            latencies, peak, mark = [], before, start + 10
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                person.request({"type": "stroke", "points": [[len(latencies) % 200, 5.0]]})
                latencies.append(time.perf_counter() - t0)
                peak = max(peak, rss_mib(worker))
                if time.monotonic() >= mark:
                    mark += 10
                    print(f"  t={time.monotonic() - start:4.0f} s  RSS {rss_mib(worker):6.0f} MiB"
                          f"  person p50 {common.percentile_ms(latencies, 50):6.1f} ms"
                          f"  max {1e3 * max(latencies):6.0f} ms")
            for thread in threads:
                thread.join(5)
            after = rss_mib(worker)
            person.close()
            for client in flooders:
                client.close()
        finally:
            server.stop()
    print(f"worker RSS {before:.0f} -> {after:.0f} MiB (peak {peak:.0f}); "
          f"{(after - before) / args.seconds:+.2f} MiB/s; the person: "
          f"{len(latencies)} round trips, p50 {common.percentile_ms(latencies, 50):.1f} ms, "
          f"p99 {common.percentile_ms(latencies, 99):.1f} ms; flooders dropped by the server: "
          f"{len(dropped)} of {args.flooders}")
    print(f"at the end: {common.header()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
