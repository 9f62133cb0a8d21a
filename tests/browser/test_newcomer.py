"""What the page says to a newcomer (issue 24), in a real Chromium against the real app,
on a desktop and on a phone: a teach learned for the writer alone reads as the success it
is and is counted where they can see it; the shared figures say what they cover; a close
call and a "not sure" look like what they are; the teach buttons say they cannot teach
while the server is away; the page never scrolls by itself after a teach.

Conditions are polled (``poll``) or waited on with Playwright's expect, never slept on.
Where a test needs an answer the real model does not give on demand (a close call, a
writer with many drawings), the real server's messages are rewritten on their way to the
page (``rewrite_messages``), in the shape docs/protocol.md gives them.
"""

from __future__ import annotations

import re

import pytest
from browser_harness import (
    DESKTOP,
    PHONE,
    expect,
    mouse_digit,
    mouse_stroke,
    open_page,
    pad_box,
    poll,
    rewrite_messages,
    state,
    to_page,
    trained_model,
    wait_settled,
)

pytestmark = pytest.mark.browser

SCREENS = pytest.mark.parametrize("screen", [PHONE, DESKTOP],
                                  ids=["phone-390x844", "desktop-1280x800"])

SUCCESS = "rgb(9, 94, 81)"  # --accent-strong: the colour of "Learned"
SCROLL_LOG_JS = """
window.__scrolls = [];
addEventListener('scroll', () => window.__scrolls.push(window.scrollY));
"""
"""Init script: every scroll of the page, as it happens."""
QUIET_JS = "() => document.getAnimations().length === 0"


def colour(page, selector):
    return page.evaluate("s => getComputedStyle(document.querySelector(s)).color", selector)


def teach(page, drawn, label):
    """Draw ``drawn``, teach it as ``label`` with its button, wait for `taught`."""
    taught = state(page, "taught")
    mouse_digit(page, drawn)
    wait_settled(page)
    page.locator(f'.digit[data-label="{label}"]').click()
    poll(page, "n => window.__inkling.taught > n", taught, what="the taught message")
    return state(page, "lastTaught")


# --- items 1, 2 and 7: a teach, where it counts, and a page that stays put ----------------


@trained_model
@SCREENS
@pytest.mark.parametrize("server_config", [{"TRUST": "public"}])
def test_a_teach_is_a_success_counted_where_it_went_and_the_page_stays_put(live, make_page,
                                                                           screen):
    page = make_page(**screen)
    page.add_init_script(SCROLL_LOG_JS)
    open_page(page, live.url)
    expect(page.locator("#samples")).to_have_text("0")
    expect(page.locator("#acc-taught")).to_have_text("none yet")
    # The shared figures say whose they are and what they count.
    expect(page.locator(".stats .stats-group").first).to_contain_text("Everyone’s model")
    expect(page.locator(".stats dt").nth(1)).to_have_text("Drawings it learned")
    expect(page.locator(".stats dt").nth(2)).to_have_text("Already read right")
    expect(page.locator(".fineprint .approval-only")).to_have_text(
        "One it is not already sure of waits until the operator approves it, "
        "and counts here from then on.")
    expect(page.locator(".fineprint .approval-only")).to_be_visible()
    expect(page.locator(".fineprint .agreement-only")).to_be_hidden()
    pad = pad_box(page)

    # A 1 taught as a 1: everyone's model is sure of it and learns it at once.
    taught = teach(page, "1", 1)
    assert taught["shared"]["status"] == "accepted", taught["shared"]
    expect(page.locator("#result-title")).to_have_text("Learned: a 1")
    expect(page.locator("#samples")).to_have_text("1")
    expect(page.locator("#acc-taught")).to_have_text("100.0%")
    expect(page.locator("#yours-figures")).to_have_text("1 drawing taught")
    expect(page.locator("#result-counted")).to_be_hidden()
    expect(page.locator("#yours-visit")).to_have_text(
        "Taught from this page since you opened it: 1 learned by everyone’s model.")

    # A 7 taught as a 1: everyone's model reads a 7, so it waits for the operator.
    # For the writer it is learned at once: a success, counted in "Yours".
    taught = teach(page, "7", 1)
    assert taught["shared"]["status"] == "pending", taught["shared"]
    assert taught["predicted"] == 7
    result = page.locator("#result")
    expect(result).to_have_attribute("data-outcome", "personal")
    expect(page.locator("#result-title")).to_have_text("Learned for you: a 1")
    assert colour(page, "#result-title") == SUCCESS, "the title reads as the success it is"
    expect(page.locator("#after-digit")).to_have_text("1")
    # No "0% right" under a success: with two drawings, the share says nothing yet.
    expect(page.locator("#writer-info")).to_have_text("2 drawings taught")
    expect(page.locator("#result-reason")).to_have_text(taught["shared"]["reason"])
    expect(page.locator("#result-counted")).to_have_text(
        "It counts in “Yours” now, and in everyone’s figures once the operator approves it.")
    expect(page.locator("#teach-announce")).to_contain_text("It counts in “Yours” now")
    # Counted in "Yours" (highlighted as it changes), not in everyone's figures.
    expect(page.locator("#yours-figures")).to_have_text("2 drawings taught")
    expect(page.locator("#yours-share")).to_be_hidden()
    expect(page.locator("#yours-visit")).to_have_text(
        "Taught from this page since you opened it: 1 learned by everyone’s model, "
        "1 waiting for others to agree.")
    expect(page.locator("#samples")).to_have_text("1")

    # Item 7: nothing moved the page. Every animation the teach started has ended (the
    # learned digit's, the figures' highlight), so a scroll it started would show by now.
    poll(page, QUIET_JS, what="the teach's animations to end")
    assert page.evaluate("window.__scrolls") == [], "the page scrolled by itself"
    assert page.evaluate("window.scrollY") == 0
    assert pad_box(page) == pad
    # The result's head is on screen under the buttons; the rest may be a scroll away.
    head = page.locator("#result .result-head").bounding_box()
    assert head["y"] >= pad["y"] + pad["height"]
    assert head["y"] + head["height"] <= screen["viewport"]["height"]


@SCREENS
def test_the_writers_share_read_right_shows_from_ten_drawings_and_says_what_it_is(
        live, make_page, screen):
    writer = {"samples": 9, "accuracy": 0.0}

    def as_writer(msg):
        if msg.get("type") != "taught":
            return msg
        return {**msg, "writer": dict(writer), "shared": {"status": "pending", "reason": None}}

    page = make_page(**screen)
    rewrite_messages(page, as_writer)
    open_page(page, live.url)
    share = page.locator("#yours-share")

    teach(page, "1", 7)
    expect(page.locator("#yours-figures")).to_have_text("9 drawings taught")
    expect(share).to_be_hidden()
    expect(page.locator("#writer-info")).to_have_text("9 drawings taught")

    writer.update(samples=10, accuracy=0.3)
    teach(page, "7", 1)
    expect(page.locator("#yours-figures")).to_have_text("10 drawings taught")
    expect(share).to_be_visible()
    expect(share).to_have_text("Before you taught them, it read 30% of them right.")
    # The result under the buttons counts; the share is the panel's, with its words.
    expect(page.locator("#writer-info")).to_have_text("10 drawings taught")

    writer.update(samples=240, accuracy=0.62)
    teach(page, "1", 7)
    expect(share).to_have_text("Before you taught them, it read 62% of your last 100 right.")


@trained_model
@SCREENS
@pytest.mark.parametrize("server_config", [{"TRUST": "local"}])
def test_on_your_own_computer_a_correction_is_learned_by_everyone_and_counted_there(
        live, make_page, screen):
    page = make_page(**screen)
    open_page(page, live.url)
    hello_teach = page.evaluate("() => window.__inkling.helloTeach")
    assert hello_teach["shared"] == "direct", hello_teach
    # The hint and the fine print say what this server does, not what a public one does.
    expect(page.locator("#hint-writer")).to_have_text(hello_teach["says"])
    expect(page.locator(".fineprint .agreement-only")).to_be_hidden()
    expect(page.locator(".fineprint .approval-only")).to_be_hidden()
    expect(page.locator(".fineprint")).to_contain_text("Drawings it learned")

    taught = teach(page, "7", 1)
    assert taught["predicted"] == 7 and taught["shared"]["status"] == "accepted", taught
    expect(page.locator("#result")).to_have_attribute("data-outcome", "taught")
    expect(page.locator("#result-title")).to_have_text("Learned: a 1")
    assert colour(page, "#result-title") == SUCCESS
    expect(page.locator("#result-counted")).to_be_hidden()
    expect(page.locator("#heldout-change")).to_be_visible()
    # Counted in everyone's figures and in "Yours".
    expect(page.locator("#samples")).to_have_text("1")
    expect(page.locator("#acc-taught")).to_have_text("0.0%")  # it read a 7 before
    expect(page.locator("#writer-info")).to_have_text("1 drawing taught")
    expect(page.locator("#yours-figures")).to_have_text("1 drawing taught")
    expect(page.locator("#yours-visit")).to_have_text(
        "Taught from this page since you opened it: 1 learned by everyone’s model.")


# --- items 3 and 4: a close call, and "not sure" ------------------------------------------


def answer_as(probabilities):
    """Rewrite every prediction with ink to these probabilities (a list the test may change)."""

    def change(msg):
        if msg.get("type") != "prediction" or msg.get("digit") is None:
            return msg
        p = list(probabilities)
        top = max(range(10), key=p.__getitem__)
        return {**msg, "probabilities": p, "digit": top, "confidence": p[top], "several": False}

    return change


def spread(**digits):
    """Ten probabilities: the given ones (d3=0.51), the rest sharing what is left."""
    given = {int(k[1:]): v for k, v in digits.items()}
    rest = (1 - sum(given.values())) / (10 - len(given))
    return [given.get(d, rest) for d in range(10)]


@SCREENS
def test_a_close_call_and_not_sure_look_like_what_they_are(live, make_page, screen):
    probabilities = spread(d3=0.9)
    page = make_page(**screen)
    rewrite_messages(page, answer_as(probabilities))
    open_page(page, live.url)
    verdict, digit, text = (page.locator(s) for s in ("#verdict", "#verdict-digit",
                                                      "#verdict-text"))

    def show(**digits):
        probabilities[:] = spread(**digits)
        page.keyboard.press("Escape")
        wait_settled(page)
        mouse_digit(page, "3")
        wait_settled(page)

    def fits(selector):
        return page.evaluate("s => { const e = document.querySelector(s);"
                             " return e.scrollWidth <= e.clientWidth; }", selector)

    # Sure: the digit in ink, "90% sure" in green.
    show(d3=0.9)
    expect(verdict).to_have_attribute("data-state", "sure")
    expect(digit).to_have_text("3")
    expect(text).to_have_text("90% sure")
    sure = colour(page, "#verdict-digit"), colour(page, "#verdict-text")
    assert page.locator(".bar.is-rival").count() == 0

    # 51% against 43%: a close call, in other colours and other words, the rival named.
    show(d3=0.51, d5=0.43)
    expect(verdict).to_have_attribute("data-state", "close")
    expect(digit).to_have_text("3")
    expect(digit).to_have_attribute("data-rival", "5")
    expect(text).to_have_text("Close call: 3 or 5")
    assert fits("#verdict-text"), "the words are not cut off"
    close = colour(page, "#verdict-digit"), colour(page, "#verdict-text")
    assert close[0] != sure[0] and close[1] != sure[1], (sure, close)
    rival_mark = page.evaluate("getComputedStyle(document.getElementById('verdict-digit'),"
                               " '::after').content")
    assert "or" in rival_mark, rival_mark
    expect(page.locator("#bars")).to_have_attribute("data-state", "close")
    expect(page.locator(".bar.is-top .bar-label")).to_have_text("3")
    expect(page.locator(".bar.is-rival .bar-label")).to_have_text("5")
    expect(page.locator("#announce")).to_have_text("A close call: a 3 at 51%, or a 5 at 43%.")

    # 70% against 25% is an answer, not a close call.
    show(d3=0.7, d5=0.25)
    expect(verdict).to_have_attribute("data-state", "sure")
    expect(text).to_have_text("70% sure")

    # Not sure (a letter, a spiral): no big digit for the eye to read; the words name
    # the best guess.
    show(d4=0.25)
    expect(verdict).to_have_attribute("data-state", "unsure")
    expect(digit).to_have_text("?")
    expect(text).to_have_text("Not sure · maybe 4")
    expect(page.locator(".bar.is-top .bar-pct")).to_have_text("25")
    assert fits("#verdict-text"), "the words are not cut off"
    assert colour(page, "#verdict-digit") != sure[0]
    expect(page.locator("#announce")).to_have_text("Not sure. Maybe a 4, at 25%.")


# --- item 5: the teach buttons while the server is away -----------------------------------


@SCREENS
def test_the_teach_buttons_say_they_cannot_teach_while_the_server_is_away(live, make_page,
                                                                         screen):
    page = make_page(**screen)
    open_page(page, live.url)
    buttons = page.locator(".digit")
    one = page.locator('.digit[data-label="1"]')
    mouse_digit(page, "1")
    wait_settled(page)
    for d in range(10):
        expect(buttons.nth(d)).to_have_attribute("aria-disabled", "false")
    ready = page.evaluate("getComputedStyle(document.querySelector('.digit')).borderStyle")
    assert ready == "solid"

    live.stop()
    poll(page, "() => window.__inkling.connection !== 'open'", what="the page to notice")
    expect(page.locator("#status-text")).to_have_text(re.compile("^(Reconnect|Connect)"))
    # Unavailable, to the eye and to assistive technology, and the slot says what that means.
    for d in range(10):
        expect(buttons.nth(d)).to_have_attribute("aria-disabled", "true")
    assert page.evaluate("getComputedStyle(document.querySelector('.digit')).borderStyle") \
        == "dashed"
    notice = page.locator("#notice")
    expect(notice).to_have_text("Teaching is paused while the page reconnects. Your drawing "
                                "is kept: teach it once the status says Live.")
    # Pressed anyway: not taught, and said so.
    sent = state(page, "teachesSent")
    one.click(force=True)  # Playwright waits for enabled buttons; a person need not
    expect(notice).to_have_text("Not taught: the page is not connected. Your drawing is kept: "
                                "teach it once the status says Live.")
    expect(notice).to_have_attribute("data-kind", "error")
    assert state(page, "teachesSent") == sent
    assert state(page, "strokes") == 1
    # A stroke drawn meanwhile takes the message away while the pen is down; at pen-up
    # the greyed buttons are explained again.
    mouse_stroke(page, to_page(pad_box(page), [(0.3, 0.9), (0.7, 0.9)]))
    expect(notice).to_contain_text("Teaching is paused while the page reconnects.")
    assert state(page, "strokes") == 2

    live.start(live.port)
    poll(page, "() => window.__inkling.hellos >= 2 && window.__inkling.connection === 'open'",
         timeout_ms=30_000, what="the page to reconnect")
    for d in range(10):
        expect(buttons.nth(d)).to_have_attribute("aria-disabled", "false")
    # Ready again: pressing teaches the kept drawing.
    one.click()
    poll(page, "() => window.__inkling.taught === 1", what="the taught message")
    expect(page.locator("#result-title")).to_contain_text("a 1")


def test_the_paused_notice_goes_when_the_server_is_back(live, page):
    open_page(page, live.url)
    live.stop()
    poll(page, "() => window.__inkling.connection !== 'open'", what="the page to notice")
    expect(page.locator("#notice")).to_contain_text("Teaching is paused")
    live.start(live.port)
    poll(page, "() => window.__inkling.hellos >= 2 && window.__inkling.connection === 'open'",
         timeout_ms=30_000, what="the page to reconnect")
    poll(page, "() => window.__inkling.feedback === 'hint'", what="the hint to come back")
    expect(page.locator("#notice")).to_be_hidden()
