"""The inside view (issue 14) in a real Chromium against the real app: closed, it costs
nothing (no `inside` message, no classic weights, no inside fields in any prediction);
opened, it asks the server, paints the saliency over what the network sees, every
feature map of both convolution layers, the dense layer's strip and the classic
network's 15 units with its answer, on every stroke; cleared, it goes blank; closed,
the server stops sending the fields; after a reconnect it asks again; on a phone it
starts folded away and opens below the drawing kit.

Conditions are polled (``poll``) or waited on with Playwright's expect, never slept on.
What the server said is read from the page's own WebSocket frames (``SocketLog``).
"""

from __future__ import annotations

import base64
import re
import statistics

import pytest
from browser_harness import (
    ConsoleErrors,
    SocketLog,
    canvas_pixels,
    expect,
    mouse_digit,
    open_page,
    pad_box,
    poll,
    state,
    trained_model,
    wait_settled,
)

from network import pretrained

pytestmark = pytest.mark.browser

needs_classic = pytest.mark.skipif(
    not pretrained.CLASSIC.exists(), reason=f"the classic network needs {pretrained.CLASSIC}"
)

INSIDE_FIELDS = ("saliency", "layers", "classic")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LANDSCAPE = {"viewport": {"width": 844, "height": 390}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def carries_inside(message):
    return any(field in message for field in INSIDE_FIELDS)


def open_inside(page):
    """Open the view with its control, then put the pad back on screen to draw."""
    page.locator(".inside-summary").click()
    poll(page, "() => document.getElementById('inside').open", what="the view to open")
    page.evaluate("window.scrollTo(0, 0)")
    poll(page, "() => window.scrollY === 0", what="the page to scroll back")


def predictions_after(log, sent_seq):
    """The server's predictions that answer the page's message ``sent_seq`` or later."""
    return [m for m in log.received("prediction")
            if isinstance(m.get("seq"), int) and m["seq"] >= sent_seq]


@needs_classic
def test_the_inside_view_costs_nothing_closed_and_paints_every_layer_open(live, page):
    log = SocketLog(page)
    errors = ConsoleErrors(page)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, live.url)

    # Closed by default, behind one obvious control; closed, the page asks for nothing.
    inside = page.locator("#inside")
    expect(page.locator(".inside-summary")).to_contain_text("Look inside the network")
    assert page.evaluate("document.getElementById('inside').open") is False
    expect(page.locator(".inside-body")).to_be_hidden()
    mouse_digit(page, "1", step_px=10)
    wait_settled(page)
    assert log.received("prediction"), "predictions arrived"
    assert not any(carries_inside(m) for m in log.received("prediction"))
    assert log.sent("inside") == []
    assert not any("/api/classic" in url for url in requests)

    # Opened on an empty pad: the page asks, the server answers, the view waits for ink.
    page.keyboard.press("Escape")
    wait_settled(page)
    open_inside(page)
    (on,) = log.wait(page, lambda: log.sent("inside"), what="the page to send `inside`")
    assert on["on"] is True
    poll(page, "() => document.querySelectorAll('#units canvas.unit-picture').length === 15",
         what="the classic network's 15 unit pictures")
    assert sum("/api/classic" in url for url in requests) == 1
    expect(inside).to_have_attribute("data-blank", "true")
    expect(page.locator(".inside-idle")).to_be_visible()

    # Drawing repaints it: the server's answers now carry the inside view.
    mouse_digit(page, "3", step_px=10)
    wait_settled(page)
    poll(page, "() => !window.__inkling.inside.blank", what="the view to be painted")
    expect(inside).to_have_attribute("data-blank", "false")
    expect(page.locator(".inside-idle")).to_be_hidden()
    answered = predictions_after(log, on["seq"])
    assert answered and all(carries_inside(m) for m in answered if m["digit"] is not None)
    last = answered[-1]
    assert len(last["saliency"]) == 28 and all(len(row) == 28 for row in last["saliency"])
    assert [layer["name"] for layer in last["layers"]] == ["conv1", "conv2", "dense1"]
    assert len(last["classic"]["hidden"]) == 15

    # Saliency over what the network sees: the grey digit under red and blue pushes.
    seen, overlay = canvas_pixels(page, "#inside-seen"), canvas_pixels(page, "#saliency")
    assert seen["painted"] > 40, seen
    assert overlay["painted"] > 40 and overlay["reddish"] > 10, overlay
    flat = [v for row in last["saliency"] for v in row]
    assert (overlay["bluish"] > 0) == any(v < -0.05 * max(map(abs, flat)) for v in flat)
    expect(page.locator(".why-digit").first).to_have_text(str(last["digit"]))
    expect(page.locator(".why-toward")).to_contain_text("pushed toward")
    expect(page.locator(".why-against")).to_contain_text("pushed away from")

    # One tile per feature map, each layer in one canvas, with ink where maps fire.
    conv1, conv2 = canvas_pixels(page, "#layer-conv1"), canvas_pixels(page, "#layer-conv2")
    dense = canvas_pixels(page, "#layer-dense1")
    assert (conv1["width"], conv1["height"]) == (8 * 29 - 1, 4 * 29 - 1)
    assert (conv2["width"], conv2["height"]) == (8 * 15 - 1, 8 * 15 - 1)
    assert (dense["width"], dense["height"]) == (32 * 5 - 1, 4 * 5 - 1)
    assert conv1["dark"] > 300, conv1
    assert conv2["dark"] > 50, conv2
    assert dense["dark"] > 16, dense  # at least one of the 128 cells (4x4 pixels each)

    # The classic network: 15 weight pictures, each lit by its unit, and its answer.
    units = page.locator("#units canvas.unit-picture")
    for j in range(15):
        picture = canvas_pixels(page, f"#units .unit:nth-child({j + 1}) canvas")
        assert picture["coloured"] > 50, (j, picture)
    classic = last["classic"]
    percent = int(classic["confidence"] * 100 + 0.5)  # as JavaScript's Math.round
    expect(page.locator("#classic-says")).to_have_text(
        f"The classic network says {classic['digit']} ({percent}%).")
    widths = page.evaluate(
        "[...document.querySelectorAll('#units .unit-fill')]"
        ".map(f => parseFloat(/scaleX\\(([^)]*)\\)/.exec(f.style.transform)[1]))")
    assert widths == pytest.approx(classic["hidden"], abs=0.002)
    assert units.count() == 15
    expect(page.locator(".part-classic")).to_contain_text("teaching trains the main network")

    # What an update costs the page, measured by the page itself.
    times = state(page, "inside.ms")
    assert len(times) >= 3
    median = statistics.median(times)
    print(f"\ninside view: {len(times)} updates, median {median:.2f} ms of JavaScript each")
    assert median < 50, f"an inside update takes {median:.1f} ms"

    # Cleared: every picture blank again.
    page.keyboard.press("Escape")
    wait_settled(page)
    expect(inside).to_have_attribute("data-blank", "true")
    assert canvas_pixels(page, "#layer-conv1")["dark"] == 0
    assert canvas_pixels(page, "#saliency")["reddish"] == 0

    # Closed: the page says so, and the server's answers no longer carry the view.
    page.locator(".inside-summary").click()
    poll(page, "() => !document.getElementById('inside').open", what="the view to close")
    off = log.wait(page, lambda: len(log.sent("inside")) == 2 and log.sent("inside")[-1],
                   what="the page to send `inside` off")
    assert off["on"] is False
    page.evaluate("window.scrollTo(0, 0)")
    poll(page, "() => window.scrollY === 0")
    mouse_digit(page, "7", step_px=10)
    wait_settled(page)
    later = predictions_after(log, off["seq"])
    assert any(m["digit"] is not None for m in later), "the 7 was read"
    assert not any(carries_inside(m) for m in later)
    assert state(page, "inside.lastHadFields") is False
    assert errors == []


@needs_classic
def test_the_inside_view_is_asked_for_again_after_a_reconnect(live, page):
    log = SocketLog(page)
    errors = ConsoleErrors(page)
    open_page(page, live.url)
    open_inside(page)
    mouse_digit(page, "3", step_px=10)
    wait_settled(page)
    poll(page, "() => !window.__inkling.inside.blank", what="the view to be painted")

    live.stop()
    poll(page, "() => window.__inkling.connection !== 'open'", what="the page to notice")
    live.start(live.port)
    poll(page, "() => window.__inkling.hellos >= 2 && window.__inkling.connection === 'open'",
         timeout_ms=30_000, what="the page to reconnect")
    wait_settled(page)
    # On the new socket the page repeated `on` (with its ink), and the view is fed again.
    poll(page, """() => window.__inkling.inside.lastHadFields
                   && !window.__inkling.inside.blank""", what="inside fields on the new socket")
    second = log.sockets[-1]
    assert len(log.sockets) >= 2
    assert [m["on"] for d, m in second if d == ">" and m.get("type") == "inside"] == [True]
    assert any(m.get("type") == "ink" for d, m in second if d == ">")
    fed = [m for d, m in second if d == "<" and m.get("type") == "prediction"]
    assert any(m.get("layers") for m in fed)
    # Only the browser's own report of the refused connection while the server was down.
    assert all("WebSocket" in e for e in errors), errors


@needs_classic
@pytest.mark.parametrize("screen", [PHONE, LANDSCAPE], ids=["phone-390x844", "landscape-844x390"])
def test_on_a_phone_the_inside_view_folds_away(live, make_page, screen):
    page = make_page(**screen)
    errors = ConsoleErrors(page)
    open_page(page, live.url)
    width, height = screen["viewport"]["width"], screen["viewport"]["height"]

    # Folded: one line below the drawing kit, which it never covers or pushes off screen.
    assert page.evaluate("document.getElementById('inside').open") is False
    expect(page.locator(".inside-body")).to_be_hidden()
    summary = page.locator(".inside-summary")
    s, pad = summary.bounding_box(), pad_box(page)
    assert s["y"] >= pad["y"] + pad["height"], "below the pad"
    assert s["height"] < 90, "folded to one line"
    kit = ("#sheet", "#verdict-digit", '.digit[data-label="0"]', '.digit[data-label="9"]')
    for selector in kit:
        b = page.locator(selector).bounding_box()
        assert b["y"] >= 0 and b["y"] + b["height"] <= height + 0.5, f"{selector} in view"

    # A tap opens it; it fits the screen's width and paints what is drawn.
    summary.tap()
    poll(page, "() => document.getElementById('inside').open", what="the tap to open it")
    expect(page.locator(".inside-body")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    poll(page, "() => window.scrollY === 0")
    assert pad_box(page) == pad, "opening it moved nothing above it"
    mouse_digit(page, "3", step_px=10)
    wait_settled(page)
    poll(page, "() => !window.__inkling.inside.blank", what="the view to be painted")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    conv1 = page.locator("#layer-conv1").bounding_box()
    assert conv1["width"] <= width and conv1["y"] > pad["y"] + pad["height"]
    assert canvas_pixels(page, "#layer-conv1")["dark"] > 300
    assert re.fullmatch(r"The classic network says \d \(\d{1,3}%\)\.",
                        page.locator("#classic-says").inner_text())
    # And a tap folds it away again.
    summary.scroll_into_view_if_needed()
    summary.tap()
    poll(page, "() => !document.getElementById('inside').open", what="the tap to close it")
    expect(page.locator(".inside-body")).to_be_hidden()
    assert errors == []


HATCH = (207, 198, 179)  # static/paint.js: the stripes over a map that stays blank
TILE_PIXELS_JS = """([selector, k, cols, h, w, rgb]) => {
  const c = document.querySelector(selector);
  const x0 = (k % cols) * (w + 1), y0 = Math.floor(k / cols) * (h + 1);
  const d = c.getContext('2d').getImageData(x0, y0, w, h).data;
  let hatch = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] === rgb[0] && d[i + 1] === rgb[1] && d[i + 2] === rgb[2]) hatch++;
  }
  return hatch;
}"""
"""JavaScript: how many pixels of tile k of a mosaic canvas have the hatch colour."""


def blank_maps(layer):
    """Indexes of the maps of a conv layer (as the server sends it) whose bytes are all 0."""
    raw = base64.b64decode(layer["values"])
    count, h, w = layer["shape"]
    return [k for k in range(count) if not any(raw[k * h * w:(k + 1) * h * w])]


def inside_answers(log, since):
    """The layers of every prediction with ink and the inside view, answering ``since`` on."""
    return [{layer["name"]: layer for layer in m["layers"]}
            for m in predictions_after(log, since) if m.get("layers")]


@trained_model
@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["phone-390x844", "desktop-1280x800"])
def test_blank_maps_are_hatched_and_named_and_every_tile_is_big_enough_to_see(live, make_page,
                                                                               screen):
    page = make_page(**screen)
    log = SocketLog(page)
    errors = ConsoleErrors(page)
    open_page(page, live.url)
    open_inside(page)
    (on,) = log.wait(page, lambda: log.sent("inside"), what="the page to send `inside`")
    mouse_digit(page, "3", step_px=10)
    wait_settled(page)
    poll(page, "() => !window.__inkling.inside.blank", what="the view to be painted")

    # Which maps are blank is read from the server's own bytes, and the page agrees.
    last = inside_answers(log, on["seq"])[-1]
    for name, cols in (("conv1", 8), ("conv2", 8)):
        blank = blank_maps(last[name])
        assert state(page, f"inside.silent.{name}") == blank, name
        note = page.locator(f"#silent-{name}")
        if not blank:
            expect(note).to_be_hidden()
            continue
        expect(note).to_be_visible()
        first = f"Map {blank[0] + 1}" if len(blank) == 1 else "Maps "
        expect(note).to_contain_text(first)
        expect(note).to_contain_text("blank on this drawing (hatched)")
        count, h, w = last[name]["shape"]
        hatched = page.evaluate(TILE_PIXELS_JS, [f"#layer-{name}", blank[0], cols, h, w, HATCH])
        assert hatched >= h * w // 5, (name, blank[0], hatched)
        firing = next(k for k in range(count) if k not in blank)
        assert page.evaluate(TILE_PIXELS_JS,
                             [f"#layer-{name}", firing, cols, h, w, HATCH]) == 0
    # The shipped CNN has a first-layer filter that fires on no drawing (issue 24: map 32).
    assert blank_maps(last["conv1"]), "a blank map to label"

    # A second drawing: a map blank on both is named as a filter that never fires.
    page.keyboard.press("Escape")
    wait_settled(page)
    page.evaluate("window.scrollTo(0, 0)")
    poll(page, "() => window.scrollY === 0")
    mouse_digit(page, "7", step_px=10)
    wait_settled(page)
    poll(page, "() => !window.__inkling.inside.blank", what="the view to be painted again")
    assert state(page, "inside.drawings") == 2
    dead = set(range(32))
    for layers in inside_answers(log, on["seq"]):
        dead &= set(blank_maps(layers["conv1"]))
    assert dead, "blank on every answer of both drawings"
    assert dead <= set(state(page, "inside.always.conv1"))
    note = page.locator("#silent-conv1")
    expect(note).to_contain_text("on all 2 drawings since you opened this view")
    expect(note).to_contain_text("never fire")
    for k in dead:
        expect(note).to_contain_text(str(k + 1))

    # Every feature map is a tile big enough to see: at least 36 CSS pixels across.
    for name in ("conv1", "conv2"):
        width = page.locator(f"#layer-{name}").bounding_box()["width"]
        assert width / 8 >= 36, (name, width)
    # Blue in "what pushed the answer" is explained, whatever the answer's confidence.
    why = page.locator(".why-blue")
    expect(why).to_be_visible()
    expect(why).to_contain_text("Some blue is normal, even when it is 100% sure")
    assert errors == []


def test_the_browser_and_the_server_agree_to_compress_the_socket(live, make_page):
    """Chromium asks for permessage-deflate and the server grants it: the inside view's
    pictures, mostly silent maps in 64 shades, cross the wire compressed
    (``benchmarks/inside_bytes.py`` measures how much)."""
    page = make_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    handshakes = []
    cdp.on("Network.webSocketHandshakeResponseReceived",
           lambda event: handshakes.append(event["response"]["headers"]))
    open_page(page, live.url)
    poll(page, "() => true", what="events to be delivered")  # a round trip to the page
    assert handshakes, "no WebSocket handshake seen"
    headers = {name.lower(): value for name, value in handshakes[0].items()}
    assert "permessage-deflate" in headers.get("sec-websocket-extensions", ""), headers
