"""What the browser tests and the screenshot script share: a restartable live server,
Chromium's launch options, and hands that draw digits with a mouse or a finger.

The trade-off: the server is the real app (``create_app``) on werkzeug's threaded
server in a thread of the test process, not gunicorn in a subprocess.  That keeps a
test's server start under a few seconds and lets a test stop it and start a new one on
the same port and instance folder, which is what "restart the server under an open
page" needs; gunicorn itself is tested elsewhere.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
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

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "network" / "pretrained" / "cnn.npz"


def seed_model(folder) -> str | None:
    """The model new instances start from: None for the shipped one, else an untrained CNN.

    Before the trained weights ship, the page's plumbing is still tested on an
    untrained network of the same shape (saved in ``folder``); tests that need digits
    read correctly skip instead.
    """
    if SHIPPED_MODEL.exists() or os.environ.get("INKLING_INITIAL_MODEL"):
        return None
    import numpy as np

    from network.model import build_cnn, save_model

    path = Path(folder) / "cnn_untrained.npz"
    if not path.exists():
        save_model(build_cnn(np.random.default_rng(0)), path)
    return str(path)


def launch_chromium(playwright):
    """Launch headless Debian Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class LiveServer:
    """The real app on a werkzeug server in a thread, restartable on the same port.

    ``instance_path`` is the instance folder (a fresh one per test); ``config`` adds
    test overrides to ``create_app``'s configuration.
    """

    def __init__(self, instance_path: str | os.PathLike, config: dict | None = None):
        self.instance_path = str(instance_path)
        self.config = dict(config or {})
        self.app = None
        self.server = None
        self.thread = None
        self.port = 0

    def __repr__(self) -> str:
        state = "running" if self.server is not None else "stopped"
        return f"LiveServer(port={self.port}, instance={self.instance_path!r}, {state})"

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def runtime(self):
        """The running app's Runtime (its model hub, sessions and limits)."""
        return self.app.extensions["inkling"]

    def start(self, port: int = 0) -> LiveServer:
        """Create the app and serve it on 127.0.0.1:port (0: a port the OS picks)."""
        from webapp import create_app

        self.app = create_app({"TESTING": True, "INSTANCE_PATH": self.instance_path, **self.config})
        try:
            self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        except BaseException:
            self.runtime.close()
            raise
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"live-server-{self.port}",
            daemon=True,
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        """Close every open socket (code 1001), stop serving and release the port."""
        if self.server is None:
            return
        runtime = self.runtime
        runtime.shutdown()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        runtime.close()
        self.server = None
        self.thread = None

    def restart(self) -> None:
        """Stop, then start a new app on the same port and instance folder."""
        port = self.port
        self.stop()
        self.start(port)


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


def open_page(page, url, timeout=20_000):
    """Go to the page and wait for the server's hello."""
    page.goto(url)
    page.wait_for_function(
        "() => window.__inkling && window.__inkling.hellos > 0"
        " && window.__inkling.connection === 'open'",
        timeout=timeout,
    )
