"""Save screenshots of the page with a drawn digit: ``python tests/browser/screenshot.py``.

It serves the real app from a throwaway instance folder, teaches it two drawings (so
the accuracy chart has a history), draws a digit with the mouse in Debian's Chromium,
waits until the answer has settled and every animation has finished, and writes three
PNGs into docs/:

- ``screenshot.png``: the desktop page (1280 wide, the whole page);
- ``screenshot-inside.png``: the desktop page with "Look inside the network" open, from
  the top to the end of the inside view;
- ``screenshot-phone.png``: a phone held upright (390x844), the screen as it is seen.

``--only NAME`` writes one of them (``page``, ``inside`` or ``phone``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from browser_harness import (  # noqa: E402
    REPO,
    launch_chromium,
    mouse_digit,
    open_page,
    poll,
    wait_settled,
)
from support.servers import LiveServer  # noqa: E402

from network import pretrained  # noqa: E402

QUIET_JS = """() => document.getAnimations().length === 0
  && document.getElementById('notice').dataset.kind === 'none'"""
"""True when no transition or animation runs and no notice is showing."""

DESKTOP = {"viewport": {"width": 1280, "height": 860}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SHOTS = ("page", "inside", "phone")


def teach_history(page):
    """Teach a 1 and a 7, so the accuracy chart has a line."""
    for digit in ("1", "7"):
        mouse_digit(page, digit)
        wait_settled(page)
        version = page.evaluate("window.__inkling.modelVersion")
        page.keyboard.press(digit)
        poll(page, "v => window.__inkling.modelVersion > v", version, what="the new version")
        wait_settled(page)


def draw_and_settle(page, digit):
    """Draw the digit, wait for its answer and for the page to be still."""
    page.evaluate("window.scrollTo(0, 0)")
    poll(page, "() => window.scrollY === 0")
    mouse_digit(page, digit)
    wait_settled(page)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    poll(page, QUIET_JS, what="the page to be still")


def shoot(browser, url, name, digit, out):
    """Make one screenshot; return a line saying what it shows."""
    options = PHONE if name == "phone" else DESKTOP
    context = browser.new_context(**options)
    try:
        page = context.new_page()
        open_page(page, url)
        if name == "page":
            teach_history(page)
        if name == "inside":
            page.locator(".inside-summary").click()
            poll(page, "() => document.getElementById('inside').open")
            poll(page, "() => document.querySelectorAll('#units canvas').length === 15",
                 what="the classic network's pictures")
        draw_and_settle(page, digit)
        if name == "inside":
            poll(page, "() => !window.__inkling.inside.blank", what="the inside view")
            bottom = page.evaluate("document.getElementById('inside').getBoundingClientRect()"
                                   ".bottom + window.scrollY")
            width = options["viewport"]["width"]
            page.screenshot(path=str(out), full_page=True,
                            clip={"x": 0, "y": 0, "width": width, "height": bottom + 12})
        else:
            page.screenshot(path=str(out), full_page=name == "page")
        read = page.locator("#verdict-digit").inner_text()
        answer = page.locator("#verdict-text").inner_text()
    finally:
        context.close()
    size = options["viewport"]
    return (f"wrote {out}: {size['width']}x{size['height']}; "
            f"drew a {digit}, it reads {read} ({answer})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs",
                        help="where to write the PNGs (default: docs/)")
    parser.add_argument("--only", choices=SHOTS, help="write only this screenshot")
    parser.add_argument("--digit", default="3", choices=["0", "1", "2", "3", "7"],
                        help="the digit to draw last")
    args = parser.parse_args(argv)

    if not pretrained.CNN.exists():
        print(f"error: the trained model {pretrained.CNN} is missing", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    files = {"page": "screenshot.png", "inside": "screenshot-inside.png",
             "phone": "screenshot-phone.png"}
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = LiveServer(instance_path=Path(folder) / "instance",
                            config={"INITIAL_MODEL": str(pretrained.CNN)})
        server.start()
        browser = launch_chromium(playwright)
        try:
            for name in [args.only] if args.only else SHOTS:
                print(shoot(browser, server.url, name, args.digit, args.out_dir / files[name]))
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
