"""Load: N people drawing at 60 updates a second, some teaching, against the real gunicorn.

    python benchmarks/load.py [--clients 50] [--seconds 60] [--teachers 5] [--workers 2]
                              [--idle 0] [--worker-class gevent|gthread]
                              [--learning thread|process] [--unfinished MODEL]

Starts the README's ``gunicorn`` in the repository root on a free loopback port
(``INKLING_BIND=127.0.0.1:<port>``, ``INKLING_WORKERS``, a fresh instance in a temporary
folder, ``INKLING_RATE_LIMITS=off``, the default poisoning guard), connects every client,
lets them draw for a short warm-up and then for ``--seconds`` measured seconds, and stops
the server.  Loopback only; bounded by a watchdog; stops by itself.

Each client draws like a person: digits made of strokes, the pen sampled once per
animation frame (60 Hz), each frame sending the one to four points the pen crossed as a
``stroke`` message, ``end`` at pen-up, a pause between strokes, a look at the answer
after the last stroke (the client waits for the reply carrying the ``end``'s own seq),
then ``clear``.  ``--teachers`` of them also send ``teach`` with the digit's label every
few seconds and wait for its answer.

Measured (only for messages sent after the warm-up):

- prediction latency: from sending an ink message to the first prediction whose seq is
  at least its own (the protocol folds: a client that waits for seq n accepts any
  prediction with seq >= n), p50 and p99;
- lost acknowledgements: a pen-up not answered by its own seq, a teach not answered by
  ``taught`` (or a ``rejected`` from the guard) within 10 s, ink never answered at all;
- errors: error messages other than ``rejected``, closed connections, tracebacks in
  the server's log;
- messages per second both ways, the server's CPU (utime + stime of the master and its
  workers, /proc) per prediction sent, its memory, and this client's own CPU (client
  and server share the machine's cores); where a prediction's time went inside the
  server (``benchmarks/serverstats.py``: the server's /metrics, scraped at both ends).

With ``--teachers`` > 0 the same crowd runs first with nobody teaching, on a fresh
server, and the two are compared.  With ``--idle N``, N idle WebSockets (50 per
loopback address from 127.0.0.10) that read and never send are opened first.

The client is one asyncio process driving the tests' WebSocket client
(``support.wsclient.connect_async``: websockets' asyncio client); its own CPU and timer
lag are printed, so a slow client shows as such.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from penwalk import FRAME, pen_frames  # noqa: E402
from serverstats import cpu_seconds, memory_kib, scrape, stage_line, stages  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import AsyncConnection, connect_async  # noqa: E402

ANSWER_TIMEOUT = 10.0
"""Seconds a client waits for an answer before counting it lost."""


@dataclass
class Stats:
    """What every client saw; only messages sent after ``measure_from`` are counted."""

    measure_from: float = float("inf")
    latencies: list[float] = field(default_factory=list)
    teach_latencies: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    predictions: int = 0
    pen_ups: int = 0
    pen_ups_answered: int = 0
    teaches: int = 0
    taught: int = 0
    rejected: int = 0
    lost: int = 0
    unanswered_ink: int = 0
    errors: list[str] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)


class Drawer:
    """One person: draws digits at 60 Hz on one connection; a teacher also teaches."""

    def __init__(self, index: int, port: int, stats: Stats, teacher: bool, teach_every: float):
        self.index = index
        self.port = port
        self.stats = stats
        self.teacher = teacher
        self.teach_every = teach_every
        self.rng = np.random.default_rng(index)
        self.seq = 0
        self.pending: dict[int, float] = {}  # ink seq -> send time, until a prediction covers it
        self.waiting: dict[int, asyncio.Future] = {}  # seq -> future of its exact answer
        self.connection: AsyncConnection | None = None

    def __repr__(self) -> str:
        return f"Drawer({self.index}, teacher={self.teacher}, seq={self.seq})"

    async def send(self, message: dict, ink: bool = True, answer: bool = False) -> int:
        """Send ``message`` with the next seq; with ``answer``, await its reply later."""
        self.seq += 1
        seq = self.seq
        now = time.perf_counter()
        # Noted before the send, which may wait: the answer may come meanwhile.
        if now >= self.stats.measure_from:
            self.stats.sent += 1
        if ink:
            self.pending[seq] = now
        if answer:
            self.waiting[seq] = asyncio.get_running_loop().create_future()
        await self.connection.send(json.dumps({**message, "seq": seq}, separators=(",", ":")))
        return seq

    async def answer(self, seq: int) -> dict | None:
        """Wait for the reply carrying ``seq``; None (counted lost) after ANSWER_TIMEOUT."""
        try:
            return await asyncio.wait_for(self.waiting[seq], ANSWER_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            self.waiting.pop(seq, None)

    async def read_loop(self) -> None:
        stats = self.stats
        while True:
            text = await self.connection.recv()
            now = time.perf_counter()
            message = json.loads(text)
            kind, seq = message.get("type"), message.get("seq")
            if now >= stats.measure_from:
                stats.received += 1
            if kind == "prediction" and seq is not None:
                stats.predictions += now >= stats.measure_from
                for s in [s for s in self.pending if s <= seq]:
                    sent = self.pending.pop(s)
                    if sent >= stats.measure_from:
                        stats.latencies.append(now - sent)
            elif kind == "error" and message.get("code") != "rejected":
                stats.errors.append(f"client {self.index}: {message}")
            future = self.waiting.get(seq) if seq is not None else None
            if future is not None and not future.done():
                future.set_result(message)

    async def run(self, start: float, stop: float) -> None:
        """Draw until ``stop`` (perf_counter time); start drawing at ``start``."""
        stats = self.stats
        last_teach = start + self.rng.uniform(0, self.teach_every)
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        while time.perf_counter() < stop:
            digit = int(self.rng.integers(10))
            strokes = pen_frames(digit, self.rng)
            for k, frames in enumerate(strokes):
                tick = time.perf_counter()
                for points in frames:
                    await self.send({"type": "stroke", "points": points})
                    tick += FRAME
                    delay = tick - time.perf_counter()
                    if delay < -0.1:  # the client fell behind: drop frames, as a browser does
                        tick = time.perf_counter()
                        continue
                    await asyncio.sleep(max(0.0, delay))
                    if tick >= stats.measure_from:  # how late this client's timer fired
                        stats.lag.append(time.perf_counter() - tick)
                last = k == len(strokes) - 1
                seq = await self.send({"type": "end"}, answer=last)
                if not last:
                    await asyncio.sleep(self.rng.uniform(0.1, 0.25))  # to the next stroke
                    continue
                # The digit is done: the person looks for the answer to their pen-up.
                counted = time.perf_counter() >= stats.measure_from
                reply = await self.answer(seq)
                if counted:
                    stats.pen_ups += 1
                    if reply is not None and reply.get("type") == "prediction":
                        stats.pen_ups_answered += 1
                    else:
                        stats.lost += 1
                        stats.errors.append(f"client {self.index}: pen-up {seq} got {reply}")
            if self.teacher and time.perf_counter() - last_teach >= self.teach_every:
                last_teach = time.perf_counter()
                seq = await self.send({"type": "teach", "label": digit}, ink=False, answer=True)
                counted = last_teach >= stats.measure_from
                reply = await self.answer(seq)
                if counted:
                    stats.teaches += 1
                    if reply is None:
                        stats.lost += 1
                        stats.errors.append(f"client {self.index}: teach {seq} unanswered")
                    elif reply["type"] == "taught":
                        stats.taught += 1
                        stats.teach_latencies.append(time.perf_counter() - last_teach)
                    elif reply.get("code") == "rejected":
                        stats.rejected += 1
                        stats.teach_latencies.append(time.perf_counter() - last_teach)
            await asyncio.sleep(self.rng.uniform(0.3, 0.6))  # reading the answer
            await self.send({"type": "clear"})
            await asyncio.sleep(self.rng.uniform(0.2, 0.4))  # the pen goes back to the pad
        # Finish: the last message must be answered by its own seq, and nothing left over.
        seq = await self.send({"type": "end"}, answer=True)
        reply = await self.answer(seq)
        if reply is None or reply.get("type") != "prediction":
            stats.lost += 1
            stats.errors.append(f"client {self.index}: final end {seq} got {reply}")
        stats.unanswered_ink += sum(1 for sent in self.pending.values()
                                    if sent >= stats.measure_from)


IDLE_PER_ADDRESS = 50


async def open_idle(port: int, count: int) -> tuple[list, list]:
    """Open ``count`` idle sockets that read and never send; (connections, readers)."""
    async def one(i: int):
        source = f"127.0.0.{10 + i // IDLE_PER_ADDRESS}"
        connection = await connect_async(f"ws://127.0.0.1:{port}/ws", source=source,
                                         timeout=60)
        await connection.recv()  # hello
        return connection

    async def drain(connection):
        while True:
            await connection.recv()

    connections = []
    for start in range(0, count, 50):  # 50 handshakes at a time
        batch = await asyncio.gather(*(one(i) for i in range(start, min(count, start + 50))),
                                     return_exceptions=True)
        connections += [c for c in batch if not isinstance(c, BaseException)]
    return connections, [asyncio.create_task(drain(c)) for c in connections]


async def run_clients(port: int, clients: int, teachers: int, seconds: float, warmup: float,
                      teach_every: float, server: Gunicorn,
                      idle: int = 0) -> tuple[Stats, dict]:
    """Connect every client, draw for warmup + seconds, measure the last ``seconds``."""
    stats = Stats()
    idlers, idle_readers = await open_idle(port, idle) if idle else ([], [])
    drawers = [Drawer(i, port, stats, i < teachers, teach_every) for i in range(clients)]
    for drawer in drawers:
        drawer.connection = await connect_async(f"ws://127.0.0.1:{port}/ws")
        hello = json.loads(await drawer.connection.recv())
        assert hello["type"] == "hello", hello
    readers = [asyncio.create_task(d.read_loop()) for d in drawers]
    begin = time.perf_counter()
    stats.measure_from = begin + warmup
    stop = stats.measure_from + seconds
    runs = [asyncio.create_task(d.run(begin + d.rng.uniform(0, 1.0), stop))
            for d in drawers]
    # Sample the server's CPU when the measurement starts and ends.
    await asyncio.sleep(max(0.0, stats.measure_from - time.perf_counter()))
    pids = server.pids()
    metrics0 = await asyncio.to_thread(scrape, port)
    cpu0, wall0 = cpu_seconds(pids), time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(max(0.0, stop - time.perf_counter()))
    cpu1, wall1 = cpu_seconds(pids), time.perf_counter()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    breakdown = stages(metrics0, await asyncio.to_thread(scrape, port))
    rss, peak = memory_kib(pids)
    done, _ = await asyncio.wait(runs, timeout=ANSWER_TIMEOUT + 10)
    for task in runs:
        if task not in done:
            task.cancel()
            stats.errors.append("a client did not finish in time")
        elif task.exception() is not None:
            stats.errors.append(f"a client failed: {task.exception()!r}")
    for task in readers:
        if task.done() and task.exception() is not None:
            stats.errors.append(f"a connection failed: {task.exception()!r}")
        task.cancel()
    for drawer in drawers:
        await drawer.connection.close()
    idle_open = sum(not task.done() for task in idle_readers)
    for task in idle_readers:
        task.cancel()
    for connection in idlers:
        await connection.close()
    server_facts = {
        "idle": (len(idlers), idle_open),
        "pids": pids,
        "cpu": (cpu1 - cpu0) / (wall1 - wall0),
        "cpu_ms": 1000 * (cpu1 - cpu0) / max(1.0, breakdown["predictions"]["count"]),
        "stages": breakdown,
        "client_cpu": (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime)
        / (wall1 - wall0),
        "rss": rss,
        "peak": peak,
        "wall": wall1 - wall0,
    }
    return stats, server_facts


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--clients", type=int, default=50, help="people drawing at once")
    parser.add_argument("--seconds", type=float, default=60, help="measured duration")
    parser.add_argument("--teachers", type=int, default=5, help="clients that also teach")
    parser.add_argument("--teach-every", type=float, default=4.0, help="seconds between teaches")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("INKLING_WORKERS", 2)))
    parser.add_argument("--idle", type=int, default=0, help="idle sockets opened first")
    parser.add_argument("--worker-class", choices=["gevent", "gthread"], default="gevent")
    parser.add_argument("--learning", choices=["process", "thread"], default="thread",
                        help="where teaches compute (INKLING_LEARNING)")
    parser.add_argument("--unfinished", default=None, metavar="MODEL",
                        help="the model that reads ink while the pen is down "
                             "(INKLING_UNFINISHED_MODEL; default the shipped one)")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 0 <= args.teachers <= args.clients or args.seconds <= 0:
        parser.error("need clients >= 1, 0 <= teachers <= clients and seconds > 0")

    load_before = os.getloadavg()[0]
    # With teachers, the same crowd first without any: the cost of teaching, in one run.
    results = [run(args, teachers) for teachers in sorted({0, args.teachers})]
    for teachers, (stats, facts) in results:
        report(args, teachers, stats, facts, load_before)
    if len(results) == 2:
        (_, (quiet, quiet_facts)), (_, (busy, busy_facts)) = results
        ratio = common.percentile_ms(busy.latencies, 99) / common.percentile_ms(
            quiet.latencies, 99)
        print(f"with {args.teachers} teaching / nobody teaching: p99 {ratio:.2f} x, CPU per "
              f"prediction {busy_facts['cpu_ms'] / quiet_facts['cpu_ms']:.2f} x")
    return 0 if all(ok(stats) for _, (stats, _) in results) else 1


def ok(stats: Stats) -> bool:
    return not stats.errors and stats.lost == 0 and stats.unanswered_ink == 0


def run(args, teachers: int) -> tuple[int, tuple[Stats, dict]]:
    """One measured crowd on a fresh server: (teachers, (stats, server facts))."""
    with tempfile.TemporaryDirectory(prefix="inkling-load-") as folder:
        pen_down = ({} if args.unfinished is None
                    else {"INKLING_UNFINISHED_MODEL": os.path.abspath(args.unfinished)})
        server = Gunicorn(os.path.join(folder, "instance"), workers=args.workers,
                          INKLING_RATE_LIMITS="off", **pen_down,
                          INKLING_WORKER_CLASS=args.worker_class,
                          INKLING_LEARNING=args.learning).wait_ready(180)
        limit = args.warmup + args.seconds + 3 * ANSWER_TIMEOUT + 120  # then the server dies
        watchdog = threading.Timer(limit, lambda: (server.kill9(), os._exit(3)))
        watchdog.daemon = True
        watchdog.start()
        try:
            stats, facts = asyncio.run(run_clients(
                server.port, args.clients, teachers, args.seconds, args.warmup,
                args.teach_every, server, args.idle))
        finally:
            server.stop()
            watchdog.cancel()
        log = server.log()
    tracebacks = log.count("Traceback")
    if tracebacks:
        stats.errors.append(f"{tracebacks} traceback(s) in the server log")
    return teachers, (stats, facts)


def report(args, teachers: int, stats: Stats, facts: dict, load_before: float) -> None:
    """Print one crowd's figures."""
    wall = facts["wall"]
    p50, p99 = common.percentile_ms(stats.latencies, 50), common.percentile_ms(stats.latencies, 99)
    rows = [
        ("clients (teaching)", f"{args.clients} ({teachers}, one every "
                               f"{args.teach_every:g} s)"),
        ("measured", f"{wall:.1f} s after {args.warmup:g} s warm-up; gunicorn "
                     f"{args.worker_class}, {args.workers} workers, loopback; teaches "
                     f"learned in a {args.learning}; pen-down ink read by "
                     f"{args.unfinished or 'the shipped model'}"),
        ("idle sockets", f"{facts['idle'][0]} of {args.idle} got their hello; "
                         f"{facts['idle'][1]} still open at the end"),
        ("messages / s sent, received", f"{stats.sent / wall:,.0f}, {stats.received / wall:,.0f}"
                                        f" ({stats.predictions:,} predictions)"),
        ("prediction latency p50", f"{p50:.2f} ms"),
        ("prediction latency p99", f"{p99:.2f} ms  (aims: 20 ms, 30 ms with teachers; "
                                   f"{len(stats.latencies):,} ink messages)"),
        ("pen-ups answered by own seq", f"{stats.pen_ups_answered} / {stats.pen_ups}"),
        ("teaches", f"{stats.teaches} sent: {stats.taught} taught, {stats.rejected} rejected "
                    f"by the guard; p50 {common.percentile_ms(stats.teach_latencies, 50):.0f} ms, "
                    f"p99 {common.percentile_ms(stats.teach_latencies, 99):.0f} ms"),
        ("lost acknowledgements", f"{stats.lost} (+ {stats.unanswered_ink} ink messages "
                                  "never answered)"),
        ("errors", f"{len(stats.errors)}"),
        ("server CPU", f"{100 * facts['cpu']:.0f}% of one core (master, workers and "
                       f"learning processes: {len(facts['pids'])}; {os.cpu_count()} cores); "
                       f"{facts['cpu_ms']:.2f} ms per prediction sent"),
        ("inside the server (means)", stage_line(facts["stages"])),
        ("server memory", f"RSS {facts['rss'] / 1024:.0f} MiB, peak {facts['peak'] / 1024:.0f}"
                          f" MiB (sum over {len(facts['pids'])} processes)"),
        ("client CPU (this process)", f"{100 * facts['client_cpu']:.0f}% of one core; timer "
                                      f"lag p50 {common.percentile_ms(stats.lag, 50):.1f} ms, "
                                      f"p99 {common.percentile_ms(stats.lag, 99):.1f} ms"),
        ("load average before / after", f"{load_before:.2f} / {os.getloadavg()[0]:.2f} "
                                        f"on {os.cpu_count()} cores"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"Inkling load: {args.clients} people drawing at 60 updates a second")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for error in stats.errors[:10]:
        print(f"  ! {error}")
    print("  result: " + ("no errors, no lost acknowledgements" if ok(stats)
                          else "FAILED (see above)"))


if __name__ == "__main__":
    sys.exit(main())
