"""The WebSocket handshake's checks: the teach token, the page's origin, error bodies.

Pure helpers over the request's headers; ``webapp.live`` runs them before a socket is
accepted (and ``Session`` checks a teach message's own token with ``tokens_match``).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import request


def tokens_match(given: str, expected: str) -> bool:
    """Compare tokens in constant time."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def handshake_token() -> str | None:
    """Return the teach token of the handshake: ``Authorization: Bearer`` or ``?token=``."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token") or None


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser page), the same host, or one listed (``*``: any) may connect."""
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host.lower()


def json_error(status: int, code: str, message: str):
    """Return an HTTP error response of the WebSocket's error shape."""
    return {"type": "error", "seq": None, "code": code, "message": message}, status
