"""The writer contract over the wire: /ws?writer=ID, personal predictions, taught's new
fields, forget, the HTTP API's writer, bad ids; across gunicorn workers; through a crash."""

from __future__ import annotations

import io
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import http_get, http_post
from support.wsclient import WSClient

WRITER = "writer-0123456789"
STRICT = {"AGREE_SOURCES": 3}  # the shared model will not take a contradiction at once


def test_a_writers_teach_adapts_their_predictions_and_nobody_elses(make_live_server,
                                                                   ws_connect):
    server = make_live_server(**STRICT)
    mine = ws_connect(server.ws_url + f"?writer={WRITER}")
    hello = mine.recv()
    assert hello["writer"] == {"samples": 0, "accuracy": None}
    theirs = ws_connect(server)
    theirs.recv()
    seven = draw_digit(7)
    first = mine.request({"type": "ink", "strokes": seven})
    assert first["personal"] is False and first["digit"] is not None
    wrong = next(d for d in range(10) if d != first["digit"])
    taught = mine.request({"type": "teach", "label": wrong})
    assert taught["type"] == "taught" and taught["label"] == wrong
    assert taught["predicted"] == first["digit"]
    assert taught["writer"] == {"samples": 1, "accuracy": 0.0}
    assert taught["shared"]["status"] in ("accepted", "pending", "refused")
    assert taught["after"]["digit"] == wrong and 0 < taught["after"]["confidence"] <= 1
    again = mine.request({"type": "ink", "strokes": seven})
    assert again["personal"] is True and again["digit"] == wrong
    other = theirs.request({"type": "ink", "strokes": seven})
    assert "personal" not in other  # a connection without a writer is as it always was
    assert other["digit"] == first["digit"]
    status, body = http_post(server.url + "/api/predict", {"strokes": seven, "writer": WRITER})
    assert status == 200 and body["digit"] == wrong and body["personal"] is True
    status, body = http_post(server.url + "/api/predict", {"strokes": seven})
    assert status == 200 and body["digit"] == first["digit"] and "personal" not in body
    with np.load(io.BytesIO(http_get(server.url + f"/api/samples.npz?writer={WRITER}"))) as d:
        assert d["labels"].tolist() == [wrong] and d["images"].shape == (1, 28, 28)
    assert mine.request({"type": "forget"}) == {"type": "forgotten", "seq": mine._seq}
    after = mine.request({"type": "ink", "strokes": seven})
    assert after["personal"] is False and after["digit"] == first["digit"]
    with np.load(io.BytesIO(http_get(server.url + f"/api/samples.npz?writer={WRITER}"))) as d:
        assert d["labels"].tolist() == []


@pytest.mark.parametrize("writer", ["short", "x" * 65, "has space!", "émile-writer", ""])
def test_bad_writer_ids_are_bad_messages(live_server, writer):
    ws = WSClient(live_server.ws_url + "?writer=" + urllib.request.quote(writer))
    try:
        error = ws.recv()
        assert error["type"] == "error" and error["code"] == "bad_message"
        assert "writer" in error["message"]
        assert ws.wait_closed() == 1008
    finally:
        ws.close()
    status, body = http_post(live_server.url + "/api/predict",
                        {"strokes": draw_digit(1), "writer": writer})
    assert status == 400 and body["code"] == "bad_message"
    request = urllib.request.Request(live_server.url + "/api/samples.npz?writer="
                                     + urllib.request.quote(writer))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    caught.value.close()


def test_forget_needs_a_writer(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    reply = ws.request({"type": "forget"})
    assert reply["type"] == "error" and reply["code"] == "bad_message"


def writer_on_two_workers(server):
    """(every socket opened, {worker pid: a socket}): WRITER's connections land on either
    worker, so they are opened until two workers each serve one."""
    sockets, by_worker = [], {}
    while len(by_worker) < 2:
        assert len(sockets) < 40, "every connection landed on the same worker"
        ws = WSClient(server.ws_url + f"?writer={WRITER}")
        ws.recv()
        sockets.append(ws)
        by_worker.setdefault(server.worker_of(ws.sock), ws)
    return sockets, by_worker


@pytest.mark.gunicorn
@pytest.mark.slow
def test_a_writer_teaches_through_one_worker_and_predicts_through_the_other(make_gunicorn):
    server = make_gunicorn(workers=2, INKLING_AGREE_SOURCES="3")
    seven = draw_digit(7)
    sockets, by_worker = writer_on_two_workers(server)
    try:
        teacher, reader = by_worker.values()
        first = teacher.request({"type": "ink", "strokes": seven})
        wrong = next(d for d in range(10) if d != first["digit"])
        assert teacher.request({"type": "teach", "label": wrong})["type"] == "taught"
        # through the API, on whichever worker answers, the very next prediction knows
        for _ in range(12):
            status, body = http_post(server.url + "/api/predict",
                                     {"strokes": seven, "writer": WRITER})
            assert status == 200 and body["digit"] == wrong and body["personal"], body
        # and the other worker's socket knows within moments (its follower looks every
        # 10 ms for a commit)
        deadline = time.monotonic() + 5
        while reader.request({"type": "ink", "strokes": seven})["digit"] != wrong:
            assert time.monotonic() < deadline, "the writer's teach never reached the worker"
    finally:
        for ws in sockets:
            ws.close()


def test_one_writer_teaching_through_two_workers_at_once_loses_no_drawing(make_gunicorn):
    """Each worker keeps the writer's drawings: a teach on one worker while the other
    taught too is not lost from either (the head is rebuilt from the store when the
    writer's revision moved under it)."""
    server = make_gunicorn(workers=2, INKLING_TRUST="public")
    sockets, by_worker = writer_on_two_workers(server)
    one, two = by_worker.values()
    lessons = {one: [(1, 7), (4, 9)], two: [(7, 1), (0, 6)]}  # (drawn, taught as)
    errors = []

    def teach_all(ws):
        try:
            for drawn, label in lessons[ws]:
                ws.request({"type": "ink", "strokes": draw_digit(drawn)})
                reply = ws.request({"type": "teach", "label": label})
                assert reply["type"] == "taught", reply
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=teach_all, args=(ws,)) for ws in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        # every drawing, taught on either worker, reads as taught on both workers
        for ws in (one, two):
            for drawn, label in [*lessons[one], *lessons[two]]:
                deadline = time.monotonic() + 5
                reading = ws.request({"type": "ink", "strokes": draw_digit(drawn)})
                while reading["digit"] != label:
                    assert time.monotonic() < deadline, (drawn, label, "missing")
                    reading = ws.request({"type": "ink", "strokes": draw_digit(drawn)})
    finally:
        for ws in sockets:
            ws.close()
