"""Protocol limits and message parsing: untrusted JSON in, plain typed values out.

Everything a client sends is checked here, once, at the edge, and turned into small
frozen dataclasses holding ints and NumPy arrays; the rest of the app never looks at
raw JSON again.  A violation raises ``ProtocolError`` carrying the protocol's error
code (``bad_json``, ``bad_message``, ``bad_label``, ``too_large``) and a sentence a
person understands.

The trade-off: coordinates are type-checked point by point in Python (strings and
booleans are not numbers, even though NumPy would happily convert them), which costs
about a microsecond per point.  Typical ``stroke`` messages carry a handful of points,
and a whole drawing is capped by ``DrawingLimits.max_points_per_drawing``, so strictness wins
over the last millisecond on a rare full-drawing ``ink`` message.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer a JavaScript client can echo exactly; ``seq`` must stay within it."""

_NUMBER_TYPES = (int, float)


class ProtocolError(Exception):
    """A message the server refuses, with the protocol's error code and the seq to echo."""

    def __init__(self, code: str, message: str, seq: int | None = None, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq
        self.extra = extra  # more fields for the wire, e.g. the count of refused messages

    def __repr__(self) -> str:
        return f"ProtocolError({self.code!r}, {self.message!r}, seq={self.seq!r})"

    def to_json(self) -> dict:
        """Return the error as the wire's ``{"type":"error",...}`` object."""
        return {"type": "error", "seq": self.seq, "code": self.code, "message": self.message,
                **self.extra}


@dataclass(frozen=True)
class DrawingLimits:
    """The size limits every drawing must respect (see docs/protocol.md)."""

    max_points_per_stroke: int = 4_000
    max_points_per_drawing: int = 10_000
    max_strokes: int = 200
    max_coordinate: float = 1e6

    @classmethod
    def from_config(cls, config) -> DrawingLimits:
        """Build the limits from a Flask config mapping."""
        return cls(
            max_points_per_stroke=int(config["MAX_POINTS_PER_STROKE"]),
            max_points_per_drawing=int(config["MAX_POINTS_PER_DRAWING"]),
            max_strokes=int(config["MAX_STROKES"]),
            max_coordinate=float(config["MAX_COORDINATE"]),
        )

    def to_json(self) -> dict:
        """Return the limits as a JSON-ready dict (sent in ``hello``)."""
        return {
            "max_points_per_stroke": self.max_points_per_stroke,
            "max_points_per_drawing": self.max_points_per_drawing,
            "max_strokes": self.max_strokes,
            "max_coordinate": self.max_coordinate,
        }


# --- messages: plain typed values ----------------------------------------------------


@dataclass(frozen=True)
class Stroke:
    """``stroke``: append ``points`` (float64 (k, 2)) to the open stroke."""

    seq: int | None
    points: np.ndarray


@dataclass(frozen=True)
class End:
    """``end``: pen up, close the open stroke."""

    seq: int | None


@dataclass(frozen=True)
class Undo:
    """``undo``: remove the last stroke."""

    seq: int | None


@dataclass(frozen=True)
class Clear:
    """``clear``: remove all ink."""

    seq: int | None


@dataclass(frozen=True)
class Ink:
    """``ink``: replace all ink by ``strokes`` (a tuple of float64 (k, 2) arrays)."""

    seq: int | None
    strokes: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Teach:
    """``teach``: the current ink is the digit ``label``; ``token`` may authorise it."""

    seq: int | None
    label: int
    token: str | None = None
    teach_id: str | None = None  # the client's own id: a resend is answered, not taught again


@dataclass(frozen=True)
class Forget:
    """``forget``: remove this connection's writer's drawings and personal adaptation."""

    seq: int | None


@dataclass(frozen=True)
class Inside:
    """``inside``: send (``on``) or stop sending the inside view with every prediction."""

    seq: int | None
    on: bool


@dataclass(frozen=True)
class PredictBody:
    """A ``POST /api/predict`` (or ``/api/explain``) body: strokes or an image, a writer."""

    strokes: tuple[np.ndarray, ...] | None
    image: np.ndarray | None  # uint8 (28, 28)
    writer: str | None


INK_MESSAGES = (Stroke, End, Undo, Clear, Ink)
"""Message classes that change the ink and are answered by a prediction."""


# --- parsing ---------------------------------------------------------------------------


def decode_json(text: str | bytes):
    """Return the decoded JSON value, or raise ProtocolError(bad_json)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ProtocolError("bad_json", "The message nests too deeply to be read.") from None
    except (ValueError, TypeError) as exc:
        # JSONDecodeError is a ValueError; so are integers longer than Python allows.
        raise ProtocolError("bad_json", f"The message is not valid JSON ({exc}).") from None


def parse_seq(value) -> int | None:
    """Return ``seq`` as an int (or None when absent), or raise ProtocolError(bad_message)."""
    if value is None:
        return None
    if type(value) is not int or abs(value) > MAX_SAFE_INTEGER:
        raise ProtocolError("bad_message", "seq must be an integer (at most 2^53 - 1 in size).")
    return value


def parse_label(value, seq: int | None = None) -> int:
    """Return the label as an int 0..9, or raise ProtocolError(bad_label)."""
    # bool is a subclass of int in Python, but true is not a digit.
    if type(value) is not int or not 0 <= value <= 9:
        raise ProtocolError("bad_label", "label must be an integer from 0 to 9.", seq)
    return value


def parse_points(value, limits: DrawingLimits, seq: int | None = None, where: str = "points"):
    """Return a float64 (k, 2) array of the ``[[x, y], ...]`` list, or raise ProtocolError."""
    if not isinstance(value, list):
        raise ProtocolError("bad_message", f"{where} must be a list of [x, y] points.", seq)
    if len(value) > limits.max_points_per_stroke:
        raise ProtocolError(
            "too_large",
            f"{where} has {len(value)} points; a stroke may have at most "
            f"{limits.max_points_per_stroke}.",
            seq,
        )
    for point in value:
        if (
            type(point) is not list
            or len(point) != 2
            or type(point[0]) not in _NUMBER_TYPES
            or type(point[1]) not in _NUMBER_TYPES
        ):
            raise ProtocolError(
                "bad_message", f"{where} must be a list of [x, y] pairs of numbers.", seq
            )
    try:
        points = np.array(value, dtype=np.float64).reshape(-1, 2)
    except OverflowError:
        # An integer literal beyond float range, e.g. 10**400.
        points = np.array([[math.inf, math.inf]])
    bound = limits.max_coordinate
    if points.size and not (np.isfinite(points).all() and np.abs(points).max() <= bound):
        raise ProtocolError(
            "bad_message",
            f"{where}: coordinates must be finite numbers between -{bound:g} and {bound:g}.",
            seq,
        )
    return points


def parse_strokes(value, limits: DrawingLimits, seq: int | None = None) -> tuple[np.ndarray, ...]:
    """Return the non-empty strokes of ``[[[x, y], ...], ...]`` as arrays, or raise."""
    if not isinstance(value, list):
        raise ProtocolError("bad_message", "strokes must be a list of strokes.", seq)
    if len(value) > limits.max_strokes:
        raise ProtocolError(
            "too_large",
            f"The drawing has {len(value)} strokes; at most {limits.max_strokes} are allowed.",
            seq,
        )
    strokes = []
    total = 0
    for i, stroke in enumerate(value):
        points = parse_points(stroke, limits, seq, where=f"stroke {i}")
        total += len(points)
        if total > limits.max_points_per_drawing:
            raise ProtocolError(
                "too_large",
                f"The drawing has more than {limits.max_points_per_drawing} points.",
                seq,
            )
        if len(points):
            # Empty strokes draw nothing; dropping them keeps undo meaningful.
            strokes.append(points)
    return tuple(strokes)


def parse_image(value, seq: int | None = None) -> np.ndarray:
    """Return a uint8 (28, 28) image from 28 lists of 28 ints 0..255, or raise ProtocolError."""
    problem = ProtocolError(
        "bad_message", "image must be 28 lists of 28 integers from 0 to 255.", seq
    )
    if not isinstance(value, list) or len(value) != 28:
        raise problem
    for row in value:
        if not isinstance(row, list) or len(row) != 28:
            raise problem
        for v in row:
            if type(v) is not int or not 0 <= v <= 255:
                raise problem
    return np.array(value, dtype=np.uint8)


WRITER = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""A writer id: 8 to 64 characters from A-Z a-z 0-9 _ - (a client chooses it)."""

TEACH_ID = WRITER
"""A teach's id: the same alphabet and length (the page makes a random 128-bit one)."""


def parse_writer(value, seq: int | None = None) -> str:
    """Return a writer id, or raise ProtocolError(bad_message)."""
    if not isinstance(value, str) or WRITER.fullmatch(value) is None:
        raise ProtocolError("bad_message", "writer must be 8 to 64 characters from A-Z, a-z, "
                            "0-9, _ and -.", seq)
    return value


def parse_message(data: str | bytes, limits: DrawingLimits):
    """Return the typed message of one WebSocket frame, or raise ProtocolError."""
    if isinstance(data, bytes):
        raise ProtocolError("bad_message", "Send JSON text frames, not binary frames.")
    obj = decode_json(data)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "A message must be a JSON object with a type.")
    seq = parse_seq(obj.get("seq"))
    kind = obj.get("type")
    if kind == "stroke":
        if "points" not in obj:
            raise ProtocolError("bad_message", "A stroke message needs points.", seq)
        points = parse_points(obj["points"], limits, seq)
        if not len(points):
            raise ProtocolError("bad_message", "A stroke message needs at least one point.", seq)
        return Stroke(seq, points)
    if kind == "end":
        return End(seq)
    if kind == "undo":
        return Undo(seq)
    if kind == "clear":
        return Clear(seq)
    if kind == "ink":
        if "strokes" not in obj:
            raise ProtocolError("bad_message", "An ink message needs strokes.", seq)
        return Ink(seq, parse_strokes(obj["strokes"], limits, seq))
    if kind == "teach":
        if "label" not in obj:
            raise ProtocolError("bad_label", "A teach message needs a label from 0 to 9.", seq)
        label = parse_label(obj["label"], seq)
        token = obj.get("token")
        if token is not None and not isinstance(token, str):
            raise ProtocolError("bad_message", "token must be a string.", seq)
        teach_id = obj.get("id")
        if teach_id is not None and (not isinstance(teach_id, str)
                                     or TEACH_ID.fullmatch(teach_id) is None):
            raise ProtocolError("bad_message", "id must be 8 to 64 characters from A-Z, a-z, "
                                "0-9, _ and -.", seq)
        return Teach(seq, label, token, teach_id)
    if kind == "forget":
        return Forget(seq)
    if kind == "inside":
        if not isinstance(obj.get("on"), bool):
            raise ProtocolError("bad_message", "An inside message needs \"on\": true or false.",
                                seq)
        return Inside(seq, obj["on"])
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "A message needs a string type.", seq)
    shown = kind if len(kind) <= 40 else kind[:40] + "..."
    raise ProtocolError("bad_message", f"Unknown message type {shown!r}.", seq)


def parse_predict_body(data: bytes, limits: DrawingLimits) -> PredictBody:
    """The strokes or the image, and the optional writer, of a /api/predict body."""
    obj = decode_json(data)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message",
                            'The body must be a JSON object with "strokes" or "image".')
    if ("strokes" in obj) == ("image" in obj):
        raise ProtocolError("bad_message", 'Send exactly one of "strokes" or "image".')
    writer = parse_writer(obj["writer"]) if obj.get("writer") is not None else None
    if "strokes" in obj:
        return PredictBody(parse_strokes(obj["strokes"], limits), None, writer)
    return PredictBody(None, parse_image(obj["image"]), writer)
