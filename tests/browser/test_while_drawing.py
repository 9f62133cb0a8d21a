"""While the pen is down, in a real Chromium against the real app: the page says what the
network knows of unfinished ink.  A 3 drawn in one stroke, the way people write it (the
top arc first), is not announced as some other digit while only its top arc is there:
the page asks to keep drawing; when the 3 is finished it says 3.

Needs the shipped CNN (its confidence on unfinished ink is what is tested).  Conditions
are polled, never slept on.
"""

from __future__ import annotations

import pytest
from browser_harness import (
    DIGITS,
    expect,
    mouse_stroke,
    open_page,
    pad_box,
    poll,
    to_page,
    trained_model,
    wait_settled,
)

pytestmark = [pytest.mark.browser, trained_model]

ANSWERED_JS = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(
  () => done(window.__inkling.answeredSeq >= window.__inkling.seq))))"""
"""True once the points drawn so far were sent (on an animation frame) and answered."""


def test_a_three_is_unsure_while_only_its_top_arc_is_drawn_and_a_three_at_the_end(
        live, make_page):
    page = make_page()
    open_page(page, live.url)
    box = pad_box(page)
    path = DIGITS["3"][0]
    points = to_page(box, path)
    # where the top arc ends and the lower one begins: the 3's waist, (0.47, 0.50)
    waist = (box["x"] + 0.47 * box["width"], box["y"] + 0.50 * box["height"])
    k = min(range(len(points)), key=lambda i: (points[i][0] - waist[0]) ** 2
            + (points[i][1] - waist[1]) ** 2)
    assert 0.3 * len(points) < k < 0.7 * len(points)
    seen = {}

    def midway(i):
        if i != k:
            return
        poll(page, ANSWERED_JS, what="the answer to the top arc")
        seen["state"] = page.locator("#verdict").get_attribute("data-state")
        seen["growing"] = page.locator("#verdict").get_attribute("data-growing")
        seen["text"] = page.locator("#verdict-text").inner_text()
        seen["digit"] = page.locator("#verdict-digit").inner_text()

    mouse_stroke(page, points, midway)
    assert seen["state"] == "unsure", seen  # no digit announced from half a 3
    assert seen["growing"] == "true" and seen["text"].startswith("Keep drawing"), seen
    assert seen["digit"] == "?"
    wait_settled(page)
    expect(page.locator("#verdict-digit")).to_have_text("3")
    assert page.locator("#verdict").get_attribute("data-state") in ("sure", "close")
