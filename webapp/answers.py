"""What the server says about a drawing: a prediction's fields and, on request, the inside.

``prediction_fields`` is the body of every ``prediction`` (WebSocket) and of
``POST /api/predict``.  ``inside_fields`` adds what ``POST /api/explain`` and a ``/ws``
client that asked for the inside view receive: the saliency map, every hidden layer's
activations, and the classic 784-15-10 network's answer.  ``classic_weights`` is the
body of ``GET /api/classic``.  The wire formats are in docs/protocol.md.
"""

from __future__ import annotations

import base64
import time

import numpy as np

from network.ink.groups import several
from network.ink.pixels import to_float, to_uint8
from network.nn import inside
from network.nn.losses import softmax
from network.nn.model import Sequential
from webapp import metrics

SALIENCY_DECIMALS = 6
LAYER_LEVELS = 64
"""Shades of a layer's activations sent: a tile on the page is a colour ramp, where 64
steps look the same as 256, and the repeats let the WebSocket's compression
(permessage-deflate, which browsers ask for) shrink the inside view further."""


def prediction_fields(runtime, image: np.ndarray, writer: str | None = None,
                      strokes=None, pen_down: bool = False) -> dict:
    """The prediction fields for a float32 (28, 28) image; nulls for an empty one.

    The network is shown the image quantised to uint8, exactly the pixels sent back in
    ``image`` (and stored by a teach), so "what the network saw" is literally true.  For
    a writer, ``personal`` says whether their own drawings took part.  ``several`` says
    whether the strokes (when the image was drawn from them) are several groups of ink
    side by side, "12" rather than one digit (``network.ink.groups``); null for an image.
    ``pen_down``: the ink is still being drawn (a stroke is open), so it is unfinished
    for certain and read by the unfinished-ink model at its temperature for as many
    points as the strokes have (``webapp.hub``).
    """
    started = time.perf_counter()
    pixels = to_uint8(image)
    encoded = base64.b64encode(pixels.tobytes()).decode("ascii")
    if not pixels.any():
        fields = {"digit": None, "confidence": None, "probabilities": None,
                  "model_version": runtime.hub.version, "image": encoded}
        personal = False
    else:
        asked = time.perf_counter()
        drawn = sum(len(stroke) for stroke in strokes) if pen_down and strokes else 0
        p = runtime.predict(to_float(pixels), writer, drawn)
        answered = time.perf_counter()
        metrics.STAGES["predict"].observe(answered - asked)
        started += answered - asked  # the fields' own time, without the wait
        fields = {"digit": p.digit, "confidence": round(p.confidence, 6),
                  "probabilities": [round(float(x), 6) for x in p.probabilities],
                  "model_version": p.model_version, "image": encoded}
        personal = p.personal
    fields["several"] = None if strokes is None else several(strokes)
    if strokes is not None:
        fields["pen_down"] = pen_down
    if writer is not None:
        fields["personal"] = personal
    metrics.STAGES["fields"].observe(time.perf_counter() - started)
    return fields


def explained_fields(runtime, image: np.ndarray, writer: str | None = None,
                     strokes=None, pen_down: bool = False) -> dict:
    """A prediction's fields plus the inside view of the same pixels."""
    fields = prediction_fields(runtime, image, writer, strokes, pen_down)
    return {**fields, **runtime.explain(to_float(to_uint8(image)), fields["digit"])}


def inside_fields(model: Sequential, classic: Sequential | None, x: np.ndarray,
                  digit: int | None) -> dict:
    """``saliency``, ``layers`` and ``classic`` for float32 image x (28, 28) read as
    ``digit`` by ``model``; all null for an empty drawing (``digit`` None)."""
    if digit is None:
        return {"saliency": None, "layers": None, "classic": None}
    s = inside.saliency(model, x, digit)
    return {"saliency": np.round(s, SALIENCY_DECIMALS).tolist(),
            "layers": [layer_field(a) for a in inside.activations(model, x)],
            "classic": classic_answer(classic, x) if classic is not None else None}


def layer_field(activation: inside.Activation) -> dict:
    """One layer as ``{"name", "kind", "shape", "max", "values"}``: the values scaled so
    the layer's largest is 255, in ``LAYER_LEVELS`` steps, as base64 uint8 in the order
    of ``shape``; a convolution's maps channel first ([channels, height, width]), one
    tile per map."""
    a = activation.values
    if activation.kind == "conv":
        a = np.moveaxis(a, -1, 0)  # (H, W, C) -> (C, H, W)
    top = float(a.max())
    steps = LAYER_LEVELS - 1
    level = np.round(np.clip(a, 0, None) * (steps / top)) if top > 0 else np.zeros(a.shape)
    values = np.round(level * (255.0 / steps)).astype(np.uint8)
    return {"name": activation.name, "kind": activation.kind, "shape": list(a.shape),
            "max": round(top, 6), "values": base64.b64encode(values.tobytes()).decode("ascii")}


def classic_answer(classic: Sequential, x: np.ndarray) -> dict:
    """The classic network's ``digit``, ``confidence``, ``probabilities`` and the
    activations of its hidden units (``hidden``, each in [0, 1])."""
    hidden = inside.activations(classic, x)[0].values
    p = softmax(classic.predict_logits(x[None]).astype(np.float64) / classic.temperature)[0]
    digit = int(p.argmax())
    return {"digit": digit, "confidence": round(float(p[digit]), 6),
            "probabilities": [round(float(v), 6) for v in p],
            "hidden": [round(float(v), 6) for v in hidden]}


def classic_weights(classic: Sequential) -> dict:
    """The classic network's hidden units as pictures: each unit's 784 input weights as
    a 28x28 image of int8, scaled so the unit's largest |weight| is 127 (``scale`` gives
    that weight), base64 of (units, 28, 28) in order."""
    dense = next(layer for layer in classic.layers if "W" in layer.params)
    w = dense.params["W"].T.astype(np.float64)  # (units, 784)
    scale = np.abs(w).max(axis=1)
    pictures = np.round(w * (127.0 / np.where(scale > 0, scale, 1.0))[:, None]).astype(np.int8)
    metrics = classic.metadata.get("metrics", {})
    return {"architecture": "784-15-10 sigmoid" if w.shape[0] == 15 else
            f"784-{w.shape[0]}-10",
            "units": int(w.shape[0]), "shape": [int(w.shape[0]), 28, 28],
            "scale": [round(float(v), 6) for v in scale],
            "weights": base64.b64encode(pictures.tobytes()).decode("ascii"),
            "accuracy": metrics.get("test_accuracy")}
