"""Fixtures for the browser tests: Debian's Chromium through Playwright, and the real
app on a live server with a fresh instance folder.

Without Playwright or Chromium these tests skip with the reason; with
``INKLING_REQUIRE_BROWSER=1`` (as in .ci/run) they fail instead, so a CI run cannot
pass by silently testing nothing.  No pytest-playwright: the few fixtures needed are
here, and Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil

import pytest
from browser_harness import CHROMIUM, launch_chromium
from support.servers import LiveServer

from network import pretrained

REQUIRE_BROWSER = os.environ.get("INKLING_REQUIRE_BROWSER") == "1"


def unavailable(reason: str):
    """Skip, or fail when a browser is required."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (and INKLING_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright():
    """A running Playwright driver."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None:
        unavailable("the playwright Python package is not installed")
    if shutil.which(CHROMIUM) is None:
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect

    # Generous: the machine may be busy training, and a first teach warms caches.
    expect.set_options(timeout=20_000)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright):
    """Headless Chromium, shared by all tests (each test gets its own context)."""
    from playwright.sync_api import Error

    try:
        chromium = launch_chromium(playwright)
    except Error as error:
        unavailable(f"Chromium at {CHROMIUM} did not start: {error.message.splitlines()[0]}")
    yield chromium
    chromium.close()


@pytest.fixture
def server_config():
    """create_app overrides for this test's server (override per test or module)."""
    return {}


@pytest.fixture(scope="session")
def initial_model():
    """create_app overrides for the model new instances start from.

    Without the shipped weights, instances start from an untrained stand-in
    (``support.servers.test_model_path``) with the poisoning guard switched off: its
    held-out accuracy is noise, and these tests are about the page, not the guard.
    """
    return {} if pretrained.CNN.exists() else {"GUARD_DROP": 100.0, "GUARD_STEP": 100.0}


@pytest.fixture
def live(browser, tmp_path, initial_model, server_config):
    """The real app on a live server, with a fresh instance folder in tmp_path.

    It asks for the browser first, so that without one the test skips before a
    server starts.
    """
    server = LiveServer(instance_path=tmp_path / "instance",
                        config={**initial_model, **server_config}).start()
    yield server
    server.stop()


class PageWatch:
    """What went wrong on a page: script errors, CSP refusals and failed requests."""

    def __init__(self, page):
        self.script_errors = []
        self.csp_refusals = []
        self.failed_requests = []
        page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        page.on("console", self._console)
        page.on("response", self._response)

    def __repr__(self) -> str:
        return (
            f"PageWatch(script_errors={self.script_errors}, "
            f"csp_refusals={self.csp_refusals}, failed_requests={self.failed_requests})"
        )

    def _console(self, message):
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_refusals.append(message.text)

    def _response(self, response):
        if response.status >= 400 and not response.url.split("?")[0].endswith("/ws"):
            self.failed_requests.append(f"{response.status} {response.url}")

    def assert_clean(self):
        assert self.script_errors == [], "the page threw"
        assert self.csp_refusals == [], "the page broke its Content-Security-Policy"
        assert self.failed_requests == [], "a request of the page failed"


def _new_page(browser, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page, PageWatch(page)


@pytest.fixture
def make_page(browser):
    """Open pages in fresh contexts; each is checked for errors when the test ends.

    ``make_page(**context_options)`` returns a Playwright page (viewport 1280x900
    unless given).
    """
    opened = []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context, page, watch = _new_page(browser, **options)
        opened.append((context, watch))
        return page

    yield make
    for context, _ in opened:
        context.close()
    for _, watch in opened:
        watch.assert_clean()


@pytest.fixture
def page(make_page):
    """One desktop-sized page."""
    return make_page()
