"""The HTTP API, the configuration layers and the security headers.

Most tests use Flask's test client (the same WSGI app a server runs); the ones about
what a real server does with raw paths use the live werkzeug server.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import ROOT, app_config, http_get
from support.wsclient import HandshakeRejected

from network.ink.pixels import to_uint8
from network.ink.render import render
from webapp import create_app
from webapp.settings import SETTINGS, settings_from_env
from webapp.store import TeachRequest


def image_of(body) -> np.ndarray:
    """Return the uint8 (28, 28) image of a prediction body."""
    return np.frombuffer(base64.b64decode(body["image"]), dtype=np.uint8).reshape(28, 28)


def assert_error(response, status: int, code: str):
    """Check an error response: the status and the WebSocket's error shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["type"] == "error" and body["code"] == code
    assert isinstance(body["message"], str) and len(body["message"]) > 10
    return body


# --- health and model ---------------------------------------------------------------------


def test_healthz_is_ok_once_the_model_is_loaded(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok",
                                   "model_version": app.extensions["inkling"].hub.version}


def test_healthz_is_unavailable_while_shutting_down(client, app):
    app.extensions["inkling"].shutdown()
    assert_error(client.get("/healthz"), 503, "unavailable")


def test_model_info(client):
    info = client.get("/api/model").get_json()
    assert isinstance(info["version"], int) and info["version"] >= 1
    assert isinstance(info["architecture"], str) and info["architecture"]
    assert isinstance(info["parameters"], int) and info["parameters"] > 0
    assert set(info["accuracy"]) >= {"heldout", "taught"}
    assert info["accuracy"]["taught"] is None  # nothing taught yet
    assert info["samples"] == 0


# --- predict --------------------------------------------------------------------------------


def test_predict_strokes_gives_a_prediction_message_s_fields(client):
    strokes = draw_digit(7)
    response = client.post("/api/predict", json={"strokes": strokes})
    assert response.status_code == 200
    body = response.get_json()
    for key in ("digit", "confidence", "probabilities", "model_version", "image"):
        assert key in body
    assert body["type"] == "prediction"
    assert 0 <= body["digit"] <= 9 and len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-4
    assert np.array_equal(image_of(body), to_uint8(render([np.array(s) for s in strokes])))


def test_predict_image_sees_exactly_that_image(client):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(28, 28))
    body = client.post("/api/predict", json={"image": pixels.tolist()}).get_json()
    assert np.array_equal(image_of(body), pixels)
    assert body["digit"] is not None


def test_strokes_and_image_give_the_same_answer(client):
    strokes = draw_digit(3)
    by_strokes = client.post("/api/predict", json={"strokes": strokes}).get_json()
    by_image = client.post("/api/predict", json={"image": image_of(by_strokes).tolist()})
    assert by_image.get_json()["probabilities"] == by_strokes["probabilities"]


@pytest.mark.parametrize("body", [{"strokes": []}, {"strokes": [[], []]},
                                  {"image": [[0] * 28] * 28}])
def test_empty_ink_predicts_nothing(client, body):
    response = client.post("/api/predict", json=body)
    assert response.status_code == 200
    got = response.get_json()
    assert got["digit"] is None and got["confidence"] is None and got["probabilities"] is None
    assert isinstance(got["model_version"], int)


BAD_BODIES = [
    (b"", "bad_json"),
    (b"{", "bad_json"),
    (b"\xff\xfe", "bad_json"),
    (b"[" * 50_000, "bad_json"),
    (b"[]", "bad_message"),
    (b"null", "bad_message"),
    (b"{}", "bad_message"),
    (b'{"strokes": [], "image": []}', "bad_message"),
    (b'{"strokes": "1,2"}', "bad_message"),
    (b'{"strokes": [[[1, "2"]]]}', "bad_message"),
    (b'{"strokes": [[[1, true]]]}', "bad_message"),
    (b'{"strokes": [[[NaN, 1]]]}', "bad_message"),
    (b'{"strokes": [[[1e7, 1]]]}', "bad_message"),
    (b'{"strokes": [[1, 2]]}', "bad_message"),
    (b'{"image": []}', "bad_message"),
    (json.dumps({"image": [[0] * 28] * 27}).encode(), "bad_message"),
    (json.dumps({"image": [[0] * 27] * 28}).encode(), "bad_message"),
    (json.dumps({"image": [[256] * 28] * 28}).encode(), "bad_message"),
    (json.dumps({"image": [[-1] * 28] * 28}).encode(), "bad_message"),
    (json.dumps({"image": [[0.5] * 28] * 28}).encode(), "bad_message"),
    (json.dumps({"image": [[True] * 28] * 28}).encode(), "bad_message"),
    (json.dumps({"image": [["0"] * 28] * 28}).encode(), "bad_message"),
    (json.dumps({"strokes": [[[0, 0]]] * 201}).encode(), "too_large"),
    (json.dumps({"strokes": [[[0, 0]] * 4001]}).encode(), "too_large"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES, ids=[repr(b[:40]) for b, _ in BAD_BODIES])
def test_bad_predict_bodies_are_400_with_a_json_error(client, body, code):
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert_error(response, 413 if code == "too_large" else 400, code)


def test_a_body_over_the_size_limit_is_413(make_app):
    client = make_app(MAX_MESSAGE_BYTES=1000).test_client()
    body = json.dumps({"strokes": [[[1, 1]] * 200]})
    assert_error(client.post("/api/predict", data=body, content_type="application/json"),
                 413, "too_large")


def test_predictions_are_rate_limited_per_address(make_app):
    client = make_app(PREDICTS_PER_MINUTE_PER_ADDRESS=6).test_client()  # burst 1
    assert client.post("/api/predict", json={"strokes": []}).status_code == 200
    response = client.post("/api/predict", json={"strokes": []})
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"]
    unlimited = make_app(PREDICTS_PER_MINUTE_PER_ADDRESS=6, RATE_LIMITS=False).test_client()
    for _ in range(5):
        assert unlimited.post("/api/predict", json={"strokes": []}).status_code == 200


def test_wrong_methods_and_paths_get_json_errors(client):
    assert_error(client.get("/api/predict"), 405, "method_not_allowed")
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.post("/api/model"), 405, "method_not_allowed")


# --- samples ----------------------------------------------------------------------------------


def test_samples_npz_holds_every_taught_drawing(make_app):
    app = make_app(GUARD_DROP=100, GUARD_STEP=100)
    client = app.test_client()
    empty = np.load(io.BytesIO(client.get("/api/samples.npz").data))
    assert empty["images"].shape == (0, 28, 28) and empty["labels"].shape == (0,)
    hub = app.extensions["inkling"].hub
    drawings = [(draw_digit(d), d) for d in (1, 7, 0)]
    for strokes, label in drawings:
        hub.teach(TeachRequest(strokes, to_uint8(render(strokes)), label))
    response = client.get("/api/samples.npz")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = np.load(io.BytesIO(response.data))
    assert data["images"].dtype == np.uint8 and data["images"].shape == (3, 28, 28)
    assert data["labels"].tolist() == [1, 7, 0]
    expected = to_uint8(render([np.array(s) for s in drawings[1][0]]))
    assert np.array_equal(data["images"][1], expected)
    assert client.get("/api/model").get_json()["samples"] == 3


# --- the page and the headers -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/model", "/api/nope", "/static/style.css"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws: wss:" in csp and "unsafe-inline" not in csp
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert script_src.strip() == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    response.close()


def test_the_page_is_served_and_has_no_inline_script(client):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, "the page has no script"
    assert all(not body.strip() for body in scripts), "inline script breaks the CSP"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handlers break the CSP"


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """Send a GET with ``target`` exactly as written (no client normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize("target", [
    "/static/../webapp/api.py",
    "/static/%2e%2e/webapp/api.py",
    "/static/..%2fwebapp%2fapi.py",
    "/static/%2e%2e%2fwebapp%2fapi.py",
    "/static//work/main/webapp/api.py",
    "/static/..\\webapp\\api.py",
    "/../webapp/api.py",
    "/static/../../etc/passwd",
])
def test_no_path_outside_static_is_served(live_server, target):
    status, data = raw_get(live_server.port, target)
    if status == 308:  # werkzeug merges "//": the redirect must stay inside /static/
        location = re.search(rb"Location: http://127.0.0.1(\S*)", data).group(1)
        assert location.startswith(b"/static/") and b".." not in location
        status, data = raw_get(live_server.port, location.decode())
    assert status in (400, 404), data[:200]
    assert b"Blueprint" not in data and b"root:" not in data


def test_static_files_are_served(live_server):
    status, data = raw_get(live_server.port, "/static/style.css")
    assert status == 200 and b"nosniff" in data


# --- configuration -----------------------------------------------------------------------------


def test_settings_come_from_environment_variables():
    values = settings_from_env({
        "INKLING_RATE_LIMITS": "off", "INKLING_GUARD_DROP": "3.5",
        "INKLING_TEACH_TOKEN": "abc", "INKLING_ALLOWED_ORIGINS": "https://A.example/, http://b",
        "INKLING_MAX_STROKES": "12", "UNRELATED": "x"})
    assert values == {"RATE_LIMITS": False, "GUARD_DROP": 3.5, "TEACH_TOKEN": "abc",
                      "ALLOWED_ORIGINS": ("https://a.example", "http://b"), "MAX_STROKES": 12}


@pytest.mark.parametrize(("name", "value"), [
    ("INKLING_RATE_LIMITS", "maybe"), ("INKLING_MAX_STROKES", "0"),
    ("INKLING_MAX_STROKES", "many"), ("INKLING_GUARD_DROP", "-1"),
    ("INKLING_GUARD_DROP", "nan"), ("INKLING_SEND_TIMEOUT", "inf"),
])
def test_bad_environment_values_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        settings_from_env({name: value})


def test_config_layers_defaults_instance_file_env_then_test(tmp_path, monkeypatch):
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "config.py").write_text("MAX_STROKES = 11\nMAX_POINTS_PER_STROKE = 99\n"
                                        "TEACH_QUEUE = 5\n")
    monkeypatch.setenv("INKLING_MAX_POINTS_PER_STROKE", "77")
    monkeypatch.setenv("INKLING_TEACH_QUEUE", "6")
    app = create_app(app_config(instance, TEACH_QUEUE=7))
    try:
        assert app.config["MAX_STROKES"] == 11  # instance file over default
        assert app.config["MAX_POINTS_PER_STROKE"] == 77  # env over file
        assert app.config["TEACH_QUEUE"] == 7  # test config over env
        assert app.config["MAX_POINTS_PER_DRAWING"] == 10_000  # default
        assert app.config["SOCK_SERVER_OPTIONS"]["max_message_size"] == 512 * 1024
        assert app.instance_path == str(instance)
    finally:
        app.extensions["inkling"].close()


def test_the_instance_folder_comes_from_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "from-env" / "instance"
    monkeypatch.setenv("INKLING_INSTANCE_PATH", str(target))
    config = app_config(target)
    config.pop("INSTANCE_PATH")
    app = create_app(config)
    try:
        assert app.instance_path == str(target)
        assert (target / "inkling.sqlite3").exists()  # created and seeded on first start
    finally:
        app.extensions["inkling"].close()


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "protocol.md").read_text()
    missing = [s.env for s in SETTINGS if s.env not in doc]
    assert not missing, f"not in docs/protocol.md: {missing}"
    for name in ("INKLING_INSTANCE_PATH", "INKLING_BIND", "INKLING_WORKERS", "INKLING_THREADS",
                 "INKLING_GRACEFUL_TIMEOUT"):
        assert name in doc


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_app):
    def second_predict_status(app) -> int:
        client = app.test_client()
        for address in ("203.0.113.1", "203.0.113.2"):
            response = client.post("/api/predict", json={"strokes": []},
                                   headers={"X-Forwarded-For": address})
        return response.status_code

    limits = {"PREDICTS_PER_MINUTE_PER_ADDRESS": 6}  # burst 1
    # Behind a proxy the two forwarded addresses are two clients; without one, the
    # header is the client's own claim and both requests come from the same peer.
    assert second_predict_status(make_app(TRUST_PROXY=True, **limits)) == 200
    assert second_predict_status(make_app(TRUST_PROXY=False, **limits)) == 429


def test_the_echo_route_exists_only_for_benchmarks(make_live_server, ws_connect):
    plain = make_live_server()
    with pytest.raises(HandshakeRejected) as caught:
        ws_connect(plain.url.replace("http", "ws") + "/ws/echo")
    assert caught.value.response.status_code == 404
    bench = make_live_server(BENCH_ECHO=True)
    ws = ws_connect(bench.url.replace("http", "ws") + "/ws/echo")
    ws.send_text("ping?")
    assert ws.recv_raw() == "ping?"


# --- the edges of HTTP: hosts, chunked bodies, health -----------------------------------


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    """Send a raw HTTP request (the server may answer before it has read it all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed early: read what it said
        response = b""
        while b"\r\n\r\n" not in response or len(response.split(b"\r\n\r\n", 1)[1]) < int(
                re.search(rb"Content-Length: (\d+)", response).group(1) if re.search(
                    rb"Content-Length: (\d+)", response) else 0):
            chunk = s.recv(65536)
            if not chunk:
                break
            response += chunk
    status = int(response.split(b" ", 2)[1])
    return status, json.loads(response.split(b"\r\n\r\n", 1)[1])


def chunked(data: bytes) -> bytes:
    pieces = [data[i:i + 8192] for i in range(0, len(data), 8192)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize(("size", "status"), [(2_000, 200), (600 * 1024, 413)])
def test_a_chunked_body_over_the_limit_is_413(live_server, size, status):
    data = json.dumps({"strokes": [[[1, 2], [3, 4]] * (size // 16)]}).encode()
    head = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    got, body = raw_request(live_server.port, head, chunked(data))
    assert got == status
    assert body["type"] == ("prediction" if status == 200 else "error")
    if status == 413:
        assert body["code"] == "too_large"


@pytest.mark.parametrize("path", ["/healthz", "/api/model", "/ws"])
def test_a_foreign_host_is_refused_so_dns_rebinding_gets_nothing(live_server, path):
    head = (f"GET {path} HTTP/1.1\r\nHost: attacker.example:{live_server.port}\r\n"
            f"Origin: http://attacker.example:{live_server.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    status, body = raw_request(live_server.port, head)
    assert status == 400 and body["code"] == "bad_host"


def test_allowed_hosts_come_from_the_config(make_live_server):
    server = make_live_server(ALLOWED_HOSTS=(".draw.example", "inkling.test"))
    for host, status in (("inkling.test", 200), ("a.draw.example", 200), ("draw.example", 200),
                         ("localhost", 200), ("[::1]", 200), ("evil.example", 400)):
        head = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        assert raw_request(server.port, head)[0] == status, host


def test_a_full_database_makes_teaches_unavailable_and_health_503_then_recovers(
        make_live_server, ws_connect, caplog):
    # A version is about 1.7 MB: a 6 MB database holds two or three, never six.
    server = make_live_server(MAX_DATABASE_MB=6, AGREE_SOURCES=1, RATE_LIMITS=False,
                              GUARD_DROP=100, GUARD_STEP=100, GUARD_CLASS_DROP=100,
                              GUARD_UNSURE_DROP=100, GUARD_ECE_RISE=100)
    hub = server.runtime.hub
    assert http_get(server.url + "/healthz")["status"] == "ok"
    ws = ws_connect(server)
    ws.recv()
    ws.request({"type": "ink", "strokes": draw_digit(1)})
    replies = [ws.request({"type": "teach", "label": 1}) for _ in range(6)]
    kinds = [reply["type"] for reply in replies]
    full = kinds.index("error")  # teaches are saved until the database is full ...
    assert full >= 1 and all(k == "taught" for k in kinds[:full])
    for reply in replies[full:]:  # ... and none after
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply
    assert full <= 3
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.url + "/healthz", timeout=30)
    assert caught.value.code == 503
    assert "cannot take new drawings" in json.loads(caught.value.read())["message"]
    caught.value.close()
    assert [r.message for r in caplog.records].count(
        f"teaches cannot be saved: {hub.write_error}") == 1  # once, not once per teach
    # predictions go on from the model in memory
    assert ws.request({"type": "ink", "strokes": draw_digit(7)})["digit"] is not None
    # room again (an operator deleted an old version): health recovers with no restart,
    # and so does teaching
    with hub.store.connections.write() as connection:
        connection.execute("DELETE FROM versions WHERE version = 1")
    deadline = time.monotonic() + 30
    while True:
        try:
            if http_get(server.url + "/healthz")["status"] == "ok":
                break
        except urllib.error.HTTPError as error:
            error.close()
        assert time.monotonic() < deadline, "health never recovered"
    assert ws.request({"type": "teach", "label": 1})["type"] == "taught"
    assert hub.write_error is None
