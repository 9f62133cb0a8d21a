"""The /ws protocol against a live werkzeug server with a real WebSocket client.

Every message type, every error code (with parametrised bad input), folding, the
broadcast of new versions, teach tokens, the origin check, rate limits and the close
codes 1009 and 1001.  Units of the connection's pieces (its ink, its inbox) come
first; message parsing and rate limits have their own modules' tests.
"""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from support.drawings import draw_digit
from support.wsclient import Closed, HandshakeRejected
from test_protocol import BAD_IDS, BAD_MESSAGES

from network.ink.pixels import to_uint8
from network.ink.render import render
from network.pretrained import NOT_SURE_BELOW
from webapp.inkstate import InkState
from webapp.protocol import (
    Clear,
    DrawingLimits,
    End,
    Ink,
    ProtocolError,
    Stroke,
    Undo,
)

LIMITS = DrawingLimits()


def pixels(message) -> np.ndarray:
    """Return the uint8 (28, 28) image of a prediction message."""
    raw = base64.b64decode(message["image"])
    assert len(raw) == 784
    return np.frombuffer(raw, dtype=np.uint8).reshape(28, 28)


def expected_pixels(strokes) -> np.ndarray:
    """Return what the server must show for ``strokes``."""
    return to_uint8(render([np.asarray(s, dtype=np.float64) for s in strokes]))


# --- units: the connection's ink ------------------------------------------------------------


def test_ink_state_follows_the_messages():
    ink = InkState(DrawingLimits(max_points_per_stroke=5, max_points_per_drawing=8, max_strokes=2))
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    ink.apply(Stroke(1, a))
    ink.apply(Stroke(2, a + 1))  # same open stroke
    assert len(ink.strokes) == 1 and len(ink.strokes[0]) == 4
    ink.apply(End(3))
    ink.apply(Stroke(4, a))
    assert [len(s) for s in ink.strokes] == [4, 2]
    with pytest.raises(ProtocolError) as caught:  # 4 + 2 + 3 > 8 points
        ink.apply(Stroke(5, np.zeros((3, 2))))
    assert caught.value.code == "too_large" and ink.points == 6
    ink.apply(End(6))
    with pytest.raises(ProtocolError):  # a third stroke
        ink.apply(Stroke(7, a))
    ink.apply(Undo(8))
    assert [len(s) for s in ink.strokes] == [4] and ink.points == 4
    ink.apply(Ink(9, (a, a, )))
    assert ink.points == 4 and not ink.open
    ink.apply(Clear(10))
    assert ink.strokes == [] and ink.points == 0
    ink.apply(Undo(11))  # undo on nothing is nothing
    assert ink.strokes == []


def test_a_copy_of_the_strokes_is_not_changed_by_later_ink():
    ink = InkState(LIMITS)
    ink.apply(Stroke(1, np.array([[0.0, 0.0]])))
    before = list(ink.strokes)
    ink.apply(Stroke(2, np.array([[5.0, 5.0]])))
    assert len(before[0]) == 1 and len(ink.strokes[0]) == 2


# --- live: every message type --------------------------------------------------------------


def test_hello_carries_the_model_info(live_server, ws_connect):
    ws = ws_connect(live_server)
    hello = ws.recv()
    assert hello["type"] == "hello" and hello["protocol"] == 1
    model = hello["model"]
    for key in ("version", "architecture", "parameters", "accuracy", "samples"):
        assert key in model
    assert set(model["accuracy"]) >= {"heldout", "taught"}
    teach = hello["teach"]
    assert {k: teach[k] for k in ("token_required", "authorized", "trust", "shared")} == {
        "token_required": False, "authorized": True, "trust": "local", "shared": "direct"}
    assert "your own computer" in teach["says"]
    assert hello["limits"]["max_points_per_stroke"] == 4000
    assert hello["not_sure_below"] == NOT_SURE_BELOW


def test_stroke_is_answered_with_a_prediction(live_server, ws_connect):
    ws = ws_connect(live_server)
    version = ws.recv()["model"]["version"]
    points = draw_digit(7)[0]
    ws.send_json({"type": "stroke", "points": points, "seq": 41})
    p = ws.recv()
    assert p["type"] == "prediction" and p["seq"] == 41
    assert isinstance(p["digit"], int) and 0 <= p["digit"] <= 9
    assert len(p["probabilities"]) == 10
    assert abs(sum(p["probabilities"]) - 1.0) < 1e-4
    assert p["confidence"] == max(p["probabilities"])
    assert p["probabilities"][p["digit"]] == p["confidence"]
    assert p["model_version"] == version
    assert np.array_equal(pixels(p), expected_pixels([points]))


def test_stroke_end_undo_clear_and_ink_change_the_ink(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    a, b = [[0, 0], [10, 40]], [[10, 40], [20, 80]]
    c = [[30, 0], [30, 80]]

    def step(message, strokes):
        reply = ws.request(message)
        assert reply["type"] == "prediction"
        assert np.array_equal(pixels(reply), expected_pixels(strokes)), message
        return reply

    step({"type": "stroke", "points": a}, [a])
    step({"type": "stroke", "points": b}, [a + b])  # the same open stroke
    step({"type": "end"}, [a + b])
    step({"type": "stroke", "points": c}, [a + b, c])  # a new stroke after pen-up
    step({"type": "end"}, [a + b, c])
    step({"type": "undo"}, [a + b])
    step({"type": "ink", "strokes": [c, a]}, [c, a])
    empty = step({"type": "clear"}, [])
    assert empty["digit"] is None and empty["confidence"] is None
    assert empty["probabilities"] is None and isinstance(empty["model_version"], int)
    assert not pixels(empty).any()
    step({"type": "ink", "strokes": [a]}, [a])
    assert step({"type": "undo"}, [])["digit"] is None
    assert step({"type": "undo"}, [])["digit"] is None


def test_messages_without_seq_are_answered_with_null_seq(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    ws.send_json({"type": "stroke", "points": [[0, 0], [1, 1]]})
    assert ws.recv()["seq"] is None


def test_teach_is_acknowledged_after_commit_and_keeps_the_ink(make_live_server, ws_connect):
    server = make_live_server(GUARD_DROP=100, GUARD_STEP=100)
    ws = ws_connect(server)
    hello = ws.recv()
    v0, samples0 = hello["model"]["version"], hello["model"]["samples"]
    strokes = draw_digit(1)
    before = ws.request({"type": "ink", "strokes": strokes})
    taught = ws.request({"type": "teach", "label": 1})
    assert taught["type"] == "taught"
    assert taught["label"] == 1 and taught["predicted"] == before["digit"]
    assert taught["model_version"] == v0 + 1
    assert taught["samples"] == samples0 + 1
    assert set(taught["accuracy"]) == {"heldout", "taught"}
    assert 0.0 <= taught["accuracy"]["heldout"] <= 1.0
    # Acknowledged means stored: the store already has it.
    hub = server.app.extensions["inkling"].hub
    assert hub.store.sample_count() == samples0 + 1
    assert hub.info()["version"] == v0 + 1
    # The ink is unchanged by a teach; the next prediction uses the new version.
    after = ws.request({"type": "end"})
    assert np.array_equal(pixels(after), pixels(before))
    assert after["model_version"] == v0 + 1


def test_teach_without_ink_is_no_ink(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    reply = ws.request({"type": "teach", "label": 4})
    assert reply["type"] == "error" and reply["code"] == "no_ink"
    ws.request({"type": "stroke", "points": [[0, 0], [5, 5]]})
    ws.request({"type": "clear"})
    assert ws.request({"type": "teach", "label": 4})["code"] == "no_ink"


def test_a_teach_reaches_every_other_connection(make_live_server, ws_connect):
    server = make_live_server(GUARD_DROP=100, GUARD_STEP=100)
    teacher, watcher, other = (ws_connect(server) for _ in range(3))
    v0 = teacher.recv()["model"]["version"]
    watcher.recv()
    other.recv()
    teacher.request({"type": "ink", "strokes": draw_digit(0)})
    taught = teacher.request({"type": "teach", "label": 0})
    for ws in (watcher, other):
        news = ws.recv(timeout=1.0)  # the contract: within a second
        assert news == {"type": "model", "model_version": v0 + 1,
                        "accuracy": taught["accuracy"], "samples": taught["samples"]}


def test_teacher_gets_no_model_message_for_its_own_teach(make_live_server, ws_connect):
    server = make_live_server(GUARD_DROP=100, GUARD_STEP=100)
    ws = ws_connect(server)
    ws.recv()
    ws.send_json({"type": "ink", "strokes": draw_digit(3), "seq": 1})
    ws.send_json({"type": "teach", "label": 3, "seq": 2})
    ws.send_json({"type": "end", "seq": 3})
    kinds = []
    while not kinds or kinds[-1] != ("prediction", 3):
        m = ws.recv()
        kinds.append((m["type"], m["seq"]))
    assert kinds == [("prediction", 1), ("taught", 2), ("prediction", 3)]


# --- live: errors --------------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "code", "seq"), BAD_MESSAGES, ids=BAD_IDS)
def test_every_error_is_answered_and_the_connection_stays_open(live_server, ws_connect, frame,
                                                               code, seq):
    ws = ws_connect(live_server)
    ws.recv()
    ws.send_text(frame)
    error = ws.recv()
    assert error["type"] == "error" and error["code"] == code and error["seq"] == seq
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    ok = ws.request({"type": "stroke", "points": [[0, 0], [3, 9]]})
    assert ok["type"] == "prediction" and ok["digit"] is not None


def test_binary_frame_is_a_bad_message(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    ws.send_bytes(b'{"type":"end"}')
    assert ws.recv()["code"] == "bad_message"
    assert ws.request({"type": "end"})["type"] == "prediction"


def test_growing_a_drawing_past_its_limits_is_too_large(make_live_server, ws_connect):
    server = make_live_server(MAX_POINTS_PER_STROKE=10, MAX_POINTS_PER_DRAWING=15, MAX_STROKES=3)
    ws = ws_connect(server)
    ws.recv()
    six = [[i, i] for i in range(6)]
    assert ws.request({"type": "stroke", "points": six})["type"] == "prediction"
    assert ws.request({"type": "stroke", "points": six})["code"] == "too_large"  # 12 > 10
    ws.request({"type": "end"})
    assert ws.request({"type": "stroke", "points": six})["type"] == "prediction"
    ws.request({"type": "end"})
    assert ws.request({"type": "stroke", "points": six})["code"] == "too_large"  # 18 > 15
    assert ws.request({"type": "stroke", "points": [[0, 0]]})["type"] == "prediction"
    ws.request({"type": "end"})
    assert ws.request({"type": "stroke", "points": [[1, 1]]})["code"] == "too_large"  # 4th
    # The ink is what it was before the refused messages.
    last = ws.request({"type": "end"})
    assert np.array_equal(pixels(last), expected_pixels([six, six, [[0, 0]]]))


def test_a_message_over_the_size_limit_closes_with_1009(make_live_server, ws_connect):
    server = make_live_server(MAX_MESSAGE_BYTES=4096)
    ws = ws_connect(server)
    ws.recv()
    ws.send_json({"type": "ink", "strokes": [[[1, 1]] * 400]})  # ~3 KB: fine
    assert ws.recv()["type"] == "prediction"
    ws.send_json({"type": "ink", "strokes": [[[1, 1]] * 1000]})  # ~7 KB
    assert ws.wait_closed() == 1009


def test_a_teach_rolled_back_by_the_guard_is_rejected_with_a_reason(make_live_server,
                                                                     ws_connect):
    # With a zero guard, any teach that lowers held-out accuracy at all is rolled back;
    # a wrong label taught again and again must lower it sooner or later.
    server = make_live_server(GUARD_DROP=0, RATE_LIMITS=False, AGREE_SOURCES=1,
                              GUARD_CLASS_DROP=100, GUARD_UNSURE_DROP=100, GUARD_ECE_RISE=100)
    ws = ws_connect(server)
    v0 = ws.recv()["model"]["version"]
    ws.request({"type": "ink", "strokes": draw_digit(1)})
    replies = []
    while len(replies) < 100 and not any(r["type"] == "error" for r in replies):
        replies.append(ws.request({"type": "teach", "label": 8}))
    rejected = [r for r in replies if r["type"] == "error"]
    assert rejected, "100 wrong teaches with a zero guard were all accepted"
    for r in rejected:
        assert r["code"] == "rejected" and "held-out" in r["message"]
    taught = [r for r in replies if r["type"] == "taught"]
    assert server.app.extensions["inkling"].hub.version == v0 + len(taught)
    assert ws.request({"type": "end"})["type"] == "prediction"


# --- live: folding -------------------------------------------------------------------------


def test_a_burst_is_folded_and_its_last_message_answered_with_its_own_seq(live_server,
                                                                          ws_connect):
    ws = ws_connect(live_server)
    ws.recv()
    n = 300
    points = [[float(i), float((i * 7) % 50)] for i in range(n)]
    # One write: the server sees the whole burst at once.
    ws.send_burst({"type": "stroke", "points": [p], "seq": i + 1} for i, p in enumerate(points))
    seqs = []
    while not seqs or seqs[-1] != n:
        m = ws.recv()
        assert m["type"] == "prediction"
        seqs.append(m["seq"])
        last = m
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len(seqs) < n, "a burst sent in one write was answered message by message"
    assert np.array_equal(pixels(last), expected_pixels([points]))


def test_teaches_in_a_burst_are_all_answered_in_order(make_live_server, ws_connect):
    server = make_live_server(GUARD_DROP=100, GUARD_STEP=100)
    ws = ws_connect(server)
    v0 = ws.recv()["model"]["version"]
    burst = []
    for i in range(5):
        burst.append({"type": "ink", "strokes": draw_digit(i), "seq": 2 * i + 1})
        burst.append({"type": "teach", "label": i, "seq": 2 * i + 2})
    for m in burst:
        ws.send_json(m)
    taught = []
    while len(taught) < 5:
        m = ws.recv()
        if m["type"] == "taught":
            taught.append(m)
        else:
            assert m["type"] == "prediction"
    assert [t["seq"] for t in taught] == [2, 4, 6, 8, 10]
    assert [t["label"] for t in taught] == [0, 1, 2, 3, 4]
    assert [t["model_version"] for t in taught] == [v0 + 1 + i for i in range(5)]


def test_a_flood_of_teaches_on_one_socket_does_not_hold_up_another_sockets_teach(
        make_live_server, ws_connect):
    server = make_live_server(RATE_LIMITS=False, GUARD_DROP=100, GUARD_STEP=100)
    flooder, other = ws_connect(server), ws_connect(server)
    v0 = flooder.recv()["model"]["version"]
    other.recv()
    flooder.send_json({"type": "ink", "strokes": draw_digit(2), "seq": 1})
    n = 30
    flooder.send_burst([{"type": "teach", "label": 2, "seq": 2 + i} for i in range(n)]
                       + [{"type": "undo", "seq": 100}])
    # The first of the flood's answers shows the server is busy with it; then another
    # person teaches: one teach at a time per socket, so theirs waits for one, not thirty.
    assert flooder.recv_type("taught")["seq"] == 2
    other.request({"type": "ink", "strokes": draw_digit(7)})
    answer = other.request({"type": "teach", "label": 7})
    assert answer["type"] == "taught"
    taught, last = [], None
    while last is None or last.get("seq") != 100:
        last = flooder.recv()
        if last["type"] == "taught":
            taught.append(last)
    assert [t["seq"] for t in taught] == list(range(3, 2 + n))  # every one, in order
    assert answer["model_version"] < taught[-1]["model_version"], "it waited for the flood"
    assert server.runtime.hub.version == v0 + n + 1
    assert last["type"] == "prediction" and last["digit"] is None  # the undo, answered last


# --- live: rate limits ---------------------------------------------------------------------


def test_teaches_per_connection_are_rate_limited(make_live_server, ws_connect):
    server = make_live_server(TEACHES_PER_MINUTE_PER_CONNECTION=6,  # burst 1
                              GUARD_DROP=100, GUARD_STEP=100)
    ws = ws_connect(server)
    ws.recv()
    ws.request({"type": "ink", "strokes": draw_digit(5)})
    assert ws.request({"type": "teach", "label": 5})["type"] == "taught"
    limited = ws.request({"type": "teach", "label": 5})
    assert limited["type"] == "error" and limited["code"] == "rate_limited"
    assert ws.request({"type": "end"})["type"] == "prediction"  # still open


def test_teaches_per_address_are_rate_limited(make_live_server, ws_connect):
    server = make_live_server(TEACHES_PER_MINUTE_PER_ADDRESS=6,  # burst 1
                              GUARD_DROP=100, GUARD_STEP=100, AGREE_SOURCES=1)
    first, second = ws_connect(server), ws_connect(server)
    for ws in (first, second):
        ws.recv()
        ws.request({"type": "ink", "strokes": draw_digit(6)})
    assert first.request({"type": "teach", "label": 6})["type"] == "taught"
    assert second.request({"type": "teach", "label": 6})["code"] == "rate_limited"


def test_rate_limits_off_lets_bulk_teaching_through(make_live_server, ws_connect):
    server = make_live_server(RATE_LIMITS=False, TEACHES_PER_MINUTE_PER_CONNECTION=6,
                              TEACHES_PER_MINUTE_PER_ADDRESS=6, CONNECTIONS_PER_ADDRESS=1,
                              GUARD_DROP=100, GUARD_STEP=100)
    clients = [ws_connect(server) for _ in range(3)]  # beyond 1 per address: fine
    for ws in clients:
        ws.recv()
    clients[0].request({"type": "ink", "strokes": draw_digit(7)})
    replies = [clients[0].request({"type": "teach", "label": 7}) for _ in range(4)]
    assert [r["type"] for r in replies] == ["taught"] * 4


def test_open_connections_per_address_are_limited(make_live_server, ws_connect):
    server = make_live_server(CONNECTIONS_PER_ADDRESS=2)
    first, second = ws_connect(server), ws_connect(server)
    first.recv()
    second.recv()
    with pytest.raises(HandshakeRejected) as caught:
        ws_connect(server)
    assert caught.value.response.status_code == 429
    assert json.loads(caught.value.response.body)["code"] == "rate_limited"
    first.close()
    # The session frees its slot as it ends.
    assert server.app.extensions["inkling"].wait_for_sessions(1, timeout=10)
    assert ws_connect(server).recv()["type"] == "hello"


# --- live: teach token ---------------------------------------------------------------------


@pytest.fixture
def token_server(make_live_server):
    return make_live_server(TEACH_TOKEN="s3cret", GUARD_DROP=100, GUARD_STEP=100, AGREE_SOURCES=1)


def test_with_a_token_set_predicting_stays_open_and_teaching_needs_it(token_server, ws_connect):
    ws = ws_connect(token_server)
    hello = ws.recv()
    assert hello["teach"]["token_required"] is True and hello["teach"]["authorized"] is False
    assert ws.request({"type": "ink", "strokes": draw_digit(9)})["type"] == "prediction"
    assert ws.request({"type": "teach", "label": 9})["code"] == "unauthorized"
    assert ws.request({"type": "teach", "label": 9, "token": "wrong"})["code"] == "unauthorized"
    assert ws.request({"type": "teach", "label": 9, "token": "s3cret"})["type"] == "taught"


@pytest.mark.parametrize("how", ["header", "query"])
def test_the_token_can_be_given_at_the_handshake(token_server, ws_connect, how):
    if how == "header":
        ws = ws_connect(token_server.ws_url, headers={"Authorization": "Bearer s3cret"})
    else:
        ws = ws_connect(token_server.ws_url + "?token=s3cret")
    assert ws.recv()["teach"]["authorized"] is True
    ws.request({"type": "ink", "strokes": draw_digit(4)})
    assert ws.request({"type": "teach", "label": 4})["type"] == "taught"


def test_a_wrong_handshake_token_still_connects_but_cannot_teach(token_server, ws_connect):
    ws = ws_connect(token_server.ws_url + "?token=nope")
    assert ws.recv()["teach"]["authorized"] is False
    ws.request({"type": "ink", "strokes": draw_digit(4)})
    assert ws.request({"type": "teach", "label": 4})["code"] == "unauthorized"


# --- live: origin check --------------------------------------------------------------------


def test_a_foreign_origin_is_refused(live_server, ws_connect):
    with pytest.raises(HandshakeRejected) as caught:
        ws_connect(live_server, headers={"Origin": "https://evil.example"})
    assert caught.value.response.status_code == 403
    body = json.loads(caught.value.response.body)
    assert body["type"] == "error" and body["code"] == "forbidden_origin"


@pytest.mark.parametrize("origin", [None, "same", "same-https"])
def test_same_origin_and_no_origin_are_served(live_server, ws_connect, origin):
    host = f"127.0.0.1:{live_server.port}"
    headers = {None: {}, "same": {"Origin": f"http://{host}"},
               "same-https": {"Origin": f"https://{host}"}}[origin]
    assert ws_connect(live_server, headers=headers).recv()["type"] == "hello"


def test_allowed_origins_come_from_the_config(make_live_server, ws_connect):
    server = make_live_server(ALLOWED_ORIGINS=("https://draw.example",))
    ok = ws_connect(server, headers={"Origin": "https://draw.example"})
    assert ok.recv()["type"] == "hello"
    with pytest.raises(HandshakeRejected):
        ws_connect(server, headers={"Origin": "https://other.example"})


# --- live: shutdown ------------------------------------------------------------------------


def test_shutdown_closes_every_socket_with_1001_and_refuses_new_ones(make_live_server,
                                                                     ws_connect):
    server = make_live_server()
    clients = [ws_connect(server) for _ in range(3)]
    for ws in clients:
        ws.recv()
    clients[0].send_json({"type": "stroke", "points": [[0, 0], [1, 1]], "seq": 1})
    runtime = server.app.extensions["inkling"]
    runtime.shutdown()
    for ws in clients:
        assert ws.wait_closed() == 1001
    with pytest.raises(HandshakeRejected) as caught:
        ws_connect(server)
    assert caught.value.response.status_code == 503
    assert runtime.wait_for_sessions(0, timeout=10)


def test_closed_clients_leave_no_session_behind(live_server, ws_connect):
    runtime = live_server.app.extensions["inkling"]
    ws = ws_connect(live_server)
    ws.recv()
    assert len(runtime.sessions) == 1
    ws.close()
    assert runtime.wait_for_sessions(0, timeout=10), "the session outlived its socket"
    with pytest.raises(Closed):
        ws.recv(timeout=0.1)


def test_a_client_that_never_reads_is_dropped_and_stalls_nobody(make_live_server, ws_connect):
    server = make_live_server(SEND_TIMEOUT=1.0, GUARD_DROP=100, GUARD_STEP=100, RATE_LIMITS=False)
    runtime = server.app.extensions["inkling"]
    other = ws_connect(server)
    other.recv()
    stuck = ws_connect(server, recv_buffer=2048)
    stuck.recv()  # hello: its session is registered; from now on it never reads (its
    # library stops reading once 16 messages wait).  Each bad frame costs the server an
    # error message and no model time, so the answers quickly fill the socket buffers
    # and the server's sends block.
    deadline = time.monotonic() + 120
    while not runtime.wait_for_sessions(1, timeout=0.01):
        assert time.monotonic() < deadline, "a client that never reads was kept"
        try:
            for _ in range(500):
                stuck.send_text("x")  # waits while our own send buffer is full
        except Closed:
            break  # the server has shut the socket
    assert runtime.wait_for_sessions(1, timeout=10)
    # Everyone else carries on: predictions, teaches and broadcasts.
    watcher = ws_connect(server)
    watcher.recv()
    other.request({"type": "ink", "strokes": draw_digit(8)})
    assert other.request({"type": "teach", "label": 8})["type"] == "taught"
    assert watcher.recv(timeout=1.0)["type"] == "model"


# --- live: a teach's id -------------------------------------------------------------------


def test_a_teach_id_sent_twice_and_after_a_reconnect_makes_one_drawing_and_one_version(
        live_server, ws_connect):
    ws = ws_connect(live_server.ws_url + "?writer=idem-writer")
    version = ws.recv()["model"]["version"]
    ws.request({"type": "ink", "strokes": draw_digit(7)})
    first = ws.request({"type": "teach", "label": 1, "id": "page-teach-01"})
    assert first["type"] == "taught" and first["model_version"] == version + 1, first
    again = ws.request({"type": "teach", "label": 1, "id": "page-teach-01"})
    assert again["type"] == "taught"
    assert {k: again[k] for k in ("label", "predicted", "model_version", "samples")} == \
        {k: first[k] for k in ("label", "predicted", "model_version", "samples")}
    ws.close()
    # the page reconnects and sends its unanswered teach again, with its ink
    ws = ws_connect(live_server.ws_url + "?writer=idem-writer")
    assert ws.recv()["model"]["version"] == version + 1
    ws.request({"type": "ink", "strokes": draw_digit(7)})
    third = ws.request({"type": "teach", "label": 1, "id": "page-teach-01"})
    assert third["type"] == "taught" and third["model_version"] == version + 1
    hub = live_server.runtime.hub
    assert len(hub.store.drawings(writer="idem-writer")) == 1 and hub.version == version + 1


@pytest.mark.parametrize("bad", [7, "", "short", "x" * 65, "has space!", ["a" * 10]])
def test_a_bad_teach_id_is_refused(live_server, ws_connect, bad):
    ws = ws_connect(live_server)
    ws.recv()
    ws.request({"type": "ink", "strokes": draw_digit(7)})
    reply = ws.request({"type": "teach", "label": 1, "id": bad})
    assert reply["type"] == "error" and reply["code"] == "bad_message", reply
    assert "id must be" in reply["message"]
    assert live_server.runtime.hub.store.drawings() == []
