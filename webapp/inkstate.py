"""A connection's ink: the strokes the server keeps for one drawing session.

The client streams its pen: ``stroke`` messages append points to the open stroke (or
open one), ``end`` lifts the pen, ``undo`` and ``clear`` take ink away and ``ink``
replaces it all.  Every change is checked against the drawing limits first, so a
message that would break one changes nothing.
"""

from __future__ import annotations

import numpy as np

from network.ink.render import render
from webapp.protocol import Clear, DrawingLimits, End, Ink, ProtocolError, Stroke, Undo


class InkState:
    """A connection's ink: a list of float64 (k, 2) strokes, the last one possibly open."""

    def __init__(self, limits: DrawingLimits):
        self.limits = limits
        self.strokes: list[np.ndarray] = []
        self.open = False
        self.points = 0
        self._image: np.ndarray | None = None  # the strokes rendered, until they change

    def __repr__(self) -> str:
        return f"InkState(strokes={len(self.strokes)}, points={self.points}, open={self.open})"

    def image(self) -> np.ndarray:
        """The ink rendered as the network sees it, float32 (28, 28): rendered once per
        change of the strokes (a prediction and a teach of the same ink share it)."""
        if self._image is None:
            self._image = render(self.strokes)
            self._image.setflags(write=False)  # shared: nobody may change it
        return self._image

    def apply(self, message) -> None:
        """Apply one ink message, or raise ProtocolError(too_large) and change nothing."""
        if not isinstance(message, End):
            self._image = None
        limits = self.limits
        if isinstance(message, Stroke):
            if self.points + len(message.points) > limits.max_points_per_drawing:
                raise ProtocolError("too_large", "The drawing would have more than "
                                    f"{limits.max_points_per_drawing} points.", message.seq)
            if self.open:
                stroke = np.concatenate([self.strokes[-1], message.points])
                if len(stroke) > limits.max_points_per_stroke:
                    raise ProtocolError("too_large", "The stroke would have more than "
                                        f"{limits.max_points_per_stroke} points.", message.seq)
                self.strokes[-1] = stroke
            else:
                if len(self.strokes) >= limits.max_strokes:
                    raise ProtocolError("too_large", "The drawing would have more than "
                                        f"{limits.max_strokes} strokes.", message.seq)
                self.strokes.append(message.points)
                self.open = True
            self.points += len(message.points)
        elif isinstance(message, End):
            self.open = False
        elif isinstance(message, Undo):
            if self.strokes:
                self.points -= len(self.strokes.pop())
            self.open = False
        elif isinstance(message, Clear):
            self.strokes, self.points, self.open = [], 0, False
        elif isinstance(message, Ink):
            self.strokes = list(message.strokes)
            self.points = sum(len(s) for s in self.strokes)
            self.open = False
