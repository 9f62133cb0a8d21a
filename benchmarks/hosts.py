"""Many hosts: teach throughput and version fan-out, SQLite on one host against
PostgreSQL on two, in the same run.

    python benchmarks/hosts.py [--teachers 8] [--seconds 20] [--fanout 30] [--workers 2]

Two set-ups, one after the other, each started fresh in a temporary folder:

- *SQLite, one host*: the README's ``gunicorn`` (``--workers`` workers) on a new
  instance folder (WAL, synchronous=FULL);
- *PostgreSQL, two hosts*: two such gunicorns, each with its own instance folder, on a
  throwaway PostgreSQL server of Debian's (``tests/support/postgres.py``; fsync and
  synchronous_commit on, as deployed), on loopback.

and two figures for each:

1. *teach throughput*: ``--teachers`` connections (split evenly across the hosts) draw
   and teach in a loop for ``--seconds``; acknowledged teaches (``taught``) per second.
   Every teach is learned (no rate limits, no agreement needed, the guard's limits far
   away), so each one makes a version: the figure is the cost of the serialised step
   (learn, guard, commit) plus what the hosts pay to follow each other.
2. *version fan-out*: one connection on host A teaches, ``--listeners`` connections on
   host B (with one host: other connections of the same host, on either worker) wait
   for the ``model`` message; the time from the ``taught`` acknowledgement to each
   ``model``, p50/p99 over ``--fanout`` teaches, one at a time, each after a random
   pause of up to half a second (an idle socket looks for news of the model every
   0.5 s, webapp/live.py's WAKE: back-to-back teaches would all land at the same point
   of that cycle and measure it, not the spread a person sees; since versions are pushed
   to sockets, the pause only keeps the teaches apart).

Loopback only, bounded by --seconds/--fanout and --timeout; stops by itself.  The
machine is shared: compare the two set-ups of one run, not runs of different days.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time

import common
from setups import deployments  # noqa: E402
from support.drawings import draw_digit  # noqa: E402
from support.postgres import missing  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import WSClient  # noqa: E402

LEARN_EVERYTHING = {
    "INKLING_RATE_LIMITS": "off", "INKLING_AGREE_SOURCES": "1",
    "INKLING_GUARD_DROP": "100", "INKLING_GUARD_STEP": "100", "INKLING_GUARD_CLASS_DROP": "100",
    "INKLING_GUARD_UNSURE_DROP": "100", "INKLING_GUARD_ECE_RISE": "100"}


def connect(host: Gunicorn) -> WSClient:
    ws = WSClient(host.ws_url, timeout=120)
    assert ws.recv()["type"] == "hello"
    return ws


def teach(ws: WSClient, digit: int, seq: int) -> dict:
    """Draw and teach ``digit``; the teach's reply (``taught`` or ``error``)."""
    ws.send_json({"type": "ink", "strokes": draw_digit(digit), "seq": seq})
    ws.send_json({"type": "teach", "label": digit, "seq": seq + 1})
    reply, _ = ws.recv_until(lambda m: m.get("seq") == seq + 1
                             and m["type"] in ("taught", "error"), 120)
    return reply


def throughput(hosts: list[Gunicorn], teachers: int, seconds: float) -> dict:
    """Acknowledged teaches per second of ``teachers`` connections teaching at once."""
    sockets = [connect(hosts[i % len(hosts)]) for i in range(teachers)]
    for i, ws in enumerate(sockets):  # warm every worker's learner up first
        teach(ws, i % 10, 1)
    go = threading.Barrier(teachers + 1)
    counts = {"taught": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = [0.0]

    def run(i: int, ws: WSClient) -> None:
        go.wait(60)
        seq = 1
        while time.monotonic() < stop_at[0]:
            seq += 2
            reply = teach(ws, (i + seq) % 10, seq)
            with lock:
                counts["taught" if reply["type"] == "taught" else "errors"] += 1

    threads = [threading.Thread(target=run, args=(i, ws), daemon=True)
               for i, ws in enumerate(sockets)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    stop_at[0] = started + seconds
    go.wait(60)
    for thread in threads:
        thread.join(seconds + 300)
    elapsed = time.monotonic() - started
    for ws in sockets:
        ws.close()
    return {**counts, "seconds": elapsed, "per_second": counts["taught"] / elapsed}


def fanout(teacher_host: Gunicorn, listener_host: Gunicorn, listeners: int,
           teaches: int) -> list[float]:
    """Seconds from a ``taught`` on one host to ``model`` on each listener of the other."""
    teacher = connect(teacher_host)
    sockets = [connect(listener_host) for _ in range(listeners)]
    delays = []
    pauses = random.Random(0)
    for k in range(teaches):
        threading.Event().wait(pauses.uniform(0.0, 0.5))  # a random phase of WAKE
        reply = teach(teacher, k % 10, 2 * k + 1)
        acknowledged = time.perf_counter()
        assert reply["type"] == "taught", reply
        for ws in sockets:
            ws.recv_until(lambda m, v=reply["model_version"]: m["type"] == "model"
                          and m["model_version"] >= v, 30)
            delays.append(time.perf_counter() - acknowledged)
    for ws in [teacher, *sockets]:
        ws.close()
    return delays


def measure(name: str, hosts: list[Gunicorn], args) -> dict:
    rate = throughput(hosts, args.teachers, args.seconds)
    delays = fanout(hosts[0], hosts[-1], args.listeners, args.fanout)
    return {"name": name, **rate, "p50": common.percentile_ms(delays, 50),
            "p99": common.percentile_ms(delays, 99), "n": len(delays)}


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--teachers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="of teaching, per set-up")
    parser.add_argument("--fanout", type=int, default=30, help="teaches timed for fan-out")
    parser.add_argument("--listeners", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--timeout", type=float, default=900, help="give up after (seconds)")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    print(common.header())
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inkling-bench-") as folder:
        for name, hosts in deployments(folder, args.workers, LEARN_EVERYTHING, args.timeout):
            results.append(measure(name, hosts, args))

    print(f"{args.teachers} teachers for {args.seconds:g} s; fan-out over {args.fanout} "
          f"teaches x {args.listeners} listeners; gunicorn gevent, {args.workers} workers "
          "per host, loopback")
    print(f"  {'set-up':<20} {'teaches/s':>9} {'taught':>7} {'errors':>6}   "
          f"{'fan-out p50':>11} {'p99':>9}")
    for r in results:
        print(f"  {r['name']:<20} {r['per_second']:>9.2f} {r['taught']:>7} {r['errors']:>6}   "
              f"{r['p50']:>8.0f} ms {r['p99']:>6.0f} ms")
    sqlite, postgres = results
    print(f"  PostgreSQL/SQLite: throughput {postgres['per_second'] / sqlite['per_second']:.2f}"
          f" x, fan-out p50 {postgres['p50'] / sqlite['p50']:.2f} x")
    print(f"  at the end: {common.header()}; total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
