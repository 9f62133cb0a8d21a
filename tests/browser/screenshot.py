"""Save a screenshot of the page with a drawn digit: ``python tests/browser/screenshot.py``.

It serves the real app from a throwaway instance folder, teaches it two drawings (so
the accuracy chart has a history), draws a digit with the mouse in Debian's Chromium,
waits until the answer has settled and every animation has finished, and writes the
PNG (docs/screenshot.png by default).  ``--width 360`` shows the phone layout.
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
    wait_settled,
)
from support.servers import LiveServer  # noqa: E402

from network import pretrained  # noqa: E402

QUIET_JS = """() => document.getAnimations().length === 0
  && document.getElementById('notice').dataset.kind === 'none'"""
"""True when no transition or animation runs and no notice is showing."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "screenshot.png",
        help="where to write the PNG (default: docs/screenshot.png)",
    )
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS px")
    parser.add_argument("--height", type=int, default=860, help="viewport height in CSS px")
    parser.add_argument("--scale", type=float, default=1.0, help="device pixel ratio")
    parser.add_argument(
        "--digit", default="3", choices=["0", "1", "2", "3", "7"], help="the digit to draw last"
    )
    parser.add_argument(
        "--full-page",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="capture the whole page, not just the viewport (default: yes)",
    )
    args = parser.parse_args(argv)

    if not pretrained.CNN.exists():
        print(f"error: the trained model {pretrained.CNN} is missing", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = LiveServer(instance_path=Path(folder) / "instance",
                            config={"INITIAL_MODEL": str(pretrained.CNN)})
        server.start()
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(
                viewport={"width": args.width, "height": args.height},
                device_scale_factor=args.scale,
                is_mobile=args.width < 600,
                has_touch=args.width < 600,
            )
            open_page(page, server.url)
            for digit in ("1", "7"):
                mouse_digit(page, digit)
                wait_settled(page)
                version = page.evaluate("window.__inkling.modelVersion")
                page.keyboard.press(digit)
                page.wait_for_function("v => window.__inkling.modelVersion > v", arg=version)
                wait_settled(page)
            mouse_digit(page, args.digit)
            wait_settled(page)
            page.mouse.move(0, 0)  # no hover highlight in the picture
            page.wait_for_function(QUIET_JS, timeout=20_000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=args.full_page)
            answer = page.locator("#verdict-text").inner_text()
            read = page.locator("#verdict-digit").inner_text()
        finally:
            browser.close()
            server.stop()
    print(
        f"wrote {args.out}: {args.width}x{args.height} at {args.scale}x; "
        f"drew a {args.digit}, the page reads {read} ({answer})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
