"""The real ``gunicorn`` command (as in the README) with two workers and real sockets.

Concurrent teaches across workers, kill -9 right after acknowledgements, and the
close code 1001 on SIGTERM and on a reload.  Each test starts gunicorn from the
repository root with ``INKLING_BIND=127.0.0.1:0`` and a fresh ``INKLING_INSTANCE_PATH``.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import LEARN_EVERYTHING
from support.servers import http_get as get
from support.together import at_once
from support.wsclient import WAIT, Closed, HandshakeRejected

from webapp.store.sqlite import SQLiteStore

pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]

BULK = LEARN_EVERYTHING
"""Teaching in bulk: every teach is learned (these tests count versions, and a real guard
may legitimately refuse a teach of the crude test drawings)."""



def labels_stored(url: str) -> list[int]:
    """Return the labels of /api/samples.npz."""
    with np.load(io.BytesIO(get(url + "/api/samples.npz"))) as data:
        return data["labels"].tolist()


def test_eight_connections_teaching_ten_times_at_once(make_gunicorn, ws_connect):
    server = make_gunicorn(**BULK)
    start = get(server.url + "/api/model")["version"]
    clients = [ws_connect(server) for _ in range(8)]
    for ws in clients:
        assert ws.recv()["type"] == "hello"
    results: dict[int, list] = {}

    def burst_of_ten(i):
        burst = []
        for k in range(10):
            digit = (i + k) % 10
            burst += [{"type": "ink", "strokes": draw_digit(digit), "seq": 2 * k + 1},
                      {"type": "teach", "label": digit, "seq": 2 * k + 2}]
        return burst

    bursts = [burst_of_ten(i) for i in range(len(clients))]

    def teach_ten(i, ws):
        ws.send_burst(bursts[i])
        got = []
        while len(got) < 10:
            m = ws.recv(timeout=120)
            assert m["type"] != "error", m
            if m["type"] in ("taught", "model"):
                got.append(m)
        results[i] = got

    failures = at_once(teach_ten, clients)
    assert not failures, failures
    taught = [m for got in results.values() for m in got if m["type"] == "taught"]
    assert len(taught) == 80
    versions = sorted(m["model_version"] for m in taught)
    assert versions == list(range(start + 1, start + 81)), "each teach makes exactly one version"
    final = start + 80

    # Every connection ends up seeing the final version, wherever it was taught.
    for i, ws in enumerate(clients):
        seen = max(m["model_version"] for m in results[i])
        deadline = time.monotonic() + 5.0
        while seen < final:
            m = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if m["type"] in ("model", "taught"):
                seen = max(seen, m["model_version"])
        assert seen == final
        assert ws.request({"type": "end"})["model_version"] == final

    info = get(server.url + "/api/model")
    assert info["version"] == final and info["samples"] == 80
    assert len(labels_stored(server.url)) == 80


def learning_processes(server) -> dict[int, int]:
    """{worker pid: pid of its learning process} (read from /proc)."""
    found = {}
    for pid in server.pids()[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if b"webapp.learning" in command:
            assert parent not in found, "one learning process per worker"
            found[parent] = pid
    return found


def gone(pid: int) -> bool:
    """Whether the process has exited (a zombie, or reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_teaches_compute_in_each_workers_learning_process(make_gunicorn, ws_connect):
    """The backprop runs in the worker's learning process (its CPU time grows, the
    worker's own teacher thread only waits), and a learning process killed with -9 is
    replaced at the next teach, which is learned as before."""
    server = make_gunicorn(**BULK, INKLING_LEARNING="process")
    learning = learning_processes(server)
    assert set(learning) == server.worker_pids()
    ws = ws_connect(server)
    assert ws.recv()["type"] == "hello"
    worker = server.worker_of(ws.sock)
    child = learning[worker]
    before = cpu_ticks(child)
    versions = []
    for digit in (3, 5, 8):
        assert ws.request({"type": "ink", "strokes": draw_digit(digit)})["type"] == "prediction"
        reply = ws.request({"type": "teach", "label": digit}, timeout=120)
        assert reply["type"] == "taught", reply
        versions.append(reply["model_version"])
    assert versions == [versions[0], versions[0] + 1, versions[0] + 2]  # each one learned
    assert cpu_ticks(child) > before  # three teaches of backprop and the guard
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + WAIT  # until the kernel has closed its socket
    while not gone(child):
        assert time.monotonic() < deadline, "a killed process did not exit"
        time.sleep(0.01)
    assert ws.request({"type": "ink", "strokes": draw_digit(4)})["type"] == "prediction"
    reply = ws.request({"type": "teach", "label": 4}, timeout=120)
    assert reply["type"] == "taught" and reply["model_version"] == versions[-1] + 1, reply
    replaced = learning_processes(server)
    assert replaced[worker] != child and set(replaced) == server.worker_pids()
    # This worker serves the new version (another worker follows it within moments).
    assert ws.request({"type": "end"})["model_version"] == reply["model_version"]


def test_a_full_database_answers_unavailable_without_a_traceback_in_the_log(make_gunicorn,
                                                                            ws_connect):
    """Room for the seeded version and not one more: every teach is refused as
    unavailable, said once in the log, and nothing prints a traceback per teach."""
    server = make_gunicorn(workers=1, INKLING_MAX_DATABASE_MB=3, **BULK)
    ws = ws_connect(server)
    assert ws.recv()["type"] == "hello"
    for _ in range(3):
        assert ws.request({"type": "ink", "strokes": draw_digit(3)})["type"] == "prediction"
        reply = ws.request({"type": "teach", "label": 3}, timeout=120)
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply
    with pytest.raises(urllib.error.HTTPError) as unhealthy:
        get(server.url + "/healthz")
    assert unhealthy.value.code == 503
    assert b"cannot take new drawings" in unhealthy.value.read()
    server.stop()
    log = server.log()
    assert log.count("teaches cannot be saved") == 1, log
    assert "Traceback" not in log, log


def test_kill_9_right_after_acknowledgements_loses_nothing(make_gunicorn, ws_connect, tmp_path):
    instance = tmp_path / "instance"
    server = make_gunicorn(instance, **BULK)
    acked: list[dict] = []
    cond = threading.Condition()
    clients = [ws_connect(server) for _ in range(4)]
    for ws in clients:
        ws.recv()

    def teach_until_killed(i, ws):
        k = 0
        try:
            while True:
                digit = (i + k) % 10
                ws.send_json({"type": "ink", "strokes": draw_digit(digit)})
                reply = ws.request({"type": "teach", "label": digit}, timeout=120)
                assert reply["type"] == "taught", reply
                with cond:
                    acked.append(reply)
                    cond.notify_all()
                k += 1
        except (Closed, OSError, TimeoutError):
            pass  # the server was killed under us

    threads = [threading.Thread(target=teach_until_killed, args=(i, ws), daemon=True)
               for i, ws in enumerate(clients)]
    for t in threads:
        t.start()
    with cond:
        assert cond.wait_for(lambda: len(acked) >= 24, timeout=300)
    server.kill9()  # the whole process group, while other teaches are in flight
    for t in threads:
        t.join(WAIT)
    snapshot = list(acked)  # every acknowledgement the clients received

    again = make_gunicorn(instance, **BULK)
    assert get(again.url + "/healthz")["status"] == "ok"
    info = get(again.url + "/api/model")
    assert info["version"] >= max(m["model_version"] for m in snapshot)
    assert info["samples"] >= len(snapshot)
    stored = Counter(labels_stored(again.url))
    for label, n in Counter(m["label"] for m in snapshot).items():
        assert stored[label] >= n, f"acknowledged teaches of {label} are missing"
    with SQLiteStore.in_folder(instance) as store:
        assert store.integrity_check() == "ok"
        assert set(m["model_version"] for m in snapshot) <= set(range(1, info["version"] + 1))
    ws = ws_connect(again)
    assert ws.recv()["model"]["version"] == info["version"]
    assert ws.request({"type": "ink", "strokes": draw_digit(1)})["digit"] is not None


def test_sigterm_closes_every_socket_with_1001_and_the_workers_exit(make_gunicorn,
                                                                     ws_connect):
    # A long grace period: without the shutdown hook the workers would sit in it.
    server = make_gunicorn(INKLING_GRACEFUL_TIMEOUT="60")
    clients = [ws_connect(server) for _ in range(6)]
    for ws in clients:
        ws.recv()
    clients[0].request({"type": "stroke", "points": [[0, 0], [4, 9]]})  # mid-drawing
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    for ws in clients:
        assert ws.wait_closed(timeout=20) == 1001
    assert server.wait(timeout=30) == 0
    assert time.monotonic() - started < 30, "the workers waited out their grace period"
    assert "Traceback" not in server.log()


def test_a_reload_closes_old_sockets_with_1001_and_new_workers_serve(make_gunicorn,
                                                                      ws_connect):
    server = make_gunicorn(INKLING_GRACEFUL_TIMEOUT="60")
    old_workers = server.worker_pids()
    clients = [ws_connect(server) for _ in range(4)]
    for ws in clients:
        ws.recv()
    server.signal(signal.SIGHUP)
    for ws in clients:
        assert ws.wait_closed(timeout=30) == 1001
    server.wait_for_log(server.READY, count=4, timeout=120)  # two new workers
    assert server.worker_pids() - old_workers
    # While an old worker is still going (it stops accepting within a second of SIGTERM),
    # the kernel may hand it a new connection: it refuses it with a 503 to retry at once,
    # never serves it only to cut it off.  Either answer is right here; which one comes
    # depends on the kernel's choice of worker.
    try:
        during = ws_connect(server)
        assert during.recv()["type"] == "hello"
    except HandshakeRejected as refused:
        assert refused.response.status_code == 503, refused
        assert b"restarting" in refused.response.body, refused
    # Once both old workers are gone, only the new ones accept: a new person is served.
    server.wait_for_log(r"Worker exiting \(pid", count=2, timeout=30)
    fresh = ws_connect(server)
    assert fresh.recv()["type"] == "hello"
    assert fresh.request({"type": "ink", "strokes": draw_digit(7)})["type"] == "prediction"
