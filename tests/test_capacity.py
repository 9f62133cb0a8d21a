"""What a host survives under the real gunicorn (gevent worker): idle sockets by the
hundred, half-sent requests, floods of large frames, clients that never read, and
handshakes cut short.  Each test checks that a new person can still draw, or that
memory stays bounded; how fast is measured by benchmarks/load.py, not here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from support.drawings import draw_digit
from support.wsclient import Closed, WSClient
from test_metrics import scrape
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


SETTLE = 20
"""Large drawings of the flood the server answers before its memory counts as settled:
past the first burst (what the socket's buffers let in at once, about 18 here), whose
handling takes the worker's memory to its plateau; after that only the read rate lets
more in."""

FLOOD_AFTER = 4.0
"""Seconds the flood goes on after that, while the memory must not grow."""


def renders(server) -> int:
    """Predictions the server has answered so far, by its own count (GET /metrics)."""
    return int(scrape(server.url).get('inkling_stage_seconds_count{stage="render"}', 0))


def assert_a_new_person_can_draw_and_teach(server) -> None:
    with WSClient(server.ws_url, timeout=30) as ws:
        assert ws.recv()["type"] == "hello"
        reply = ws.request({"type": "ink", "strokes": draw_digit(7)})
        assert reply["type"] == "prediction" and reply["digit"] is not None
        assert ws.request({"type": "teach", "label": 7})["type"] == "taught"


def test_idle_sockets_and_half_sent_requests_do_not_lock_out_a_new_person(make_gunicorn):
    server = make_gunicorn(workers=2, INKLING_KEEPALIVE="1", INKLING_GUARD_DROP="100",
                           INKLING_GUARD_STEP="100")
    # 240 idle sockets from four addresses (60 each: under the per-address cap of 64 per
    # worker), more than the old design's 128 threads could hold at all.
    idle = [WSClient(server.ws_url, source=f"127.0.0.{2 + i % 4}", timeout=30)
            for i in range(240)]
    half_sent = []
    try:
        for ws in idle:
            assert ws.recv()["type"] == "hello"
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never more
            half_sent.append(s)
        assert_a_new_person_can_draw_and_teach(server)
        # The idle ones are still served: they hear of the new version.
        for ws in idle[:8]:
            assert ws.recv_type("model", timeout=10)["type"] == "model"
        # Half-sent requests are timed out (keepalive, here 1 s) and counted in the log.
        for s in half_sent:
            assert s.recv(100) == b""
        server.wait_for_log(r"closed \d+ connection\(s\) that sent no complete request",
                            timeout=30)
    finally:
        for ws in idle:
            ws.close()
        for s in half_sent:
            s.close()


def test_a_flood_of_large_frames_leaves_memory_bounded_and_others_answered(make_gunicorn):
    server = make_gunicorn(workers=1, INKLING_RATE_LIMITS="off")
    worker = min(server.worker_pids())
    flooder = WSClient(server.ws_url, timeout=30)
    other = WSClient(server.ws_url, timeout=30)
    assert flooder.recv()["type"] == other.recv()["type"] == "hello"
    # One 3,000-point stroke message (about 45 kB), sent again and again for at least eight
    # seconds as fast as the server lets us; the text is made once, so the client could
    # push hundreds of megabytes a second if the server read them.  A send returns once
    # the kernel has taken the frame; it waits while the kernel's buffers are full.
    points = [[float(i % 280), float((7 * i) % 280)] for i in range(3000)]
    text = json.dumps({"type": "ink", "strokes": [points]})
    flooding = threading.Event()
    flooding.set()
    blocked = [0]

    closed: list[Closed] = []

    def flood():
        while flooding.is_set():
            started = time.monotonic()
            try:
                flooder.send_text(text)
            except Closed as error:
                closed.append(error)
                return
            if time.monotonic() - started > 0.5:
                blocked[0] += 1  # the kernel's buffers were full: the server stopped reading

    for i in range(20):  # the worker's first predictions allocate what later ones reuse
        other.request({"type": "stroke", "points": [[i, 5.0]]})
    before = rss_kib(worker)
    rendered = renders(server)  # the other socket's so far; every later one is counted
    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        answered, settled, settled_at = 0, None, None
        # The memory a flood may take is measured once the server has answered SETTLE
        # large drawings (by its own count, however fast this machine is), then for at
        # least FLOOD_AFTER seconds more of flooding: it must not grow on.
        while time.monotonic() < started + 8.0 or settled_at is None \
                or time.monotonic() < settled_at + FLOOD_AFTER:
            assert time.monotonic() < started + 60, \
                f"the server answered fewer than {SETTLE} large drawings in a minute"
            # a whole drawing each time (a stroke each time would reach the stroke limit
            # on a fast machine)
            reply = other.request({"type": "ink", "strokes": [[[answered % 200, 5.0]]]})
            assert reply["type"] == "prediction", reply
            answered += 1
            if settled is None and renders(server) - rendered - answered >= SETTLE:
                settled, settled_at = rss_kib(worker), time.monotonic()
        flooding.clear()
        thread.join(30)
        after = rss_kib(worker)
        assert not closed, f"the server closed the flooding socket: {closed}"
        assert blocked[0] > 0, "the server read the flood as fast as it came"
        assert answered >= 5, "the other socket was starved while the flood lasted"
        assert (after - before) / 1024 < 64, f"the worker grew from {before} to {after} KiB"
        assert (after - settled) / 1024 < 8, \
            f"the worker kept growing while the flood went on: {settled} -> {after} KiB"
        assert other.request({"type": "ink", "strokes": draw_digit(1)})["digit"] is not None
    finally:
        flooder.close()
        other.close()


def test_a_client_that_never_reads_is_dropped_and_stalls_nobody(make_gunicorn):
    server = make_gunicorn(workers=1, INKLING_SEND_TIMEOUT="1", INKLING_RATE_LIMITS="off")
    other = WSClient(server.ws_url, timeout=30)
    stuck = WSClient(server.ws_url, timeout=30, recv_buffer=2048)
    try:
        assert other.recv()["type"] == stuck.recv()["type"] == "hello"
        # From now on nothing reads what stuck is sent (its library stops reading once 16
        # messages wait).  Each bad frame costs the server an error message and no model
        # time, so its answers soon fill the socket buffers and the server's sends block.

        def never_read():
            try:
                while True:
                    stuck.send_text("x")  # waits while our own send buffer is full
            except Closed:
                pass  # the server has closed the socket

        sender = threading.Thread(target=never_read, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while sender.is_alive():
            assert time.monotonic() < deadline, "a client that never reads was kept"
            # a whole drawing each time (strokes would pile up to the stroke limit)
            reply = other.request({"type": "ink", "strokes": [[[1.0, 2.0]]]}, timeout=10)
            assert reply["type"] == "prediction"
            sender.join(0.2)  # until stuck is dropped, the other socket is tried every 0.2 s
        assert_a_new_person_can_draw_and_teach(server)
    finally:
        other.close()
        stuck.close()


def test_handshakes_cut_short_leave_no_tracebacks(make_gunicorn):
    server = make_gunicorn(workers=1)
    request = ClientProtocol(parse_uri(server.ws_url)).connect().serialize()
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(request if i % 2 else request[: len(request) // 2])
        s.close()  # before the server's answer
    assert_a_new_person_can_draw_and_teach(server)
    with WSClient(server.ws_url) as ws:  # the server still closes politely when it must
        ws.recv()
        ws.send_bytes(b"\x00" * (600 * 1024))  # over the message size limit
        assert ws.wait_closed(timeout=10) == 1009
    assert "Traceback" not in server.log()
