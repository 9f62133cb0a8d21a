"""Parsing at the edge: every message type, and every bad frame refused with its code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from webapp.protocol import (
    Clear,
    DrawingLimits,
    End,
    Ink,
    ProtocolError,
    Stroke,
    Teach,
    Undo,
    parse_message,
)

LIMITS = DrawingLimits()


def test_parse_every_message_type():
    assert parse_message('{"type":"stroke","points":[[1,2],[3.5,4]],"seq":7}', LIMITS).seq == 7
    assert isinstance(parse_message('{"type":"end"}', LIMITS), End)
    assert isinstance(parse_message('{"type":"undo"}', LIMITS), Undo)
    assert isinstance(parse_message('{"type":"clear"}', LIMITS), Clear)
    ink = parse_message('{"type":"ink","strokes":[[[0,0],[1,1]],[],[[2,2]]]}', LIMITS)
    assert isinstance(ink, Ink) and [len(s) for s in ink.strokes] == [2, 1]  # empty dropped
    teach = parse_message('{"type":"teach","label":3,"seq":-2,"token":"t"}', LIMITS)
    assert teach == Teach(-2, 3, "t")
    stroke = parse_message('{"type":"stroke","points":[[1,2],[3.5,4]]}', LIMITS)
    assert isinstance(stroke, Stroke) and stroke.seq is None
    assert stroke.points.dtype == np.float64 and stroke.points.tolist() == [[1, 2], [3.5, 4]]


BAD_MESSAGES = [
    # (frame, expected code, expected seq echoed)
    ("{", "bad_json", None),
    ("", "bad_json", None),
    ('{"type":"stroke",', "bad_json", None),
    ("[" * 100_000, "bad_json", None),
    ('{"seq":' + "9" * 5000 + "}", "bad_json", None),
    ("[]", "bad_message", None),
    ("3", "bad_message", None),
    ("null", "bad_message", None),
    ('"stroke"', "bad_message", None),
    ("{}", "bad_message", None),
    ('{"type":"draw","seq":1}', "bad_message", 1),
    ('{"type":5,"seq":1}', "bad_message", 1),
    ('{"type":"stroke","seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":"0,0","seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[1,2,3]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[["1","2"]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[true,false]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[null,1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[{"x":1,"y":2}],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[NaN,1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[Infinity,1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[1e400,1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[' + "1" + "0" * 400 + ',1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[2000000,1]],"seq":2}', "bad_message", 2),
    ('{"type":"stroke","points":[[0,-1000001]],"seq":2}', "bad_message", 2),
    ('{"type":"ink","seq":3}', "bad_message", 3),
    ('{"type":"ink","strokes":{},"seq":3}', "bad_message", 3),
    ('{"type":"ink","strokes":[[[0,"a"]]],"seq":3}', "bad_message", 3),
    ('{"type":"end","seq":"1"}', "bad_message", None),
    ('{"type":"end","seq":1.5}', "bad_message", None),
    ('{"type":"end","seq":true}', "bad_message", None),
    ('{"type":"end","seq":9007199254740992}', "bad_message", None),
    ('{"type":"teach","label":1,"token":5,"seq":4}', "bad_message", 4),
    ('{"type":"teach","seq":4}', "bad_label", 4),
    ('{"type":"teach","label":"3","seq":4}', "bad_label", 4),
    ('{"type":"teach","label":3.0,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":true,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":false,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":-1,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":10,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":null,"seq":4}', "bad_label", 4),
    ('{"type":"teach","label":[1],"seq":4}', "bad_label", 4),
    ('{"type":"stroke","points":' + json.dumps([[0, 0]] * 4001) + ',"seq":5}', "too_large", 5),
    ('{"type":"ink","strokes":' + json.dumps([[[0, 0]]] * 201) + ',"seq":5}', "too_large", 5),
    ('{"type":"ink","strokes":' + json.dumps([[[0, 0]] * 3000] * 4) + ',"seq":5}',
     "too_large", 5),
]


def short(value: str) -> str:
    """A readable test id for a frame."""
    return value if len(value) < 60 else value[:50] + f"...({len(value)})"


BAD_IDS = [short(frame) for frame, _, _ in BAD_MESSAGES]


@pytest.mark.parametrize(("frame", "code", "seq"), BAD_MESSAGES, ids=BAD_IDS)
def test_parse_rejects_bad_messages(frame, code, seq):
    with pytest.raises(ProtocolError) as caught:
        parse_message(frame, LIMITS)
    assert caught.value.code == code
    assert caught.value.seq == seq
    assert caught.value.message.endswith(".") or caught.value.message.endswith(")")


def test_binary_frames_are_bad_messages():
    with pytest.raises(ProtocolError) as caught:
        parse_message(b'{"type":"end"}', LIMITS)
    assert caught.value.code == "bad_message"


