"""The drawing page in a real Chromium against the real app: drawing streams
predictions, touch draws without scrolling, teaching updates every open page, undo and
clear, and the page survives a server restart.

Every wait is on a condition in the page (Playwright's expect / wait_for_function),
never a sleep.  The page exposes ``window.__inkling`` (counters of what it received)
for the conditions that are not visible text.
"""

from __future__ import annotations

import re

import pytest
from browser_harness import (
    DIGITS,
    INK_PIXELS_JS,
    expect,
    mouse_digit,
    mouse_stroke,
    open_page,
    pad_box,
    state,
    to_page,
    touch_stroke,
    trained_model,
    wait_settled,
)

pytestmark = pytest.mark.browser



def ink_pixels(page):
    """How many device pixels of the pad carry ink."""
    return page.evaluate(INK_PIXELS_JS)


def wait_ink(page, condition):
    """Wait until the pad's inked pixel count n satisfies the JS ``condition`` on n."""
    page.wait_for_function(f"() => {{ const n = ({INK_PIXELS_JS})(); return {condition}; }}")


def test_page_basics(live, page):
    open_page(page, live.url)
    expect(page).to_have_title(re.compile("Inkling"))
    assert page.locator("link[rel=icon]").get_attribute("href").endswith("favicon.svg")
    # The empty pad invites drawing and the answer shows no guess.
    expect(page.locator("#sheet")).to_have_attribute("data-empty", "true")
    expect(page.locator(".invite")).to_be_visible()
    expect(page.locator("#verdict")).to_have_attribute("data-state", "empty")
    expect(page.locator("#verdict-digit")).to_have_text("")
    expect(page.locator("#status-text")).to_have_text("Live")
    # The accuracy panel starts from the hello.
    expect(page.locator("#model-version")).to_have_text("v1")
    expect(page.locator("#acc-heldout")).to_have_text(re.compile(r"^\d{1,3}\.\d%$"))
    expect(page.locator("#acc-taught")).to_have_text("none yet")
    expect(page.locator("#samples")).to_have_text("0")
    # Real buttons, each with a name.
    names = ["Undo", "Clear"] + [
        f"It’s {'an' if d == 8 else 'a'} {d}: teach the network" for d in range(10)
    ]
    for name in names:
        expect(page.get_by_role("button", name=name)).to_be_visible()
    assert page.locator(".digit").count() == 10
    # The answer speaks through a live region; the pad cannot scroll the page.
    assert page.locator("#announce").get_attribute("aria-live") == "polite"
    assert page.evaluate("getComputedStyle(document.getElementById('ink')).touchAction") == "none"
    # The security headers the page runs under (no inline script allowed).
    csp = page.request.get(live.url).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


@trained_model
def test_drawing_streams_predictions_and_reads_one_and_zero(live, page):
    open_page(page, live.url)
    for digit in ("1", "0"):
        box = pad_box(page)
        points = to_page(box, DIGITS[digit][0], step_px=3)
        assert len(points) > 80, "many small moves"
        shown_before = state(page, "shown")
        down_before = state(page, "shownWhileDrawing")
        third = len(points) // 3

        def midway(i, shown_before=shown_before, third=third):
            # With the button still down, wait for the stream to be answered twice.
            if i == third:
                page.wait_for_function("n => window.__inkling.shown >= n", arg=shown_before + 1)
            elif i == 2 * third:
                page.wait_for_function("n => window.__inkling.shown >= n", arg=shown_before + 2)

        mouse_stroke(page, points, midway)
        assert state(page, "shownWhileDrawing") >= down_before + 2
        wait_settled(page)
        expect(page.locator("#verdict-digit")).to_have_text(digit)
        expect(page.locator("#verdict-text")).to_have_text(
            re.compile(rf"^(\d{{1,3}}% sure|Close call: {digit} or \d)$"))
        # The bars and the network's-eye view follow the answer.
        expect(page.locator(".bar.is-top .bar-label")).to_have_text(digit)
        assert state(page, "last.inkPixels") > 20
        assert (
            page.evaluate("getComputedStyle(document.getElementById('seen')).imageRendering")
            == "pixelated"
        )
        page.keyboard.press("Escape")
        expect(page.locator("#verdict")).to_have_attribute("data-state", "empty")


INKED_AT_JS = """([u, v]) => {
  const c = document.getElementById('ink');
  const x = Math.floor(c.width * u), y = Math.floor(c.height * v);
  return c.getContext('2d').getImageData(x, y, 1, 1).data[3];
}"""
"""JavaScript: the ink's alpha at pad position (u, v) in 0..1 units."""


def inked_at(page, u, v):
    """The ink's alpha (0..255) at pad position (u, v)."""
    return page.evaluate(INKED_AT_JS, [u, v])


def test_ink_is_sharp_and_lands_where_the_pointer_is_when_scrolled_and_resized(live, make_page):
    page = make_page(viewport={"width": 900, "height": 500}, device_scale_factor=2)
    open_page(page, live.url)
    backing_js = (
        "() => { const c = document.getElementById('ink'); return [c.width, c.clientWidth]; }"
    )
    # High-DPI: the backing store has two device pixels per CSS pixel.
    width, css_width = page.evaluate(backing_js)
    assert width == 2 * css_width
    page.evaluate("window.scrollTo(0, 120)")
    page.wait_for_function("() => window.scrollY === 120")
    # A short stroke across the pad's centre paints the centre, and nothing far from it.
    mouse_stroke(page, to_page(pad_box(page), [(0.4, 0.5), (0.6, 0.5)]))
    page.wait_for_function(f"() => ({INKED_AT_JS})([0.5, 0.5]) > 200")
    assert inked_at(page, 0.5, 0.25) == 0

    # Resized: the ink scales with the pad, and new ink lands under the pointer.
    page.set_viewport_size({"width": 640, "height": 700})
    # The pad's CSS size changes at layout; its backing store follows in the page's resize
    # handler a moment later, so wait for both (a stale backing store would time out here).
    page.wait_for_function(
        "w => { const c = document.getElementById('ink');"
        " return c.clientWidth !== w && c.width === 2 * c.clientWidth; }", arg=css_width)
    width, css_width = page.evaluate(backing_js)
    assert width == 2 * css_width
    page.wait_for_function(f"() => ({INKED_AT_JS})([0.5, 0.5]) > 200")
    page.locator("#sheet").scroll_into_view_if_needed()
    mouse_stroke(page, to_page(pad_box(page), [(0.5, 0.2), (0.5, 0.3)]))
    page.wait_for_function(f"() => ({INKED_AT_JS})([0.5, 0.25]) > 200")
    assert inked_at(page, 0.25, 0.25) == 0
    # The server was told the rescaled ink and still reads both strokes.
    wait_settled(page)
    assert state(page, "strokes") == 2
    assert state(page, "errors") == []


def test_touch_draws_and_does_not_scroll(live, make_page):
    page = make_page(
        viewport={"width": 360, "height": 640},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    open_page(page, live.url)
    # A phone-sized page is taller than the screen and never wider.
    assert page.evaluate("document.documentElement.scrollHeight") > 640
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator("#sheet").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 40)")
    page.wait_for_function("() => window.scrollY > 0")
    scroll_before = page.evaluate("window.scrollY")
    box = pad_box(page)
    assert box["y"] >= 0 and box["y"] + box["height"] <= 640, "the pad is on screen"

    cdp = page.context.new_cdp_session(page)
    # A downward finger stroke: on anything but the pad it would scroll the page.
    touch_stroke(cdp, to_page(box, [(0.5, 0.15), (0.5, 0.85)], step_px=4))
    wait_ink(page, "n > 500")
    assert state(page, "strokes") == 1
    wait_settled(page)
    assert state(page, "last.inkPixels") > 10, "the server read the touch stroke"
    assert page.evaluate("window.scrollY") == scroll_before

    # The same gesture on the page outside the pad does scroll: the check above can fail.
    stats = page.locator(".stats").bounding_box()
    top = max(stats["y"], 0) + 20
    touch_stroke(cdp, [(180, top + 200 - i * 4) for i in range(50)])
    page.wait_for_function("y => window.scrollY !== y", arg=scroll_before)
    cdp.detach()


def test_teach_with_button_and_key_updates_this_page_and_another(live, make_page):
    page = make_page()
    other = make_page()
    open_page(page, live.url)
    open_page(other, live.url)
    expect(other.locator("#model-version")).to_have_text("v1")

    # Teach with a button.
    mouse_digit(page, "1")
    wait_settled(page)
    page.get_by_role("button", name="It’s a 1: teach the network").click()
    # Under the buttons: what it read before and what the new version reads now.
    expect(page.locator("#feedback")).to_have_attribute("data-show", "result")
    expect(page.locator("#result-title")).to_have_text("Learned: a 1")
    expect(page.locator("#model-version")).to_have_text("v2")
    expect(page.locator("#samples")).to_have_text("1")
    expect(page.locator("#acc-taught")).to_have_text(re.compile(r"^\d{1,3}\.\d%$"))
    predicted = state(page, "lastTaught.predicted")
    expect(page.locator("#before-digit")).to_have_text(str(predicted))
    expect(page.locator("#after-digit")).to_have_text(re.compile(r"^\d$"))
    # The drawing stays while the result is shown, and makes way for the next drawing.
    expect(page.locator("#sheet")).to_have_attribute("data-review", "true")
    assert state(page, "strokes") == 1
    # The other page learns of it without reloading.
    expect(other.locator("#model-version")).to_have_text("v2")
    expect(other.locator("#samples")).to_have_text("1")
    expect(other.locator("#acc-taught")).to_have_text(page.locator("#acc-taught").inner_text())

    # Teach with a key; the next drawing's first stroke cleared the taught one.
    mouse_digit(page, "7")
    wait_settled(page)
    assert state(page, "strokes") == 1
    assert state(page, "review") is False
    page.keyboard.press("7")
    expect(page.locator("#model-version")).to_have_text("v3")
    expect(page.locator("#samples")).to_have_text("2")
    expect(other.locator("#model-version")).to_have_text("v3")
    expect(other.locator("#samples")).to_have_text("2")
    # The history chart has a line now (v1, v2, v3 on this page).
    expect(page.locator("#chart polyline.chart-heldout")).to_have_count(1)
    # What the server stored agrees.
    model = page.request.get(live.url + "/api/model").json()
    assert model["version"] == 3 and model["samples"] == 2


def test_teaching_an_empty_pad_is_explained_not_sent(live, page):
    open_page(page, live.url)
    seq = state(page, "seq")
    page.keyboard.press("4")
    expect(page.locator("#notice")).to_have_text(re.compile("Draw a digit first"))
    assert state(page, "seq") == seq, "nothing was sent"
    expect(page.locator("#model-version")).to_have_text("v1")


@pytest.mark.parametrize("server_config", [{"TEACHES_PER_MINUTE_PER_CONNECTION": 1}])
def test_server_errors_show_unobtrusively(live, page):
    open_page(page, live.url)
    mouse_digit(page, "1")
    wait_settled(page)
    page.keyboard.press("1")
    expect(page.locator("#model-version")).to_have_text("v2")
    mouse_digit(page, "1")
    wait_settled(page)
    page.keyboard.press("1")  # over this server's limit of one teach a minute
    notice = page.locator("#notice")
    expect(notice).to_have_attribute("data-kind", "error")
    expect(notice).to_contain_text("Too many teaches")
    assert "rate_limited" in state(page, "errors")
    # The drawing is kept and drawing still works.
    assert state(page, "strokes") == 1
    expect(page.locator("#ink")).not_to_have_class(re.compile("is-locked"))
    expect(page.locator("#model-version")).to_have_text("v2")


def test_undo_and_clear(live, page):
    open_page(page, live.url)
    box = pad_box(page)
    mouse_stroke(page, to_page(box, [(0.3, 0.3), (0.7, 0.3)]))
    mouse_stroke(page, to_page(box, [(0.5, 0.2), (0.5, 0.8)]))
    wait_settled(page)
    assert state(page, "strokes") == 2
    both_server, both_pad = state(page, "last.inkPixels"), ink_pixels(page)

    # Ctrl+Z removes the last stroke, here and on the server.
    page.keyboard.press("Control+z")
    wait_settled(page)
    assert state(page, "strokes") == 1
    wait_ink(page, f"n > 0 && n < {both_pad}")
    assert 0 < state(page, "last.inkPixels") < both_server
    expect(page.locator("#verdict")).not_to_have_attribute("data-state", "empty")

    # The Undo button removes the other one: back to the invitation.
    page.get_by_role("button", name="Undo").click()
    wait_settled(page)
    assert state(page, "strokes") == 0
    expect(page.locator("#verdict")).to_have_attribute("data-state", "empty")
    expect(page.locator("#sheet")).to_have_attribute("data-empty", "true")
    wait_ink(page, "n === 0")

    # Clear with the button, and with Esc.
    for clear in (
        lambda: page.get_by_role("button", name="Clear").click(),
        lambda: page.keyboard.press("Escape"),
    ):
        mouse_stroke(page, to_page(box, [(0.5, 0.2), (0.5, 0.8)]))
        wait_settled(page)
        expect(page.locator("#verdict")).not_to_have_attribute("data-state", "empty")
        clear()
        wait_settled(page)
        assert state(page, "strokes") == 0
        expect(page.locator("#verdict")).to_have_attribute("data-state", "empty")
        expect(page.locator("#verdict-digit")).to_have_text("")
        wait_ink(page, "n === 0")


def test_restart_under_an_open_page_reconnects_and_predicts_again(live, page):
    open_page(page, live.url)
    mouse_digit(page, "7")
    wait_settled(page)
    digit = page.locator("#verdict-digit").inner_text()
    assert digit.isdigit()
    shown = state(page, "shown")

    live.stop()
    page.wait_for_function("() => window.__inkling.connection !== 'open'")
    expect(page.locator("#status-text")).to_have_text(re.compile("^(Reconnect|Connect)"))
    live.start(live.port)  # a new server on the same port and instance folder

    page.wait_for_function(
        "() => window.__inkling.hellos >= 2 && window.__inkling.connection === 'open'",
        timeout=30_000,
    )
    expect(page.locator("#status-text")).to_have_text("Live")
    # The drawing survived: it was resent with `ink` and read again, the same way.
    page.wait_for_function("n => window.__inkling.shown > n", arg=shown)
    wait_settled(page)
    assert state(page, "strokes") == 1
    expect(page.locator("#verdict-digit")).to_have_text(digit)
    # And new ink is read by the new server.
    shown = state(page, "shown")
    box = pad_box(page)
    mouse_stroke(page, to_page(box, [(0.35, 0.55), (0.6, 0.55)]))
    wait_settled(page)
    assert state(page, "shown") > shown
    assert state(page, "strokes") == 2


@pytest.mark.parametrize("server_config", [{"MAX_POINTS_PER_STROKE": 30}])
def test_ink_beyond_the_servers_limits_is_not_drawn(live, page):
    open_page(page, live.url)
    box = pad_box(page)
    points = to_page(box, [(0.3, 0.2), (0.7, 0.2), (0.3, 0.8)], step_px=8)
    assert len(points) > 60
    mouse_stroke(page, points)
    wait_settled(page)
    expect(page.locator("#notice")).to_contain_text("as much ink as one drawing can hold")
    assert state(page, "errors") == [], "the server refused nothing: the page kept within limits"
    assert page.evaluate("window.__inkling.strokes") == 1
    assert state(page, "last.inkPixels") > 0


def test_not_sure_and_close_calls_follow_their_thresholds(live, page):
    open_page(page, live.url)
    threshold = page.evaluate("() => import('/static/config.js').then(m => m.NOT_SURE_BELOW)")
    ratio = page.evaluate("() => import('/static/config.js').then(m => m.CLOSE_CALL_RATIO)")
    assert 0 < threshold < 1 and 0 < ratio < 1
    box = pad_box(page)
    # A cross is no digit: a well-calibrated network should hesitate, but whatever it
    # says, the page's state must follow the thresholds.
    mouse_stroke(page, to_page(box, [(0.3, 0.3), (0.7, 0.7)]))
    mouse_stroke(page, to_page(box, [(0.7, 0.3), (0.3, 0.7)]))
    wait_settled(page)
    last = state(page, "last")
    confidence, digit = last["confidence"], last["digit"]
    percent = int(confidence * 100 + 0.5)  # as JavaScript's Math.round
    rival = max((p, d) for d, p in enumerate(last["probabilities"]) if d != digit)
    verdict = page.locator("#verdict")
    if confidence < threshold:
        expect(verdict).to_have_attribute("data-state", "unsure")
        expect(page.locator("#verdict-digit")).to_have_text("?")
        expect(page.locator("#verdict-text")).to_have_text(f"Not sure · maybe {digit}")
        expect(page.locator(".bar.is-top .bar-pct")).to_have_text(str(percent))
        expect(page.locator("#bars")).to_have_attribute("data-state", "unsure")
        expect(page.locator("#announce")).to_contain_text("Not sure")
    elif rival[0] >= ratio * confidence:
        expect(verdict).to_have_attribute("data-state", "close")
        expect(page.locator("#verdict-text")).to_have_text(f"Close call: {digit} or {rival[1]}")
        expect(page.locator("#announce")).to_contain_text("A close call")
    else:
        expect(verdict).to_have_attribute("data-state", "sure")
        expect(page.locator("#verdict-text")).to_have_text(f"{percent}% sure")
        expect(page.locator("#announce")).to_contain_text("It reads")


def test_several_digits_ask_for_one_at_a_time(live, page):
    open_page(page, live.url)
    box = pad_box(page)
    # a 1 on the left, a 7 on the right, far apart: two groups of ink
    mouse_stroke(page, to_page(box, [(0.2, 0.25), (0.2, 0.75)]))
    mouse_stroke(page, to_page(box, [(0.55, 0.25), (0.85, 0.25), (0.65, 0.75)]))
    wait_settled(page)
    assert state(page, "last.several") is True
    expect(page.locator("#verdict")).to_have_attribute("data-state", "unsure")
    expect(page.locator("#verdict-digit")).to_have_text("?")
    expect(page.locator("#verdict-text")).to_have_text("Several digits? One at a time")
    expect(page.locator("#announce")).to_contain_text("one digit at a time")
