"""Targets for the kit's operational promises (issue 22): a 429 without Retry-After, a page that
is not this API, a target that answers late. Behaviours added to hostile_servers' HostileServer,
so each runs on 127.0.0.1 the same way:

    python tests/conformance/ops_servers.py bare-429 --port 8702
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_servers import BEHAVIOURS, HostileServer, _envelope, answer, not_found

__all__ = ["OPS_BEHAVIOURS", "HostileServer"]

LOGIN_PAGE = (
    b"<!doctype html><html><head><title>Sign in</title></head><body>"
    + b"<form method=post action=/login><input name=user><input name=password type=password></form>" * 200
    + b"</body></html>"
)


def bare_429(sock, request, opts):
    """429 in the envelope to everything, without the Retry-After the page promises."""
    body, headers = _envelope(429, "RATE_LIMITED", "Per-key write budget exhausted. Honor Retry-After.")
    sock.sendall(answer(429, body, headers))


def sometimes_bare_429(sock, request, opts):
    """A well-formed 404, and every `every`-th request a 429 without Retry-After: the violation
    comes at some point of the run, whatever the run was doing then."""
    counter = opts.setdefault("_counter", itertools.count(1))
    if next(counter) % opts.get("every", 3) == 0:
        bare_429(sock, request, opts)
    else:
        sock.sendall(not_found(request))


def html(sock, request, opts):
    """A login page (about 20 KB of HTML) to every request: a base URL that is not this API."""
    sock.sendall(answer(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"}))


def late_404(sock, request, opts):
    """A well-formed 404 after `delay` seconds; `peak`: the most requests it held at once."""
    lock = opts.setdefault("_lock", threading.Lock())
    with lock:
        opts["active"] = opts.get("active", 0) + 1
        opts["peak"] = max(opts.get("peak", 0), opts["active"])
    try:
        time.sleep(opts.get("delay", 0.4))
        sock.sendall(not_found(request))
    finally:
        with lock:
            opts["active"] -= 1


OPS_BEHAVIOURS = {"bare-429": bare_429, "sometimes-bare-429": sometimes_bare_429, "html": html, "late-404": late_404}
BEHAVIOURS.update(OPS_BEHAVIOURS)


def main() -> None:
    import hostile_servers

    hostile_servers.main()


if __name__ == "__main__":
    main()
