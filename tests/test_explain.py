"""The inside view over the wire: POST /api/explain, GET /api/classic and /ws's opt-in."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import http_get, http_post

from network.ink.pixels import to_uint8
from network.ink.render import render

WRITER = "explainer-0123456789"


def decode_layer(layer: dict) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(layer["values"]), np.uint8)
    return values.reshape(layer["shape"])


def assert_inside(body: dict) -> None:
    """Every field of the inside view, with its shape."""
    saliency = np.array(body["saliency"], dtype=np.float64)
    assert saliency.shape == (28, 28) and np.isfinite(saliency).all()
    assert saliency.max() > 0  # something pushed toward the digit
    kinds = [(layer["name"], layer["kind"], layer["shape"]) for layer in body["layers"]]
    assert kinds == [("conv1", "conv", [32, 28, 28]), ("conv2", "conv", [64, 14, 14]),
                     ("dense1", "dense", [128])]
    levels = np.round(np.arange(64) * 255 / 63)  # 64 even steps from 0 to 255
    for layer in body["layers"]:
        values = decode_layer(layer)
        assert values.max() == 255 and layer["max"] > 0  # scaled so the largest is 255
        assert np.isin(values, levels).all()
    classic = body["classic"]
    assert len(classic["hidden"]) == 15 and all(0 <= h <= 1 for h in classic["hidden"])
    assert 0 <= classic["digit"] <= 9 and abs(sum(classic["probabilities"]) - 1) < 1e-4
    assert classic["confidence"] == max(classic["probabilities"])


def test_explain_answers_a_predictions_fields_and_the_inside(live_server):
    seven = draw_digit(7)
    status, predicted = http_post(live_server.url + "/api/predict", {"strokes": seven})
    assert status == 200
    status, body = http_post(live_server.url + "/api/explain", {"strokes": seven})
    assert status == 200
    for field in ("type", "seq", "digit", "confidence", "probabilities", "model_version",
                  "image"):
        assert body[field] == predicted[field], field
    assert_inside(body)


def test_the_saliency_says_which_pixels_the_answer_rests_on(live_server):
    """Wiping the pixels the map calls most important changes the answer far more than
    wiping as many that it calls least important (checked through /api/predict)."""
    strokes = draw_digit(2)
    status, body = http_post(live_server.url + "/api/explain", {"strokes": strokes})
    assert status == 200
    pixels = to_uint8(render([np.array(s, float) for s in strokes]))
    saliency = np.array(body["saliency"])
    ink = np.flatnonzero(pixels.reshape(-1))
    order = ink[np.argsort(-saliency.reshape(-1)[ink], kind="stable")]
    k = len(ink) // 5

    def confidence_without(wiped: np.ndarray) -> float:
        image = pixels.copy().reshape(-1)
        image[wiped] = 0
        status, answer = http_post(live_server.url + "/api/predict",
                              {"image": image.reshape(28, 28).tolist()})
        assert status == 200
        return answer["probabilities"][body["digit"]]

    assert confidence_without(order[:k]) < confidence_without(order[-k:])


def test_explain_of_an_empty_drawing_is_null(live_server):
    status, body = http_post(live_server.url + "/api/explain", {"strokes": []})
    assert status == 200 and body["digit"] is None
    assert body["saliency"] is None and body["layers"] is None and body["classic"] is None


def test_explain_takes_an_image_and_a_writer(live_server):
    image = to_uint8(render([np.array(s, float) for s in draw_digit(4)]))
    status, body = http_post(live_server.url + "/api/explain",
                        {"image": image.tolist(), "writer": WRITER})
    assert status == 200 and body["personal"] is False
    assert_inside(body)


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "bad_json"),
    ({"strokes": [[[1, 2]]], "image": [[0] * 28] * 28}, 400, "bad_message"),
    ({"image": [[0] * 27] * 28}, 400, "bad_message"),
    ({"strokes": [[["x", 2]]]}, 400, "bad_message"),
    ({"strokes": [[[1, 2]]], "writer": "short"}, 400, "bad_message"),
    ({"strokes": [[[1, 2]] * 20000]}, 413, "too_large"),
])
def test_explain_refuses_bad_bodies_as_predict_does(live_server, body, status, code):
    got_status, got = http_post(live_server.url + "/api/explain", body)
    assert (got_status, got["code"]) == (status, code)
    assert http_post(live_server.url + "/api/predict", body)[0] == status


def test_explain_counts_against_the_prediction_rate_limit(make_live_server):
    server = make_live_server(PREDICTS_PER_MINUTE_PER_ADDRESS=18)  # a burst of 3
    statuses = [http_post(server.url + "/api/explain", {"strokes": draw_digit(1)})[0]
                for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429


def test_the_classic_network_is_fifteen_weight_pictures(live_server):
    body = http_get(live_server.url + "/api/classic")
    assert body["units"] == 15 and body["shape"] == [15, 28, 28]
    weights = np.frombuffer(base64.b64decode(body["weights"]), np.int8).reshape(15, 28, 28)
    assert (np.abs(weights).reshape(15, -1).max(axis=1) == 127).all()
    assert len(body["scale"]) == 15 and all(s > 0 for s in body["scale"])
    assert 0.85 < body["accuracy"] <= 1


def test_on_ws_the_inside_comes_only_to_a_client_that_asks(live_server, ws_connect):
    seven = draw_digit(7)
    asking, plain = ws_connect(live_server), ws_connect(live_server)
    asking.recv_type("hello")
    plain.recv_type("hello")
    ordinary = plain.request({"type": "ink", "strokes": seven})
    assert "saliency" not in ordinary and "layers" not in ordinary
    empty = asking.request({"type": "inside", "on": True})
    assert empty["type"] == "prediction" and empty["digit"] is None
    assert empty["saliency"] is None and empty["layers"] is None
    drawn = asking.request({"type": "ink", "strokes": seven})
    assert drawn["digit"] == ordinary["digit"] and drawn["image"] == ordinary["image"]
    assert_inside(drawn)
    stroke = asking.request({"type": "stroke", "points": [[10, 10], [20, 20]]})
    assert_inside(stroke)  # every prediction while it is on
    off = asking.request({"type": "inside", "on": False})
    assert off["type"] == "prediction" and "saliency" not in off and "layers" not in off
    assert "saliency" not in plain.request({"type": "end"})


@pytest.mark.parametrize("message", [{"type": "inside"}, {"type": "inside", "on": "yes"},
                                     {"type": "inside", "on": 1}])
def test_a_bad_inside_message_is_refused(live_server, ws_connect, message):
    ws = ws_connect(live_server)
    ws.recv_type("hello")
    reply = ws.request(message)
    assert reply["type"] == "error" and reply["code"] == "bad_message"
    assert ws.request({"type": "ink", "strokes": draw_digit(3)})["type"] == "prediction"


def test_teaching_trains_the_main_network_never_the_classic_one(make_live_server, ws_connect):
    server = make_live_server(RATE_LIMITS=False, AGREE_SOURCES=1, GUARD_DROP=100,
                              GUARD_STEP=100, GUARD_CLASS_DROP=100, GUARD_UNSURE_DROP=100,
                              GUARD_ECE_RISE=100)
    five = draw_digit(5)
    before = http_post(server.url + "/api/explain", {"strokes": five})[1]
    ws = ws_connect(server)
    ws.recv_type("hello")
    ws.request({"type": "ink", "strokes": five})
    taught = ws.request({"type": "teach", "label": 3})
    assert taught["type"] == "taught" and taught["model_version"] == before["model_version"] + 1
    after = http_post(server.url + "/api/explain", {"strokes": five})[1]
    assert after["model_version"] == taught["model_version"]
    assert after["probabilities"] != before["probabilities"]  # the main network learned
    assert after["classic"] == before["classic"]  # the classic one is read-only


def side_by_side(*digits: int) -> list:
    """The digits' strokes, each 150 units right of the one before ("12")."""
    return [[[x + 150.0 * k, y] for x, y in stroke]
            for k, digit in enumerate(digits) for stroke in draw_digit(digit)]


def test_several_digits_side_by_side_are_said_to_be_several(live_server, ws_connect):
    ws = ws_connect(live_server)
    ws.recv_type("hello")
    assert ws.request({"type": "ink", "strokes": side_by_side(1, 2)})["several"] is True
    five = draw_digit(5)
    bar, body = [five[0][:2]], [five[0][1:]]  # a 5 drawn in two strokes is one digit
    assert ws.request({"type": "ink", "strokes": bar + body})["several"] is False
    assert ws.request({"type": "clear"})["several"] is False
    status, answer = http_post(live_server.url + "/api/predict", {"strokes": side_by_side(3, 4)})
    assert status == 200 and answer["several"] is True
    image = to_uint8(render([np.array(s, float) for s in draw_digit(4)]))
    status, answer = http_post(live_server.url + "/api/predict", {"image": image.tolist()})
    assert status == 200 and answer["several"] is None  # an image has no strokes to tell
