"""GET /metrics (webapp/metrics.py): Prometheus's text format, every gunicorn worker
counted, moving as traffic flows; only for this machine unless INKLING_METRICS says."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest
from support.drawings import draw_digit

from webapp.metrics import allowed, guard_check

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$")


def scrape(url: str) -> dict[str, float]:
    """{'name{labels}': value} of every sample of a scrape."""
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, line
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


@pytest.mark.parametrize(("setting", "address", "ok"), [
    ("loopback", "127.0.0.1", True), ("loopback", "::1", True),
    ("loopback", "10.0.0.7", False), ("loopback", None, False), ("on", "10.0.0.7", True),
    ("off", "127.0.0.1", False)])
def test_who_may_scrape(setting, address, ok):
    assert allowed(setting, address) is ok


def test_guard_refusals_are_named_by_their_check():
    assert guard_check("learning it as a 3 would lower accuracy on held-out digits") == \
        "heldout"
    assert guard_check("would make everyone's drawn 7s read right") == "drawn_digit"
    assert guard_check("would make the network sure of shapes that are no digit") == \
        "not_sure"
    assert guard_check("would make the network's confidence less honest (calibration") == \
        "calibration"


def test_metrics_can_be_turned_off(make_live_server):
    server = make_live_server(METRICS="off")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.url + "/metrics", timeout=30)
    assert caught.value.code == 404
    caught.value.close()


@pytest.mark.gunicorn
def test_two_workers_are_counted_as_traffic_flows(make_gunicorn, ws_connect):
    server = make_gunicorn(workers=2)
    url = f"http://127.0.0.1:{server.port}"
    before = scrape(url)
    assert before["inkling_model_version"] == 1
    clients = [ws_connect(server) for _ in range(6)]
    for ws in clients:
        ws.recv()
    served_by = {server.worker_of(ws.sock) for ws in clients}
    predictions = 0
    for ws in clients:
        for digit in (1, 7):
            assert ws.request({"type": "ink", "strokes": draw_digit(digit)})["type"] == \
                "prediction"
            predictions += 1
    taught = clients[0].request({"type": "teach", "label": 1})  # the owner's machine
    assert taught["type"] == "taught"
    after = scrape(url)
    counted = after['inkling_predictions_total{route="ws"}'] - \
        before.get('inkling_predictions_total{route="ws"}', 0)
    assert counted == predictions, (counted, predictions, served_by)
    assert after["inkling_prediction_seconds_count"] - \
        before.get("inkling_prediction_seconds_count", 0) == predictions
    # every prediction's stages are timed (a frame parsed, rendered, predicted, sent)
    for stage in ("parse", "render", "predict", "fields", "send"):
        key = f'inkling_stage_seconds_count{{stage="{stage}"}}'
        assert after[key] - before.get(key, 0) == predictions, stage
    forward = 'inkling_stage_seconds_count{stage="forward"}'
    assert 1 <= after[forward] - before.get(forward, 0) <= predictions
    assert after["inkling_batch_size_sum"] - before.get("inkling_batch_size_sum", 0) \
        == predictions
    assert after["inkling_loop_lag_seconds_count"] > before.get(
        "inkling_loop_lag_seconds_count", 0)
    assert after["inkling_open_connections"] == len(clients)
    # every answer carries the 784 pixels seen (over 1,000 bytes of base64), uncompressed
    # for these clients, so the bytes sent are at least that many a prediction
    sent = after["inkling_websocket_sent_bytes_total"] - \
        before.get("inkling_websocket_sent_bytes_total", 0)
    assert predictions * 1_000 < sent < predictions * 4_000 + 20_000, sent
    outcome = taught["shared"]["status"] if "shared" in taught else "accepted"
    assert after[f'inkling_teaches_total{{outcome="{outcome}"}}'] == 1
    if outcome == "accepted":
        assert after["inkling_model_version"] == taught["model_version"] == 2
        assert after["inkling_heldout_accuracy"] == pytest.approx(
            taught["accuracy"]["heldout"])
    assert after["inkling_follower_lag_versions"] >= 0
    # connections that close stop counting, on whichever worker they were
    for ws in clients[3:]:
        ws.close()
    deadline = time.monotonic() + 30
    while scrape(url)["inkling_open_connections"] != 3:
        assert time.monotonic() < deadline, "closed connections still counted"
