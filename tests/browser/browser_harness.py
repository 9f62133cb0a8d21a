"""What the browser tests and the screenshot script share: Chromium's launch options
and hands that draw digits with a mouse or a finger.

The server is the real app on a restartable live server in the test process
(``support.servers.LiveServer``), not gunicorn in a subprocess: a test's server starts
in a few seconds and can be restarted on the same port; gunicorn is tested elsewhere.
"""

from __future__ import annotations

import json
import math
import re
import time

import pytest
from support.servers import ROOT

from network import pretrained

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails) the tests with the reason
    expect = None

trained_model = pytest.mark.skipif(
    not pretrained.CNN.exists(), reason=f"reading digits needs the trained {pretrained.CNN}"
)
"""Tests that need the shipped CNN to read digits."""


def state(page, name):
    """A field of the page's window.__inkling."""
    return page.evaluate(f"() => window.__inkling.{name}")

CHROMIUM = "/usr/bin/chromium"

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LANDSCAPE = {"viewport": {"width": 844, "height": 390}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
"""The screens the page is tested on: a phone upright and on its side, a desktop."""
"""Debian's Chromium; Playwright's own browser downloads are never used."""

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

REPO = ROOT


def launch_chromium(playwright):
    """Launch headless Debian Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# --- hands -------------------------------------------------------------------------------


# Digits as strokes in pad units (0..1, y down), shaped like MNIST's: centred, upright,
# about two thirds of the pad tall.
def _arc(cx, cy, rx, ry, start_deg, end_deg, n=48):
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start_deg + (end_deg - start_deg) * i / n for i in range(n + 1))
    ]


DIGITS = {
    "0": [_arc(0.5, 0.5, 0.19, 0.3, -90, -90 - 370)],
    "1": [[(0.53, 0.17), (0.47, 0.83)]],
    "2": [_arc(0.5, 0.36, 0.2, 0.18, 195, 380, 32) + [(0.29, 0.8), (0.73, 0.8)]],
    "3": [_arc(0.47, 0.34, 0.19, 0.16, 200, 450, 32) + _arc(0.47, 0.65, 0.21, 0.17, -90, 145, 32)],
    "7": [[(0.29, 0.22), (0.71, 0.22), (0.46, 0.82)]],
}
"""Stroke paths of a few digits in pad units."""


def densify(points, step):
    """Points every ``step`` units along a polyline through ``points``, ends included."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        out.extend((x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1))
    return out


def pad_box(page):
    """The drawing pad's box in page coordinates: {x, y, width, height}."""
    return page.locator("#ink").bounding_box()


def to_page(box, path, step_px=6.0):
    """A stroke path in pad units as many page points about ``step_px`` apart."""
    points = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in path]
    return densify(points, step_px)


def mouse_stroke(page, points, midway=None):
    """Draw one stroke with the mouse through page ``points``, one move per point.

    ``midway(i)``, if given, is called after each move with the point's index while the
    button is still down (tests use it to wait for predictions before pen-up).
    """
    page.mouse.move(*points[0])
    page.mouse.down()
    for i, (x, y) in enumerate(points[1:], start=1):
        page.mouse.move(x, y)
        if midway is not None:
            midway(i)
    page.mouse.up()


def mouse_digit(page, digit, step_px=6.0):
    """Draw ``digit`` (a key of DIGITS) with the mouse."""
    box = pad_box(page)
    for path in DIGITS[digit]:
        mouse_stroke(page, to_page(box, path, step_px))


def touch_stroke(cdp, points):
    """Draw one stroke with a finger (CDP touch events) through page ``points``."""

    def send(kind, touching):
        cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [
                    {"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}
                    for x, y in touching
                ],
            },
        )

    send("touchStart", [points[0]])
    for p in points[1:]:
        send("touchMove", [p])
    send("touchEnd", [])


INK_PIXELS_JS = """() => {
  const c = document.getElementById('ink');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""
"""JavaScript counting the drawing pad's inked device pixels."""

SETTLED_JS = """() => {
  const s = window.__inkling;
  return s.connection === 'open' && s.answeredSeq >= s.seq;
}"""
"""JavaScript true once the server has answered the page's newest message."""


def wait_settled(page, timeout=15_000):
    """Wait until the page's newest ink change has been answered by a prediction."""
    page.wait_for_function(SETTLED_JS, timeout=timeout)


def poll(page, js, arg=None, timeout_ms=20_000, what=None):
    """Evaluate ``js`` (with ``arg``) in the page until it is truthy; return that value.

    Polled with ``page.evaluate`` rather than ``wait_for_function``, which the page's
    strict Content-Security-Policy (no eval) can get in the way of.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = page.evaluate(js, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or js}")
        page.wait_for_timeout(40)


def open_page(page, url, timeout=20_000):
    """Go to the page and wait for the server's hello."""
    page.goto(url)
    page.wait_for_function(
        "() => window.__inkling && window.__inkling.hellos > 0"
        " && window.__inkling.connection === 'open'",
        timeout=timeout,
    )


# --- what the page says and hears ---------------------------------------------------------


class SocketLog:
    """Every frame of the page's WebSockets, in the order the browser saw them.

    ``frames`` holds ``(direction, message)`` with direction ``">"`` (the page sent it)
    or ``"<"`` (the server sent it) and the message parsed from JSON; ``sockets`` the
    same per socket, in the order the page opened them; ``urls`` their addresses.
    Attach it before the page loads.
    """

    def __init__(self, page):
        self.urls = []
        self.frames = []
        self.sockets = []
        page.on("websocket", self._opened)

    def _opened(self, ws):
        self.urls.append(ws.url)
        own = []
        self.sockets.append(own)

        def note(direction, payload):
            frame = (direction, _json(payload))
            own.append(frame)
            self.frames.append(frame)

        ws.on("framesent", lambda payload: note(">", payload))
        ws.on("framereceived", lambda payload: note("<", payload))

    def sent(self, kind=None):
        """The messages the page sent (of one type, if given)."""
        return [m for d, m in self.frames if d == ">" and (kind is None or m.get("type") == kind)]

    def received(self, kind=None):
        """The messages the server sent (of one type, if given)."""
        return [m for d, m in self.frames if d == "<" and (kind is None or m.get("type") == kind)]

    def wait(self, page, condition, timeout_ms=20_000, what=None):
        """Let Playwright deliver frames until ``condition()`` is truthy; return its value."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or 'frames'}")
            page.wait_for_timeout(40)


def _json(payload):
    try:
        message = json.loads(payload)
    except (TypeError, ValueError):
        return {"type": None, "raw": payload}
    return message if isinstance(message, dict) else {"type": None, "raw": message}


def rewrite_messages(page, change):
    """Route the page's /ws through the test: every message of the real server passes
    through ``change(msg)`` on its way to the page (return it unchanged to let it be).

    For messages a test needs in a shape the real server does not send on demand (a
    close call, a writer with many drawings), written as docs/protocol.md gives them.
    Call it before the page loads.
    """

    def handler(ws):
        server = ws.connect_to_server()
        server.on_message(lambda message: ws.send(json.dumps(change(json.loads(message)))))

    page.route_web_socket(re.compile(r"/ws(\?|$)"), handler)  # with or without ?writer=


class ConsoleErrors(list):
    """The page's console errors and uncaught exceptions, as text."""

    def __init__(self, page):
        super().__init__()
        page.on("console", lambda m: self.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.append(str(error)))


CANVAS_PIXELS_JS = """(selector) => {
  const c = document.querySelector(selector);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0, dark = 0, reddish = 0, bluish = 0, coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
    if (a === 0) continue;
    painted++;
    if (a === 255 && r < 200 && g < 200) dark++;
    if (a > 40 && r > b + 60) reddish++;
    if (a > 40 && b > r + 60) bluish++;
    if (a === 255 && Math.min(r, g, b) < 225) coloured++;
  }
  return { width: c.width, height: c.height, painted, dark, reddish, bluish, coloured };
}"""
"""JavaScript counting a canvas's pixels: painted (any alpha), dark (opaque, dark),
reddish and bluish (visibly tinted), coloured (opaque and not near white)."""


def canvas_pixels(page, selector):
    """Pixel counts of the first canvas matching ``selector`` (see CANVAS_PIXELS_JS)."""
    return page.evaluate(CANVAS_PIXELS_JS, selector)
