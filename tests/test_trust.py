"""Who teaches everyone's model directly (webapp/trust.py): the owner on their own machine,
a teach-token holder, or the public after an operator's approval (or agreement across
networks, if so set); decided per connection, over the wire."""

from __future__ import annotations

import pytest
from support.drawings import draw_digit
from support.wsclient import WSClient

from webapp.trust import binds_loopback_only, connection_trust, is_loopback_host, teach_trust

AUTO = {"TRUST": None, "TRUST_PROXY": False}


@pytest.fixture(autouse=True)
def _no_bind_from_gunicorn(monkeypatch):
    monkeypatch.delenv("INKLING_LISTENS_ON", raising=False)


@pytest.mark.parametrize(("remote", "host", "headers", "expected"), [
    ("127.0.0.1", "127.0.0.1:8000", {}, "local"),
    ("127.0.0.2", "localhost:8000", {}, "local"),
    ("::1", "[::1]:8000", {}, "local"),
    ("10.0.0.7", "127.0.0.1:8000", {}, "public"),  # a peer on another machine
    ("127.0.0.1", "inkling.example.org", {}, "public"),  # a proxy passing the Host on
    ("127.0.0.1", "127.0.0.1:8000", {"X-Forwarded-For": "203.0.113.9"}, "public"),
    ("127.0.0.1", "127.0.0.1:8000", {"Forwarded": "for=203.0.113.9"}, "public"),
    ("127.0.0.1", "127.0.0.1:8000", {"X-Real-IP": "203.0.113.9"}, "public"),
    (None, "127.0.0.1:8000", {}, "public"),
])
def test_auto_trust_is_local_only_for_this_machine_without_a_proxy(remote, host, headers,
                                                                   expected):
    assert connection_trust(AUTO, remote, host, headers) == expected


def test_a_trusted_proxy_or_a_public_bind_makes_every_connection_public(monkeypatch):
    assert connection_trust({**AUTO, "TRUST_PROXY": True}, "127.0.0.1", "127.0.0.1", {}) \
        == "public"
    monkeypatch.setenv("INKLING_LISTENS_ON", "127.0.0.1:8000,0.0.0.0:8001")
    assert connection_trust(AUTO, "127.0.0.1", "127.0.0.1", {}) == "public"
    monkeypatch.setenv("INKLING_LISTENS_ON", "127.0.0.1:8000,[::1]:8000,localhost:9")
    assert connection_trust(AUTO, "127.0.0.1", "127.0.0.1", {}) == "local"


def test_the_setting_wins_over_the_connection():
    assert connection_trust({**AUTO, "TRUST": "public"}, "127.0.0.1", "127.0.0.1", {}) \
        == "public"
    assert connection_trust({**AUTO, "TRUST": "local"}, "10.0.0.7", "example.org",
                            {"X-Forwarded-For": "1.2.3.4"}) == "local"


@pytest.mark.parametrize(("text", "loopback"), [
    ("localhost", True), ("LOCALHOST:80", True), ("app.localhost:8000", True),
    ("127.1.2.3:8000", True), ("[::1]", True), ("::1", True), ("0.0.0.0:8000", False),
    ("192.168.1.5:8000", False), ("example.org", False), ("", False),
])
def test_loopback_hosts(text, loopback):
    assert is_loopback_host(text) is loopback


@pytest.mark.parametrize(("binds", "loopback"), [
    (None, True), ("127.0.0.1:8000", True), ("127.0.0.1:1,[::1]:2", True),
    ("0.0.0.0:8000", False), ("127.0.0.1:1,unix:/run/inkling.sock", False),
    ("fd://3", False),
])
def test_binds(binds, loopback):
    assert binds_loopback_only(binds) is loopback


def test_teach_trust_levels():
    assert teach_trust("local", False) == "owner"
    assert teach_trust("local", True) == "owner"
    assert teach_trust("public", True) == "token"
    assert teach_trust("public", False) == "public"


# --- over the wire ------------------------------------------------------------------------


def correction(ws) -> tuple[dict, dict]:
    """Draw a 7 and teach it as a 1 (a contradiction of a sure answer); return the
    prediction and the teach's answer."""
    prediction = ws.request({"type": "ink", "strokes": draw_digit(7)})
    assert prediction["type"] == "prediction"
    return prediction, ws.request({"type": "teach", "label": 1})


def test_on_the_owners_machine_a_correction_teaches_everyone_at_once(make_live_server,
                                                                      ws_connect):
    server = make_live_server()  # the defaults: auto trust, loopback, no proxy
    teacher, watcher = ws_connect(server.ws_url + "?writer=owner-one"), ws_connect(server)
    hello = teacher.recv()
    assert hello["teach"]["trust"] == "local" and hello["teach"]["shared"] == "direct"
    assert "your own computer" in hello["teach"]["says"]
    version = watcher.recv()["model"]["version"]
    _, taught = correction(teacher)
    assert taught["type"] == "taught", taught
    assert taught["shared"]["status"] == "accepted", taught
    assert taught["model_version"] == version + 1
    assert taught["accuracy"]["heldout"] is not None
    # every open page hears of the new version and its held-out accuracy
    news = watcher.recv()
    assert news["type"] == "model" and news["model_version"] == version + 1
    assert news["accuracy"]["heldout"] == taught["accuracy"]["heldout"]
    stored = server.app.extensions["inkling"].hub.store.version_info(version + 1)
    assert stored.version == version + 1


def test_without_a_writer_the_owners_correction_is_learned_too(make_live_server, ws_connect):
    server = make_live_server()
    ws = ws_connect(server)
    version = ws.recv()["model"]["version"]
    _, taught = correction(ws)
    assert taught["type"] == "taught" and taught["model_version"] == version + 1, taught


@pytest.mark.parametrize("headers", [{"X-Forwarded-For": "203.0.113.9"},
                                     {"X-Forwarded-Host": "inkling.example.org"}])
def test_a_request_through_a_proxy_is_public(make_live_server, ws_connect, headers):
    server = make_live_server()
    ws = ws_connect(server.ws_url + "?writer=someone-one", headers=headers)
    hello = ws.recv()
    assert hello["teach"]["trust"] == "public" and hello["teach"]["shared"] == "approval"
    version = hello["model"]["version"]
    _, taught = correction(ws)
    assert taught["type"] == "taught" and taught["shared"]["status"] == "pending", taught
    assert taught["model_version"] == version
    assert taught["after"]["digit"] == 1  # the writer's own answer changed at once


def test_a_teach_token_holder_teaches_everyone_directly_on_a_public_server(make_live_server):
    server = make_live_server(TRUST="public", TEACH_TOKEN="classroom-42")
    # Two pupils behind one address (one network prefix): agreement could never come.
    pupil = WSClient(server.ws_url + "?writer=pupil-one", source="127.0.0.5",
                     headers={"Authorization": "Bearer classroom-42"})
    stranger = WSClient(server.ws_url + "?writer=stranger-one", source="127.0.0.5")
    try:
        hello = pupil.recv()
        assert hello["teach"]["authorized"] and hello["teach"]["shared"] == "direct"
        assert "teach token" in hello["teach"]["says"]
        version = hello["model"]["version"]
        _, taught = correction(pupil)
        assert taught["type"] == "taught" and taught["shared"]["status"] == "accepted", taught
        assert taught["model_version"] == version + 1
        # without the token, the same correction is not taken at all
        hello = stranger.recv()
        assert not hello["teach"]["authorized"] and hello["teach"]["shared"] == "approval"
        _, refused = correction(stranger)
        assert refused["type"] == "error" and refused["code"] == "unauthorized", refused
        # ... and with the token in the message it is trusted like the pupil's
        stranger.request({"type": "ink", "strokes": draw_digit(4)})
        taught = stranger.request({"type": "teach", "label": 9, "token": "classroom-42"})
        assert taught["type"] == "taught" and taught["shared"]["status"] == "accepted", taught
    finally:
        pupil.close()
        stranger.close()


@pytest.mark.parametrize(("agree", "shared", "waits_for"), [
    (0, "approval", "operator approves"), (3, "agreement", "people elsewhere")])
def test_public_mode_keeps_a_correction_waiting(make_live_server, ws_connect, agree, shared,
                                                waits_for):
    server = make_live_server(TRUST="public", AGREE_SOURCES=agree)
    ws = ws_connect(server.ws_url + "?writer=someone-two")
    hello = ws.recv()
    assert hello["teach"]["trust"] == "public" and hello["teach"]["shared"] == shared
    assert ("operator" in hello["teach"]["says"]) == (agree == 0)
    _, taught = correction(ws)
    assert taught["shared"]["status"] == "pending", taught
    assert waits_for in taught["shared"]["reason"]
