"""Writers' teaches as served: read your own writes on every worker, the teach's
acknowledgement over the wire, and many writers teaching at once.

    python benchmarks/writers_served.py [--writers 16] [--seconds 20] [--just-taught 40]
                                        [--workers 2]

Two set-ups, each started fresh in a temporary folder: *SQLite, one host* and
*PostgreSQL, two hosts* (a throwaway server of Debian's, fsync on), each host the
README's gunicorn with ``--workers`` workers, ``INKLING_TRUST=public`` (so a writer's
correction waits for an operator: it changes only the writer's own model) and rate
limits off.  The drawings are the simulated writers' of ``benchmarks/writers.py`` (their
strokes; the server renders them, without their pens' quirks), each taught as a
correction: the digit meant where the shared model misreads it, else its second choice.

1. *Just taught*: one writer at a time on the first host draws and teaches a
   correction; the time from sending ``teach`` to ``taught`` is the
   acknowledgement (p50/p99).  Right after ``taught``, the same strokes go to
   ``POST /api/predict`` with the writer's id on new connections until every worker of
   every host has answered once: the share of those answers that read the taught label.
2. *Throughput*: ``--writers`` connections, each its own writer, split across the
   hosts, teach corrections in a loop for ``--seconds``: acknowledged teaches a second,
   and the gunicorn processes' CPU time per teach (its drawing's prediction included;
   PostgreSQL's own is not).

Loopback only; stops by itself.  Compare the set-ups of one run, not runs of different
days (the load average is printed before and after).
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
import threading
import time

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from serverstats import cpu_seconds  # noqa: E402
from setups import deployments  # noqa: E402
from support.mnist_files import MNIST_DIR  # noqa: E402
from support.postgres import missing  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import WSClient  # noqa: E402
from writers import WRITERS, write  # noqa: E402

from network.training.mnist import load_mnist  # noqa: E402
from network.training.styles import traced_bases  # noqa: E402

PUBLIC = {"INKLING_TRUST": "public", "INKLING_RATE_LIMITS": "off"}


def strokes_json(canvas) -> list:
    return [np.round(np.asarray(s, dtype=float), 1).tolist() for s in canvas]


def post_predict(host: Gunicorn, body: dict) -> tuple[int, dict]:
    """(worker pid, answer) of POST /api/predict on a new connection to ``host``."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=60)
    try:
        connection.request("POST", "/api/predict", json.dumps(body),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()  # accepted and answering: a worker holds it
        pid = host.worker_of(connection.sock)
        return pid, json.loads(response.read())
    finally:
        connection.close()


def corrections(host: Gunicorn, count: int, seed: int) -> list[tuple[str, int, list]]:
    """(writer, label, strokes) of ``count`` corrections: the digit the writer meant where
    the shared model misreads it, else the shared model's second choice (the writer
    meant that one: a correction all the same)."""
    rng = np.random.default_rng(seed)
    train_x, train_y = load_mnist(MNIST_DIR, "train")
    bases = traced_bases(train_x, train_y, 50, rng)
    found = []
    while len(found) < count:
        writer = WRITERS[len(found) % len(WRITERS)]
        digit = int(rng.integers(10))
        strokes = strokes_json(write(writer, digit, rng, bases)[0])
        _, answer = post_predict(host, {"strokes": strokes})
        if answer["digit"] == digit:
            digit = int(np.argsort(answer["probabilities"])[-2])
        found.append((writer.name, digit, strokes))
    return found


def teach(ws: WSClient, strokes: list, label: int, seq: int) -> tuple[dict, float]:
    """Draw and teach; (the reply to the teach, seconds from sending it to the reply)."""
    ws.send_json({"type": "ink", "strokes": strokes, "seq": seq})
    ws.recv_until(lambda m: m.get("seq") == seq and m["type"] in ("prediction", "error"), 120)
    started = time.perf_counter()
    ws.send_json({"type": "teach", "label": label, "seq": seq + 1, "id": f"teach-{seq:04d}"})
    reply, _ = ws.recv_until(lambda m: m.get("seq") == seq + 1
                             and m["type"] in ("taught", "error"), 120)
    return reply, time.perf_counter() - started


def just_taught(hosts: list[Gunicorn], drawings, workers: int) -> dict:
    """Acknowledgement times, and the share of every worker's answers right after it."""
    acks, right, answers = [], 0, 0
    for n, (writer, digit, strokes) in enumerate(drawings):
        ws = WSClient(hosts[0].ws_url + f"?writer=w-{writer}-{n:04d}", timeout=120)
        ws.recv_type("hello")
        reply, seconds = teach(ws, strokes, digit, 1)
        ws.close()
        assert reply["type"] == "taught", reply
        acks.append(seconds)
        for host in hosts:
            seen = set()
            for _ in range(60):
                pid, answer = post_predict(host, {"strokes": strokes,
                                                  "writer": f"w-{writer}-{n:04d}"})
                if pid not in seen:
                    seen.add(pid)
                    answers += 1
                    right += answer["digit"] == digit
                if len(seen) == workers:
                    break
    return {"acks": acks, "right": right, "answers": answers}


def throughput(hosts: list[Gunicorn], drawings, writers: int, seconds: float) -> dict:
    """Acknowledged teaches a second of ``writers`` writers teaching corrections at once."""
    sockets = []
    for i in range(writers):
        ws = WSClient(hosts[i % len(hosts)].ws_url + f"?writer=busy-writer-{i:04d}", timeout=120)
        ws.recv_type("hello")
        sockets.append(ws)
    go = threading.Barrier(writers + 1)
    counts = {"taught": 0, "errors": 0, "shared": 0}
    lock = threading.Lock()
    stop_at = [0.0]

    def run(i: int, ws: WSClient) -> None:
        go.wait(60)
        seq, k = 1, i
        while time.monotonic() < stop_at[0]:
            _, digit, strokes = drawings[k % len(drawings)]
            reply, _ = teach(ws, strokes, digit, seq)
            seq, k = seq + 2, k + writers
            with lock:
                counts["taught" if reply["type"] == "taught" else "errors"] += 1
                counts["shared"] += reply.get("shared", {}).get("status") == "accepted"

    threads = [threading.Thread(target=run, args=(i, ws), daemon=True)
               for i, ws in enumerate(sockets)]
    for thread in threads:
        thread.start()
    pids = [pid for host in hosts for pid in host.pids()]
    cpu = cpu_seconds(pids)
    started = time.monotonic()
    stop_at[0] = started + seconds
    go.wait(60)
    for thread in threads:
        thread.join(seconds + 300)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu
    for ws in sockets:
        ws.close()
    return {**counts, "per_second": counts["taught"] / elapsed,
            "cpu_ms": 1000 * cpu / max(1, counts["taught"])}


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="of teaching, per set-up")
    parser.add_argument("--just-taught", type=int, default=40, help="drawings taught one by one")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900, help="give up after (seconds)")
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    print(common.header())
    started, results = time.monotonic(), []
    with tempfile.TemporaryDirectory(prefix="inkling-bench-") as folder:
        for name, hosts in deployments(folder, args.workers, PUBLIC, args.timeout):
            drawings = corrections(hosts[0], max(args.just_taught, args.writers), args.seed)
            served = just_taught(hosts, drawings[:args.just_taught], args.workers)
            rate = throughput(hosts, drawings, args.writers, args.seconds)
            results.append({"name": name, **served, **rate})

    print(f"{args.just_taught} corrections taught one by one, then {args.writers} "
          f"writers teaching for {args.seconds:g} s; {args.workers} gunicorn gevent workers "
          "per host, INKLING_TRUST=public, loopback")
    print(f"  {'set-up':<20} {'ack p50':>8} {'p99':>8}  {'just taught read right':>24}  "
          f"{'teaches/s':>9} {'errors':>6} {'gunicorn CPU/teach':>18}")
    for r in results:
        print(f"  {r['name']:<20} {common.percentile_ms(r['acks'], 50):>5.1f} ms "
              f"{common.percentile_ms(r['acks'], 99):>5.1f} ms  "
              f"{r['right']:>9}/{r['answers']:<3} ({100 * r['right'] / r['answers']:5.1f}%)  "
              f"{r['per_second']:>9.1f} {r['errors']:>6} {r['cpu_ms']:>15.1f} ms")
    if len(results) == 2:
        print(f"  PostgreSQL/SQLite throughput: "
              f"{results[1]['per_second'] / results[0]['per_second']:.2f} x")
    print(f"  at the end: {common.header()}; total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
