"""Fuzzing: random and malformed input at /ws and the HTTP API never hurts the server.

Hypothesis throws at one live server (``create_app`` on werkzeug, rate limits off, the
default poisoning guard):

- ``/ws`` frames: JSON of every shape, messages with wrong types in every field, huge
  numbers, ``NaN``/``Infinity`` literals, deep nesting, truncated JSON, binary frames,
  non-UTF-8 bytes, empty frames.  After every example the *same* connection must answer
  a valid ``stroke`` with a prediction, the model version must not move except for a
  valid teach the example happened to make, and only protocol error codes may come back.
- raw WebSocket frames (bad opcodes, reserved bits, unmasked frames, invalid UTF-8 in a
  text frame, broken fragmentation, cut-off frames) on a fresh connection each: the
  server may close that connection, but it frees the session and keeps serving.
- HTTP: random methods, paths, content types and bodies (``POST /api/predict`` most of
  all), and WebSocket handshakes with random headers: never a 5xx, every error is the
  JSON error shape, no file outside ``static/`` is ever served.

Throughout, the server must log no error (a handler on the root logger collects every
record of level ERROR or above).  One server per module and one connection per test
function: hypothesis runs each example inside the test, so function-scoped fixtures
would be shared by every example anyway.  ``derandomize=True`` keeps CI runs identical.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import struct
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.drawings import draw_digit
from support.servers import LiveServer, app_config
from support.wsclient import WAIT, Closed, WSClient

from webapp import create_app

pytestmark = pytest.mark.slow

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROTOCOL_ERRORS = {"bad_json", "bad_message", "no_ink", "bad_label", "too_large", "rejected"}
"""Error codes a client's own input may earn (server_error / unavailable are bugs here)."""
CHECK_SEQ = 7_000_000_000_000
"""Seqs of the valid check strokes start here, far from anything the generators make."""
STATIC = Path(__file__).resolve().parent.parent / "static"


class ErrorLog(logging.Handler):
    """Collects every log record of level ERROR or above, from any logger."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """One live server for the module, with the root logger's errors collected."""
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    app = create_app(app_config(tmp_path_factory.mktemp("fuzz") / "instance",
                                RATE_LIMITS=False))
    server = LiveServer(app)
    server.errors = errors
    try:
        yield server
    finally:
        server.stop()
        app.extensions["inkling"].close()
        logging.getLogger().removeHandler(errors)


def hub_of(server):
    return server.app.extensions["inkling"].hub


# --- /ws frames -------------------------------------------------------------------------------

HUGE_LITERALS = ["9" * 5000, "1" * 400, "1e999", "-1e999", "1e-999", "NaN", "Infinity",
                 "-Infinity", "-0", "0.0e0", str(2**53), str(2**64), str(-(2**63))]
"""Number literals as text: some are beyond what Python's json.dumps would write."""

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 9, 10, 2**53 - 1, 2**53, -(2**53), 2**63, 1e308, -1e308,
                     5e-324, 1e6, 1e6 + 1, -1e6 - 1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=30,
)
points = st.lists(
    st.one_of(st.lists(numbers, min_size=2, max_size=2), st.lists(numbers, max_size=4),
              json_values),
    max_size=12,
)
field_values = st.one_of(json_values, points, st.lists(points, max_size=4))
message_types = st.one_of(
    st.sampled_from(["stroke", "end", "undo", "clear", "ink", "teach", "hello",
                     "prediction", "Stroke", "", "\u0000", "\ud800"]),
    json_values,
)
messages = st.builds(
    lambda fields, extra: {**extra, **fields},
    st.fixed_dictionaries(
        {"type": message_types},
        optional={"seq": field_values, "points": field_values, "strokes": field_values,
                  "label": st.one_of(st.integers(-3, 12), field_values),
                  "token": field_values, "image": field_values}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


def nested(depth: int, kind: str) -> str:
    """Return JSON nested ``depth`` deep (lists, objects, or ink strokes)."""
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"type":"ink","strokes":' + "[" * depth + "]" * depth + "}"


def literal_in_message(literal: str, where: str) -> str:
    """Return a message text with a raw number literal in one field."""
    return {
        "x": '{"type":"stroke","points":[[%s,1]]}',
        "y": '{"type":"stroke","points":[[1,%s]]}',
        "seq": '{"type":"stroke","points":[[1,2]],"seq":%s}',
        "label": '{"type":"teach","label":%s}',
        "ink": '{"type":"ink","strokes":[[[%s,%s]]]}',
    }[where].replace("%s", literal)


text_frames = st.one_of(
    messages.map(lambda m: json.dumps(m)),  # NaN/Infinity written as JS-style literals
    json_values.map(lambda v: json.dumps(v)),  # any JSON, mostly not an object
    st.builds(lambda m, cut: json.dumps(m)[:cut], messages, st.integers(0, 60)),  # cut off
    st.builds(literal_in_message, st.sampled_from(HUGE_LITERALS),
              st.sampled_from(["x", "y", "seq", "label", "ink"])),
    st.builds(nested, st.sampled_from([1, 2, 50, 999, 1000, 5000, 80_000]),  # < 512 KB
              st.sampled_from(["list", "object", "ink"])),
    st.sampled_from(["", " ", "\n", "null", "[]", "{}", '{"type":null}', "\ufeff{}",
                     '{"type":"clear"}trailing', '{"type":"stroke","type":"teach","label":3}',
                     '{"type":"stroke","points":[[1,2]]', '{"type":"stroke","points":"[[1,2]]"}',
                     '{"type":"teach","label":"3"}', '{"type":"teach","label":3.0}',
                     '{"type":"teach","label":true}', '{"type":"\\ud800"}']),
    st.text(max_size=200),
)
frames = st.one_of(
    text_frames.map(lambda t: ("text", t)),
    st.binary(max_size=300).map(lambda b: ("bytes", b)),  # non-UTF-8 bytes, empty frames
    messages.map(lambda m: ("bytes", json.dumps(m).encode())),  # valid JSON, wrong frame
)


def test_random_frames_never_break_the_connection_or_the_model(fuzz_server):
    hub = hub_of(fuzz_server)
    ws = WSClient(fuzz_server.ws_url)
    try:
        assert ws.recv()["type"] == "hello"
        start = hub.version
        seen = {"taught": 0, "checks": 0, "codes": set()}

        @settings(FUZZ, max_examples=300)
        @given(st.lists(frames, min_size=1, max_size=3))
        def example(sent):
            for kind, payload in sent:
                if kind == "text":
                    ws.send_text(payload)
                else:
                    ws.send_bytes(payload)
            seen["checks"] += 1
            seq = CHECK_SEQ + seen["checks"]
            ws.send_json({"type": "stroke", "points": [[10.0, 20.0], [30.5, 61.0]],
                          "seq": seq})
            while True:
                m = ws.recv()
                assert m["type"] in ("prediction", "error", "taught"), m
                if m["type"] == "error":
                    assert m["code"] in PROTOCOL_ERRORS, m
                    assert isinstance(m["message"], str) and m["message"], m
                    seen["codes"].add(m["code"])
                elif m["type"] == "taught":  # the example made a valid teach: it counts
                    seen["taught"] += 1
                if m.get("seq") == seq:
                    break
            assert m["type"] == "prediction", m
            assert m["digit"] in range(10) and abs(sum(m["probabilities"]) - 1) < 1e-3
            assert m["model_version"] == start + seen["taught"] == hub.version
            assert not fuzz_server.errors.records, fuzz_server.errors.text()
            # A fresh canvas for the next example; its answer is read (and skipped) there.
            ws.send_json({"type": "clear"})

        example()
        assert {"bad_json", "bad_message"} <= seen["codes"], seen["codes"]
        assert hub.version == start + seen["taught"]
    finally:
        ws.close()
    assert not fuzz_server.errors.records, fuzz_server.errors.text()


# --- raw WebSocket frames -------------------------------------------------------------------


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:
    """Return one client frame, possibly broken (unmasked, lying about its length...)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


raw_frames = st.one_of(
    st.builds(frame, st.integers(0, 15), st.binary(max_size=40), st.booleans(),
              st.integers(0, 7), st.booleans()),
    st.builds(lambda p: frame(0x1, p), st.sampled_from(
        [b"\xff\xfe{}", b'{"type":"clear"\xc3}', b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"])),
    st.builds(lambda p: frame(0x9, p), st.binary(min_size=126, max_size=200)),  # big ping
    st.sampled_from([
        frame(0x0, b'{"type":"clear"}'),  # a continuation with nothing to continue
        frame(0x1, b'{"type":', fin=False) + frame(0x1, b'"clear"}'),  # new message mid-way
        frame(0x1, b'{"type":', fin=False) + frame(0x0, b'"clear"}'),  # fine: fragmented
        frame(0x8, b"\x03"),  # a close with a one-byte payload
        frame(0x8, struct.pack("!H", 999)),  # a close code nobody may send
        frame(0x8, struct.pack("!H", 1000) + b"\xff"),  # a close reason that is not UTF-8
        frame(0x1, b"{}", length=2**62),  # claims an enormous payload
        frame(0x1, b'{"type":"clear"}')[:5],  # cut off mid-frame
    ]),
    st.binary(max_size=64),  # not frames at all
)


def test_raw_broken_frames_cost_at_most_their_own_connection(fuzz_server):
    runtime = fuzz_server.app.extensions["inkling"]

    @settings(FUZZ, max_examples=150)
    @given(st.lists(raw_frames, min_size=1, max_size=3))
    def example(chunks):
        ws = WSClient(fuzz_server.ws_url, timeout=WAIT)
        try:
            assert ws.recv()["type"] == "hello"
            try:
                # Past the library, on its socket: websockets only ever writes valid frames
                # (its protocol raises before it would frame a bad opcode, reserved bits,
                # a bad close code, a control frame over 125 bytes...), so these bytes
                # have no library route.  Its reader thread still reads the answers and
                # the close frame; it writes nothing meanwhile (no ping from either side
                # this soon after the handshake; a close answer comes after our bytes).
                ws.sock.sendall(b"".join(chunks) + frame(0x1, b'{"type":"end"}'))
                # Hang up our side: a cut-off frame would leave the server waiting for
                # the rest.  Whatever it made of the bytes, it must end the connection.
                ws.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # it already closed on us
            while True:
                try:
                    m = ws.recv()
                except (Closed, ConnectionError):
                    break
                assert m["type"] in ("prediction", "error"), m
                if m["type"] == "error":
                    assert m["code"] in PROTOCOL_ERRORS, m
            if ws.close_code is not None:
                assert ws.close_code in (1000, 1002, 1003, 1007, 1009), ws.close_code
        finally:
            ws.close()
        # The session ends with its connection, whatever state it was left in.
        assert runtime.wait_for_sessions(0, timeout=WAIT), runtime
        assert not fuzz_server.errors.records, fuzz_server.errors.text()

    example()
    with WSClient(fuzz_server.ws_url) as ws:
        assert ws.recv()["type"] == "hello"
        assert ws.request({"type": "ink", "strokes": draw_digit(7)})["type"] == "prediction"
    assert not fuzz_server.errors.records, fuzz_server.errors.text()


# --- HTTP -------------------------------------------------------------------------------------

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                     "application/x-www-form-urlencoded", "multipart/form-data",
                     "multipart/form-data; boundary=xyz", "application/octet-stream",
                     "image/png", ""]),
    header_text,
)
coordinates = st.floats(-1e6, 1e6, allow_nan=False)
good_strokes = st.lists(st.lists(st.lists(coordinates, min_size=2, max_size=2),
                                 min_size=1, max_size=20), min_size=1, max_size=4)
good_image = st.lists(st.lists(st.integers(0, 255), min_size=28, max_size=28),
                      min_size=28, max_size=28)
predict_bodies = st.one_of(
    good_strokes.map(lambda s: json.dumps({"strokes": s}).encode()),  # valid: 200
    good_image.map(lambda i: json.dumps({"image": i}).encode()),  # valid: 200
    st.fixed_dictionaries({}, optional={"strokes": field_values, "image": field_values})
    .map(lambda m: json.dumps(m).encode()),
    st.builds(lambda rows: json.dumps({"image": rows}).encode(),
              st.lists(st.lists(numbers, min_size=27, max_size=29), min_size=27, max_size=29)),
    st.builds(lambda p: json.dumps({"strokes": [p]}).encode(), points),
    text_frames.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=2000),
    st.just(b""),
)
paths = st.one_of(
    st.sampled_from(["/", "/healthz", "/api/predict", "/api/model", "/api/samples.npz",
                     "/ws", "/static/", "/static/../webapp/__init__.py",
                     "/static/%2e%2e/webapp/api.py", "/static/..%2f..%2fpyproject.toml",
                     "//etc/passwd", "/static//etc/passwd", "/%00", "/static/%00",
                     "/instance/inkling.sqlite3", "/../README.md", "/api/predict/..",
                     "/api/model?x=%ff", "/?" + "a=1&" * 500]),
    st.lists(st.text(max_size=12), min_size=1, max_size=4)
    .map(lambda parts: "/" + quote("/".join(parts), safe="/")),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
PAGES = {"/", "/healthz", "/api/model", "/api/classic", "/api/samples.npz"}
"""Paths that may answer a GET with 200, besides files in static/."""


def static_files() -> set[bytes]:
    return {p.read_bytes() for p in STATIC.rglob("*") if p.is_file()}


def request_once(server, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, dict, bytes]:
    """Make one request on a fresh connection; return (status, headers, body).

    A 101 (a random handshake that happened to be valid) is not read: the body would be
    WebSocket frames until the server hangs up.  Closing the connection ends the session.
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = b"" if response.status == 101 else response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        connection.close()


def assert_json_error(status: int, headers: dict, body: bytes) -> None:
    assert headers.get("Content-Type", "").startswith("application/json"), (status, body)
    error = json.loads(body)
    assert error["type"] == "error" and isinstance(error["code"], str) and error["message"]


def test_random_predict_bodies_get_a_prediction_or_a_json_error(fuzz_server):
    hub = hub_of(fuzz_server)
    start = hub.version
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=250)
    @given(predict_bodies, content_types)
    def example(body, content_type):
        headers = {"Content-Type": content_type} if content_type else {}
        status, response_headers, data = request_once(fuzz_server, "POST", "/api/predict",
                                                      body, headers)
        statuses.add(status)
        assert status in (200, 400), (body[:200], status, data[:300])
        if status == 200:
            prediction = json.loads(data)
            assert prediction["type"] == "prediction" and len(prediction["image"]) > 0
            assert prediction["model_version"] == start
        else:
            assert_json_error(status, response_headers, data)
        assert hub.version == start
        assert not fuzz_server.errors.records, fuzz_server.errors.text()

    example()
    assert statuses == {200, 400}, statuses


def test_random_requests_never_fail_and_never_leave_static(fuzz_server):
    hub = hub_of(fuzz_server)
    start = hub.version
    served_static = static_files()

    @settings(FUZZ, max_examples=150)
    @given(methods, paths, st.one_of(st.none(), st.binary(max_size=200), predict_bodies),
           content_types)
    def example(method, path, body, content_type):
        headers = {"Content-Type": content_type} if content_type else {}
        status, response_headers, data = request_once(fuzz_server, method, path, body, headers)
        assert status < 500, (method, path, body and body[:200], status, data[:300])
        if status >= 400 and method != "HEAD":
            assert_json_error(status, response_headers, data)
        if status == 200 and method == "GET":
            bare = re.sub("/+", "/", path.split("?")[0])  # "//" is "/" to the router
            assert bare in PAGES or data in served_static, f"{path} served {data[:80]!r}"
        assert hub.version == start
        assert not fuzz_server.errors.records, fuzz_server.errors.text()

    example()


HANDSHAKE = {"Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
"""A valid handshake; the generator drops or replaces a few of its headers, or adds some."""


def mutate_handshake(changes: dict) -> dict:
    headers = dict(HANDSHAKE)
    for name, value in changes.items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


handshake_headers = st.dictionaries(
    st.sampled_from([*HANDSHAKE, "Origin", "Authorization", "Sec-WebSocket-Extensions",
                     "Sec-WebSocket-Protocol", "Host"]),
    st.one_of(st.none(), header_text,
              st.sampled_from(["13", "8", "", "websocket", "Upgrade", "keep-alive, Upgrade",
                               "Bearer x", "http://evil.example", "permessage-deflate"])),
    max_size=3,
).map(mutate_handshake)


def test_websocket_handshakes_with_random_headers_never_fail_on_the_server(fuzz_server):
    runtime = fuzz_server.app.extensions["inkling"]
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=150)
    @given(handshake_headers)
    def example(headers):
        status, response_headers, data = request_once(fuzz_server, "GET", "/ws", None, headers)
        statuses.add(status)
        assert status < 500, (headers, status, data[:300])
        if status >= 400:
            assert_json_error(status, response_headers, data)
        # An accepted upgrade (101) ended when we hung up: no session is left behind.
        assert runtime.wait_for_sessions(0, timeout=WAIT), runtime
        assert not fuzz_server.errors.records, fuzz_server.errors.text()

    example()
    assert {101, 400, 403, 426} <= statuses, statuses


def test_the_fuzzed_server_still_answers_and_teaches(fuzz_server):
    # After everything above: a new connection predicts and a valid teach makes v+1.
    hub = hub_of(fuzz_server)
    with WSClient(fuzz_server.ws_url, timeout=60) as ws:
        version = ws.recv()["model"]["version"]
        assert ws.request({"type": "ink", "strokes": draw_digit(1)})["type"] == "prediction"
        reply = ws.request({"type": "teach", "label": 1}, timeout=60)
        assert reply["type"] in ("taught", "error"), reply
        if reply["type"] == "taught":
            assert reply["model_version"] == version + 1 == hub.version
        else:  # the guard may refuse even an honest crude drawing; it must say so
            assert reply["code"] == "rejected" and hub.version == version
    assert not fuzz_server.errors.records, fuzz_server.errors.text()
