"""Who may teach everyone's model directly: the owner, a teach-token holder, or the public.

``INKLING_TRUST`` says it for the whole server (``local`` or ``public``); unset, it is
decided for each connection at its handshake:

- ``local`` (the owner's own machine): the server listens on loopback addresses only, no
  proxy is trusted (``INKLING_TRUST_PROXY`` unset), and the request itself comes from a
  loopback address, names a loopback host and carries no proxy header (``Forwarded``,
  ``X-Forwarded-*``, ``X-Real-IP``).  A reverse proxy set up on the same machine without
  ``INKLING_TRUST_PROXY`` adds such headers, or a public ``Host``, and so is ``public``.
- ``public`` otherwise.

A teach that carries the server's teach token (``INKLING_TEACH_TOKEN``) is trusted in
either mode: a classroom behind one NAT is one network prefix, so agreement across
prefixes could never happen there.

What each level means for the shared model is ``webapp.policy``'s to decide: the owner
and token holders skip agreement (the guard still checks every step; a token holder has
a budget), the public's corrections wait for an operator's approval (or, if so set,
for agreement across networks).
"""

from __future__ import annotations

import ipaddress
import os

MODES = ("local", "public")

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                 "X-Real-IP")

LISTENS_ON_ENV = "INKLING_LISTENS_ON"
"""Set by gunicorn.conf.py in the master (before workers fork): the addresses it binds,
comma-separated, so the app knows whether it is reachable beyond this machine."""

EXPLAIN = {
    "direct": {
        "local": "This server runs on your own computer: your corrections teach everyone's "
                 "model at once (each step is still checked against held-out digits).",
        "token": "You teach with the server's teach token: your corrections teach "
                 "everyone's model at once (each step is still checked against held-out "
                 "digits).",
    },
    "approval": "This is a public server: your corrections teach your own model at once; "
                "everyone's model learns a correction once the server's operator approves "
                "it.",
    "agreement": "This is a public server: your corrections teach your own model at once; "
                 "everyone's model learns a correction once people on other networks teach "
                 "such drawings too.",
}
"""What each way of teaching everyone's model means, in words for the page."""


def teach_terms(mode: str, token_holder: bool, agree_sources: int) -> dict:
    """``hello.teach``'s ``trust`` (the connection's mode), ``shared`` (``direct``: the
    owner or a token holder; else ``approval`` or ``agreement``, as the server is set) and
    ``says`` (the same in a sentence)."""
    trust = teach_trust(mode, token_holder)
    if trust != "public":
        return {"trust": mode, "shared": "direct",
                "says": EXPLAIN["direct"]["token" if trust == "token" else "local"]}
    shared = "approval" if agree_sources == 0 else "agreement"
    return {"trust": mode, "shared": shared, "says": EXPLAIN[shared]}


def is_loopback_host(host: str) -> bool:
    """Whether a Host header (with or without a port) names this machine."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        name = host[1:].partition("]")[0]
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return _loopback_address(name)


def _loopback_address(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def binds_loopback_only(listens_on: str | None) -> bool:
    """Whether every address of a comma-separated bind list is a loopback one (None:
    not started by gunicorn.conf.py, e.g. a test's server on 127.0.0.1)."""
    if listens_on is None:
        return True
    for bind in filter(None, (b.strip() for b in listens_on.split(","))):
        if bind.startswith(("unix:", "fd://")):
            return False  # a socket file or an inherited socket: most likely a proxy's
        if not is_loopback_host(bind):
            return False
    return True


def connection_trust(config, remote_addr: str | None, host: str, headers) -> str:
    """The trust mode of one connection: ``local`` or ``public`` (see the module doc).

    ``config`` holds ``TRUST`` (None, ``local`` or ``public``) and ``TRUST_PROXY``.
    """
    if config["TRUST"] is not None:
        return config["TRUST"]
    if config["TRUST_PROXY"] or not binds_loopback_only(os.environ.get(LISTENS_ON_ENV)):
        return "public"
    if any(name in headers for name in PROXY_HEADERS):
        return "public"
    if not (_loopback_address(remote_addr or "") and is_loopback_host(host)):
        return "public"
    return "local"


def teach_trust(mode: str, token_holder: bool) -> str:
    """The trust of one teach: ``owner`` (local mode), ``token`` or ``public``."""
    if mode == "local":
        return "owner"
    return "token" if token_holder else "public"
