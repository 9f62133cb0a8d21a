"""A teach's id, in a real Chromium against the real app: the page sends a random id with
every teach, and when the connection drops before the answer it reconnects, sends the
ink and the same id again, and the server answers the teach it already saved instead of
learning it twice (docs/protocol.md, ``teach``'s ``id``).

The drop is made by the test: the page's /ws is routed through it (Playwright's
WebSocket routing), and the first ``taught`` answer is withheld and the page's socket
closed, as a network that fails at that moment would.  Conditions are polled, never
slept on.
"""

from __future__ import annotations

import json
import re

import pytest
from browser_harness import mouse_digit, open_page, poll, state, wait_settled

pytestmark = pytest.mark.browser


def test_a_teach_cut_off_by_a_dropped_connection_is_asked_again_with_its_id(live,
                                                                             make_page):
    page = make_page()
    sent_teaches = []  # every teach the page sent, on any connection
    dropped = []

    def handler(ws):
        server = ws.connect_to_server()

        def from_page(message):
            parsed = json.loads(message)
            if parsed.get("type") == "teach":
                sent_teaches.append(parsed)
            server.send(message)

        def from_server(message):
            parsed = json.loads(message)
            if parsed.get("type") == "taught" and not dropped:
                dropped.append(parsed)  # the answer never reaches the page ...
                ws.close(code=1001, reason="network trouble")
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws(\?|$)"), handler)
    open_page(page, live.url)
    hub = live.runtime.hub
    version = hub.version
    mouse_digit(page, "7")
    wait_settled(page)
    page.locator('.digit[data-label="1"]').click()
    # ... the page reconnects, resends the ink and the same teach, and hears the outcome
    poll(page, "() => window.__inkling.taught >= 1", what="the taught message after reconnecting")
    assert len(dropped) == 1 and len(sent_teaches) == 2
    first, second = sent_teaches
    assert re.fullmatch(r"[0-9a-f]{32}", first["id"]) and second["id"] == first["id"]
    assert first["label"] == second["label"] == 1
    taught = state(page, "lastTaught")
    assert taught["model_version"] == dropped[0]["model_version"]
    assert taught["samples"] == dropped[0]["samples"]
    # learned once: one drawing, one version (the owner's machine: everyone's model learns)
    assert len(hub.store.drawings()) == 1
    assert hub.version == version + 1 == taught["model_version"]
